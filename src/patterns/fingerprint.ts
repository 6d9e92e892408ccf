/**
 * Stack-frame fingerprints, as Sentry groups errors: two errors with the same message belong to
 * the same pattern only if they were thrown from the same code site. The site is the top few
 * in-application frames (library frames under `node_modules` and Node internals are skipped),
 * each normalised to `file:function` so that an edit elsewhere in the file (which moves line
 * numbers) or a different checkout, release folder or fix worktree does not split a pattern.
 * Pure functions, but for the process-wide list of code roots ({@link addCodeRoots}).
 */
import { MINER_DEFAULTS } from '../defaults.js';

/** One parsed stack frame. */
export interface StackFrame {
  /** Function name as printed (`Object.handler`, `<anonymous>`), or '' when absent. */
  fn: string;
  /** File path or URL as printed, '' when absent. */
  file: string;
  line?: number;
  column?: number;
}

/** Options for {@link fingerprintFrames}. */
export interface FingerprintOptions {
  /** How many in-application frames to use. Default `patterns.miner.maxFrames`'s default. */
  maxFrames?: number;
}

const V8_FRAME = /^\s*at\s+(?:(.*?)\s+\()?(.*?)(?::(\d+))?(?::(\d+))?\)?\s*$/;

/**
 * Parse one frame line: V8 (`at fn (file:1:2)`, `at file:1:2`, `at async fn (file:1:2)`) or a
 * bare `file:line:col`. Returns undefined for lines that are not frames (the error message).
 */
export function parseFrame(line: string): StackFrame | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('at ')) {
    const bare = /^(.+?):(\d+)(?::(\d+))?$/.exec(trimmed);
    if (!bare || /\s/.test(bare[1] ?? '')) return undefined;
    return { fn: '', file: bare[1] ?? '', line: Number(bare[2]), column: bare[3] ? Number(bare[3]) : undefined };
  }
  const m = V8_FRAME.exec(trimmed);
  if (!m) return undefined;
  let fn = (m[1] ?? '').replace(/^async\s+/, '').replace(/^new\s+/, '');
  let file = m[2] ?? '';
  // `at fn` with no location: V8 prints `at fn` or `at <anonymous>`.
  if (!m[1] && !m[3] && !file.includes('/') && !file.includes('\\') && !file.startsWith('node:')) {
    fn = file;
    file = '';
  }
  return {
    fn: fn.replace(/ \[as [^\]]+\]$/, ''),
    file,
    line: m[3] ? Number(m[3]) : undefined,
    column: m[4] ? Number(m[4]) : undefined,
  };
}

/** Is a frame from the application (not a dependency, not Node itself)? */
export function isInApp(frame: StackFrame): boolean {
  const f = frame.file;
  if (f === '') return frame.fn !== '' && frame.fn !== '<anonymous>';
  if (f.startsWith('node:') || f.startsWith('internal/') || f === 'native' || f === '<anonymous>') return false;
  if (/[\\/]node_modules[\\/]/.test(f)) return false;
  return true;
}

/**
 * Where Dancer runs the service's code from: repository roots (the checkout, any `cwd`) and
 * containers whose every child folder is a root (the release folders, the fix worktrees).
 */
export interface CodeRoots {
  roots: readonly string[];
  containers: readonly string[];
}

const registered: { roots: string[]; containers: string[] } = { roots: [], containers: [] };

/**
 * Tell the fingerprinting where the service's code lives in this process (additive). A frame
 * under a root, or under a child of a container, is made relative to that root.
 */
export function addCodeRoots(add: Partial<CodeRoots>): void {
  const clean = (d: string) => d.replace(/\\/g, '/').replace(/\/+$/, '');
  for (const r of add.roots ?? []) if (r && !registered.roots.includes(clean(r))) registered.roots.push(clean(r));
  for (const c of add.containers ?? [])
    if (c && !registered.containers.includes(clean(c))) registered.containers.push(clean(c));
}

/** Forget every registered root (tests). */
export function clearCodeRoots(): void {
  registered.roots.length = 0;
  registered.containers.length = 0;
}

/** A folder name Dancer gives a release (a commit or tree id) or a fix worktree. */
const PLACE_SEGMENT = /^(?:[0-9a-f]{40}|[0-9a-f]{64}|(?:fix|rollback)-\d{8}-\d{4}(?:-[a-z0-9]+)*)(?:\.tmp-\d+)?$/;

