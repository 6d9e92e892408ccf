/**
 * Stack frames: parsing (pure) and resolving to source in the worktree (shell: reads files and
 * source maps). Compiled JavaScript frames are mapped back through their source maps, so the
 * agent sees the TypeScript line that threw.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SourceMapConsumer } from 'source-map';

/** One parsed stack frame. */
export interface StackFrame {
  /** Function name, when the frame has one. */
  func?: string | undefined;
  /** File as written in the stack (path or file:// URL). */
  file: string;
  line: number;
  column?: number | undefined;
}

/** A frame resolved to a file in the worktree. */
export interface ResolvedFrame extends StackFrame {
  /** Repository-relative path of the source file. */
  source: string;
  /** Line in that source file (after source maps). */
  sourceLine: number;
  /** True when a source map was used. */
  mapped: boolean;
}

const V8_FRAME = /^\s*at (?:(.+?) \()?(.+?):(\d+)(?::(\d+))?\)?\s*$/;
const PY_FRAME = /^\s*File "(.+?)", line (\d+)(?:, in (.+))?\s*$/;
const GENERIC = /(?:^|\s|\()((?:\/|\.\.?\/|[A-Za-z]:\\)[^\s:()]+\.[A-Za-z0-9]+):(\d+)(?::(\d+))?/;

/** Parse the frames of a V8 (Node), Python or generic `path:line[:col]` stack trace, top first. */
export function parseStack(stack: string): StackFrame[] {
  const frames: StackFrame[] = [];
  for (const line of stack.split('\n')) {
    let m = V8_FRAME.exec(line);
    if (m) {
      const file = m[2] ?? '';
      if (file === 'native' || file.startsWith('node:') || file === '<anonymous>') continue;
      frames.push({ func: m[1], file, line: Number(m[3]), column: m[4] ? Number(m[4]) : undefined });
      continue;
    }
    m = PY_FRAME.exec(line);
    if (m) {
      frames.push({ file: m[1] ?? '', line: Number(m[2]), func: m[3] });
      continue;
    }
    m = GENERIC.exec(line);
    if (m && !line.trimStart().startsWith('at ')) {
      frames.push({ file: m[1] ?? '', line: Number(m[2]), column: m[3] ? Number(m[3]) : undefined });
    }
  }
  // Python prints the innermost frame last.
  if (/Traceback \(most recent call last\)/.test(stack)) frames.reverse();
  return frames;
}

/** True for frames in dependencies or the runtime, which are not the service's code. */
export function isLibraryFrame(frame: StackFrame): boolean {
  return /(?:^|[\\/])node_modules[\\/]|site-packages|dist-packages|^internal[\\/]|^node:/.test(frame.file);
}

function toPath(file: string): string {
  if (file.startsWith('file://')) {
    try {
      return fileURLToPath(file);
    } catch {
      return file;
    }
  }
  return file;
}

/**
 * Find a file of the service inside the worktree: the path itself when it is inside, else the
 * longest suffix of it that exists there (`/srv/app/releases/7/src/a.ts` → `src/a.ts`).
 */
export function locateInWorktree(file: string, worktree: string): string | undefined {
  const p = toPath(file);
  const abs = path.resolve(worktree, p);
  const rel = path.relative(worktree, abs);
  if (!rel.startsWith('..') && !path.isAbsolute(rel) && isFile(abs)) return rel.split(path.sep).join('/');
  const parts = p.split(/[\\/]+/).filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const candidate = parts.slice(i).join('/');
    if (candidate.split('/')[0] === '.git') continue;
    if (isFile(path.join(worktree, candidate))) return candidate;
  }
  return undefined;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

const mapCache = new Map<string, SourceMapConsumer | null>();

async function consumerFor(jsFile: string): Promise<{ consumer: SourceMapConsumer; mapFile: string } | null> {
  let mapFile: string | undefined;
  try {
    const text = readFileSync(jsFile, 'utf8');
    const m = /\/\/[#@] sourceMappingURL=(\S+)\s*$/m.exec(text.slice(-4096));
    if (m?.[1] && !m[1].startsWith('data:')) mapFile = path.resolve(path.dirname(jsFile), m[1]);
  } catch {
    return null;
  }
  mapFile ??= `${jsFile}.map`;
  if (!existsSync(mapFile)) return null;
  let consumer = mapCache.get(mapFile);
  if (consumer === undefined) {
    try {
      consumer = await new SourceMapConsumer(JSON.parse(readFileSync(mapFile, 'utf8')));
    } catch {
      consumer = null;
    }
    mapCache.set(mapFile, consumer);
  }
  return consumer ? { consumer, mapFile } : null;
}

/**
 * Resolve frames to source files in the worktree, following source maps of compiled JavaScript
 * (`//# sourceMappingURL=` or a `.map` file next to it). Frames that cannot be found are dropped.
 */
export async function resolveFrames(frames: readonly StackFrame[], worktree: string): Promise<ResolvedFrame[]> {
  const out: ResolvedFrame[] = [];
  for (const frame of frames) {
    const located = locateInWorktree(frame.file, worktree);
    if (!located) continue;
    let source = located;
    let sourceLine = frame.line;
    let mapped = false;
    if (/\.(?:c|m)?js$/.test(located)) {
      const found = await consumerFor(path.join(worktree, located));
      if (found) {
        const pos = found.consumer.originalPositionFor({
          line: frame.line,
          column: Math.max(0, (frame.column ?? 1) - 1),
        });
        if (pos.source && pos.line) {
          const original = path.resolve(path.dirname(found.mapFile), pos.source.replace(/^webpack:\/\/\/?/, ''));
          const inTree = locateInWorktree(original, worktree);
          if (inTree) {
            source = inTree;
            sourceLine = pos.line;
            mapped = true;
          }
        }
      }
    }
    out.push({ ...frame, source, sourceLine, mapped });
  }
  return out;
}

/** Lines `[line - before, line + after]` of a text, numbered, the given line marked with `>`. */
export function excerpt(text: string, line: number, before: number, after: number): string {
  const lines = text.split('\n');
  const from = Math.max(1, line - before);
  const to = Math.min(lines.length, line + after);
  const width = String(to).length;
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    out.push(`${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`);
  }
  return out.join('\n');
}
