/**
 * Test results from the runner's own report (pure parsing), per test file: how many tests, passes,
 * failures, skips and todos. Three formats: `node` (Dancer's reporter for `node --test`, one JSON
 * event per line, with the file of each test), `tap` (any TAP 13 producer; per file when the
 * top-level subtests are files, else one bucket) and `json` (Jest's and Vitest's `--json`
 * shape: `testResults[].name` and `assertionResults[].status`).
 */

/** Counts of one file (or of a whole run). */
export interface TestCounts {
  tests: number;
  pass: number;
  fail: number;
  skip: number;
  todo: number;
}

/** A parsed report: counts per test file (repository-relative when the runner gave absolute paths under `root`). */
export interface TestReport {
  files: Record<string, TestCounts>;
  total: TestCounts;
}

/** The report formats Dancer reads. */
export type ReportFormat = 'node' | 'tap' | 'json';

/** Counts with every field zero. */
export function emptyCounts(): TestCounts {
  return { tests: 0, pass: 0, fail: 0, skip: 0, todo: 0 };
}

function add(report: TestReport, file: string, outcome: 'pass' | 'fail' | 'skip' | 'todo'): void {
  const c = report.files[file] ?? emptyCounts();
  report.files[file] = c;
  c.tests++;
  c[outcome]++;
  report.total.tests++;
  report.total[outcome]++;
}

function relative(file: string, root: string | undefined): string {
  let f = file.replace(/^file:\/\//, '');
  if (root) {
    const r = root.replace(/\/+$/, '');
    if (f.startsWith(`${r}/`)) f = f.slice(r.length + 1);
  }
  return f;
}

/**
 * The reporter Dancer gives `node --test --test-reporter=<file>`: one JSON line per finished
 * test with its file, nesting and outcome (node's own events, nothing inferred).
 */
export const NODE_REPORTER_SOURCE = `export default async function* dancerReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const d = event.data;
    const details = d.details || {};
    const error = details.error;
    yield JSON.stringify({
      dancer: 1,
      type: event.type,
      file: d.file || null,
      name: d.name,
      nesting: d.nesting,
      skip: d.skip !== undefined && d.skip !== false,
      todo: d.todo !== undefined && d.todo !== false,
      suite: details.type === 'suite',
      error: error ? String((error.cause && error.cause.stack) || error.stack || error.message || error).slice(0, 2000) : undefined,
    }) + '\\n';
  }
}
`;

/** One test event of Dancer's node reporter. */
export interface NodeTestEvent {
  type: 'test:pass' | 'test:fail';
  file: string | null;
  name: string;
  nesting: number;
  skip: boolean;
  todo: boolean;
  suite: boolean;
  error?: string | undefined;
}

/** Parse the node reporter's lines (other output is ignored). Suites and file wrappers are not tests. */
export function parseNodeReport(text: string, root?: string): TestReport & { events: NodeTestEvent[] } {
  const report: TestReport & { events: NodeTestEvent[] } = { files: {}, total: emptyCounts(), events: [] };
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"dancer":1')) continue;
    let e: NodeTestEvent;
    try {
      e = JSON.parse(line) as NodeTestEvent;
    } catch {
      continue;
    }
    report.events.push(e);
    if (e.suite) continue;
    // A file that failed to load is reported as one failing test named after the file.
    const file = relative(e.file ?? '(unknown)', root);
    add(report, file, e.todo ? 'todo' : e.skip ? 'skip' : e.type === 'test:fail' ? 'fail' : 'pass');
  }
  return report;
}

const TAP_POINT = /^(\s*)(ok|not ok)\b(?:\s+\d+)?(?:\s+-)?\s*([^#]*?)\s*(?:#\s*(SKIP|TODO)\b.*)?$/i;

/**
 * Parse TAP 13: every test point counts, by its indentation's top-level subtest (a file when the
 * producer runs one subtest per file; else all under `(all)`). Points that close a subtest with
 * children are suites, not tests.
 */
export function parseTap(text: string, root?: string): TestReport {
  const report: TestReport = { files: {}, total: emptyCounts() };
  const lines = text.split('\n');
  let topName = '(all)';
  let perFile = false;
  let childIndent: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const sub = /^# Subtest: (.+)$/.exec(line);
    if (sub) {
      const name = (sub[1] as string).trim();
      perFile = /[/\\]|\.(?:[cm]?[jt]sx?|py)$/.test(name);
      topName = perFile ? relative(name, root) : '(all)';
      continue;
    }
    const m = TAP_POINT.exec(line);
    if (!m) continue;
    const indent = (m[1] as string).length;
    // A point followed (earlier) by deeper points is a parent: skip it when it has children.
    const hadChildren = childIndent !== undefined && childIndent > indent;
    childIndent = indent;
    if (hadChildren) continue;
    if (indent === 0 && perFile) {
      // The file wrapper itself, with no subtests: a file that failed to load.
      if (m[2] === 'not ok') add(report, topName, 'fail');
      continue;
    }
    const directive = (m[4] ?? '').toUpperCase();
    add(
      report,
      topName,
      directive === 'TODO' ? 'todo' : directive === 'SKIP' ? 'skip' : m[2] === 'ok' ? 'pass' : 'fail',
    );
  }
  return report;
}

/** Parse Jest's or Vitest's JSON report (`--json` / `--reporter=json`). */
export function parseJsonReport(text: string, root?: string): TestReport {
  const report: TestReport = { files: {}, total: emptyCounts() };
  const start = text.indexOf('{');
  if (start === -1) return report;
  let data: { testResults?: Array<{ name?: string; assertionResults?: Array<{ status?: string }> }> };
  try {
    data = JSON.parse(text.slice(start));
  } catch {
    return report;
  }
  for (const file of data.testResults ?? []) {
    const name = relative(file.name ?? '(unknown)', root);
    report.files[name] ??= emptyCounts();
    for (const a of file.assertionResults ?? []) {
      const s = a.status ?? 'failed';
      add(
        report,
        name,
        s === 'passed'
          ? 'pass'
          : s === 'todo'
            ? 'todo'
            : s === 'pending' || s === 'skipped' || s === 'disabled'
              ? 'skip'
              : 'fail',
      );
    }
  }
  return report;
}

/** Parse a report in `format`. */
export function parseReport(format: ReportFormat, text: string, root?: string): TestReport {
  if (format === 'node') {
    const { files, total } = parseNodeReport(text, root);
    return { files, total };
  }
  return format === 'tap' ? parseTap(text, root) : parseJsonReport(text, root);
}