/**
 * The path relative to the place Dancer runs the code from, or undefined when it is under none:
 * the longest registered root or container child, else the last release or fix-worktree folder.
 */
export function relativeToCodeRoot(file: string, roots: CodeRoots = registered): string | undefined {
  let best: string | undefined;
  const consider = (rest: string) => {
    if (rest !== '' && (best === undefined || rest.length < best.length)) best = rest;
  };
  for (const root of roots.roots) {
    if (file.startsWith(`${root}/`)) consider(file.slice(root.length + 1));
  }
  for (const c of roots.containers) {
    if (!file.startsWith(`${c}/`)) continue;
    const rest = file.slice(c.length + 1);
    const slash = rest.indexOf('/');
    if (slash > 0) consider(rest.slice(slash + 1));
  }
  if (best !== undefined) return best;
  const parts = file.split('/');
  for (let i = parts.length - 2; i >= 0; i--) {
    if (PLACE_SEGMENT.test(parts[i] ?? '')) return parts.slice(i + 1).join('/');
  }
  return undefined;
}

/**
 * Normalise a file path so the same code site gives the same string across machines, checkouts,
 * release folders, fix worktrees and builds: drop `file://`, query strings and hashes, make
 * separators `/`; a path under a place Dancer runs the code from is made relative to that
 * place's root ({@link relativeToCodeRoot}, at any depth, files at the root included); otherwise
 * keep the part from the last `src/`, `lib/`, `dist/`, `app/`, `build/` folder on (else the last
 * two segments). A content hash in a bundled file name is dropped (`main.3f2a9c1b.js` → `main.js`).
 */
export function normalizePath(file: string, roots?: CodeRoots): string {
  let f = file
    .replace(/^file:\/\//, '')
    .replace(/[?#].*$/, '')
    .replace(/\\/g, '/');
  const relative = relativeToCodeRoot(f, roots);
  if (relative !== undefined) f = relative;
  else {
    const parts = f.split('/').filter((p) => p !== '');
    let start = -1;
    for (let i = parts.length - 2; i >= 0; i--) {
      if (/^(src|lib|dist|app|build|out|server)$/.test(parts[i] ?? '')) {
        start = i;
        break;
      }
    }
    f = (start >= 0 ? parts.slice(start) : parts.slice(-2)).join('/');
  }
  return f.replace(/\.[0-9a-f]{8,}(\.m?[jt]sx?)$/, '$1');
}

/** Normalise a function name: drop generated suffixes and anonymous markers. */
export function normalizeFunction(fn: string): string {
  return fn
    .replace(/^Object\./, '')
    .replace(/<anonymous>/g, '')
    .replace(/\$\d+$/, '')
    .trim();
}

/**
 * The in-application frames that identify a code site, normalised, top first (at most
 * `maxFrames`). A frame with no function name keeps its line number, since nothing else tells
 * two anonymous callbacks in one file apart.
 */
export function siteFrames(frames: readonly string[], options: FingerprintOptions = {}): string[] {
  const max = options.maxFrames ?? MINER_DEFAULTS.maxFrames;
  const out: string[] = [];
  if (max <= 0) return out;
  for (const raw of frames) {
    for (const line of raw.split('\n')) {
      const frame = parseFrame(line);
      if (!frame || !isInApp(frame)) continue;
      const fn = normalizeFunction(frame.fn);
      const file = frame.file ? normalizePath(frame.file) : '';
      out.push(fn ? `${file}:${fn}` : `${file}:${frame.line ?? ''}`);
      if (out.length >= max) return out;
    }
  }
  return out;
}

/**
 * The fingerprint of a stack: a short hash of its {@link siteFrames}, or '' when there is no
 * in-application frame (then the message alone decides the pattern).
 */
export function fingerprintFrames(frames: readonly string[] | undefined, options: FingerprintOptions = {}): string {
  if (!frames || frames.length === 0) return '';
  const site = siteFrames(frames, options);
  if (site.length === 0) return '';
  return fnv1a(site.join('\n'));
}

/** 32-bit FNV-1a as 8 hex digits. */
export function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
