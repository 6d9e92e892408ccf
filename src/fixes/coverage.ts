/**
 * Coverage of the change: which of the fix's changed lines the test suite executed, from V8's
 * own coverage (`NODE_V8_COVERAGE`, written by any Node test runner). Compiled files are mapped
 * back to their sources through the source maps Node stores beside the coverage. Pure but for
 * reading the coverage folder.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Added or changed lines per file (repository-relative, 1-based), from a unified diff. */
export function changedLines(diff: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  let file: string | undefined;
  let line = 0;
  for (const text of diff.split('\n')) {
    if (text.startsWith('+++ ')) {
      const name = text.slice(4).trim();
      file = name === '/dev/null' ? undefined : name.replace(/^b\//, '');
      continue;
    }
    if (text.startsWith('--- ')) continue;
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
    if (hunk) {
      line = Number(hunk[1]);
      continue;
    }
    if (!file) continue;
    if (text.startsWith('+')) {
      // Blank lines and lone braces execute nothing: not counted.
      if (/\S/.test(text.slice(1)) && !/^\+\s*[{}()[\];,]*\s*$/.test(text)) {
        const lines = out[file] ?? [];
        lines.push(line);
        out[file] = lines;
      }
      line++;
    } else if (text.startsWith(' ')) line++;
  }
  return out;
}

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface ScriptCoverage {
  url: string;
  functions: Array<{ ranges: Range[] }>;
}

/** Executed 1-based lines of one script's text: a line counts when its first code character is in executed code. */
function executedLines(source: string, functions: ScriptCoverage['functions']): Array<{ line: number; col: number }> {
  const ranges = functions.flatMap((f) => f.ranges);
  const out: Array<{ line: number; col: number }> = [];
  let offset = 0;
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string;
    const col = text.search(/\S/);
    if (col >= 0) {
      const at = offset + col;
      // The innermost (shortest) range holding the offset decides.
      let best: Range | undefined;
      for (const r of ranges) {
        if (
          r.startOffset <= at &&
          at < r.endOffset &&
          (!best || r.endOffset - r.startOffset < best.endOffset - best.startOffset)
        )
          best = r;
      }
      if (best && best.count > 0) out.push({ line: i + 1, col });
    }
    offset += text.length + 1;
  }
  return out;
}

/**
 * Lines executed per source file under `root` (repository-relative), from every coverage file in
 * `dir`. Scripts outside `root` (node_modules, node internals) are left out.
 */
export function executedSourceLines(dir: string, root: string): Record<string, Set<number>> {
  const out: Record<string, Set<number>> = {};
  const rootAbs = path.resolve(root);
  const mark = (file: string, line: number) => {
    const rel = path.relative(rootAbs, file);
    if (rel.startsWith('..') || path.isAbsolute(rel) || rel.split(path.sep).includes('node_modules')) return;
    const set = out[rel] ?? new Set<number>();
    set.add(line);
    out[rel] = set;
  };
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return out;
  }
  for (const name of names) {
    let data: { result?: ScriptCoverage[]; 'source-map-cache'?: Record<string, { data?: unknown }> };
    try {
      data = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
    } catch {
      continue;
    }
    const maps = data['source-map-cache'] ?? {};
    for (const script of data.result ?? []) {
      if (!script.url.startsWith('file://')) continue;
      const file = fileURLToPath(script.url);
      if (path.relative(rootAbs, file).startsWith('..')) continue;
      let source: string;
      try {
        source = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const executed = executedLines(source, script.functions);
      const payload = maps[script.url]?.data;
      if (payload) {
        const map = new SourceMap(payload as ConstructorParameters<typeof SourceMap>[0]);
        for (const { line, col } of executed) {
          const entry = map.findEntry(line - 1, col) as { originalSource?: string; originalLine?: number };
          if (entry.originalSource && entry.originalLine !== undefined) {
            const original = entry.originalSource.startsWith('file://')
              ? fileURLToPath(entry.originalSource)
              : path.resolve(path.dirname(file), entry.originalSource);
            mark(original, entry.originalLine + 1);
          }
        }
      }
      for (const { line } of executed) mark(file, line);
    }
  }
  return out;
}

/** How much of the change the tests executed. */
export interface ChangeCoverage {
  /** Changed code lines in source files (tests left out). */
  changed: number;
  executed: number;
  /** Per file: changed lines and those executed; `unmapped` when only a compiled copy ran (no source map). */
  files: Array<{ file: string; changed: number[]; executed: number[]; unmapped?: boolean }>;
  /** True when some changed file could not be judged (compiled without source maps). */
  unjudged: boolean;
}

const stem = (file: string) => path.basename(file).replace(/\.[^.]+$/, '');

/** Intersect the changed lines of source files with the executed ones. */
export function coverageOfChange(
  changed: Record<string, number[]>,
  executed: Record<string, Set<number>>,
  isTest: (file: string) => boolean,
): ChangeCoverage {
  const files: ChangeCoverage['files'] = [];
  const loadedStems = new Set(Object.keys(executed).map(stem));
  for (const [file, lines] of Object.entries(changed)) {
    if (isTest(file) || !/\.(?:[cm]?[jt]sx?)$/.test(file)) continue;
    const hit = executed[file];
    // Not in the coverage, but a file of the same name ran (dist/x.js for src/x.ts): no source map.
    const unmapped = hit === undefined && loadedStems.has(stem(file));
    files.push({
      file,
      changed: lines,
      executed: hit ? lines.filter((l) => hit.has(l)) : [],
      ...(unmapped ? { unmapped } : {}),
    });
  }
  return {
    changed: files.reduce((s, f) => s + f.changed.length, 0),
    executed: files.reduce((s, f) => s + f.executed.length, 0),
    files,
    unjudged: files.some((f) => f.unmapped),
  };
}

/** One line for the approver: `7 of 9 changed lines executed by the tests (src/a.ts 5/5, src/b.ts 2/4)`. */
export function formatChangeCoverage(c: ChangeCoverage): string {
  if (c.changed === 0) return 'no changed code lines in source files';
  const per = c.files
    .map((f) => `${f.file} ${f.unmapped ? 'ran compiled, no source map' : `${f.executed.length}/${f.changed.length}`}`)
    .join(', ');
  return `${c.executed} of ${c.changed} changed lines executed by the tests (${per})`;
}
