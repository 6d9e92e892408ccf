/**
 * Test results from the runner's own report (pure parsing), per test file: how many tests, passes,
 * failures, skips and todos. Five formats: `node` (Dancer's reporter for `node --test`, one JSON
 * event per line, with the file of each test), `tap` (any TAP 13 producer; per file when the
 * top-level subtests are files, else one bucket), `json` (Jest's and Vitest's `--json`
 * shape: `testResults[].name` and `assertionResults[].status`), `junit` (JUnit XML: pytest
 * `--junitxml`, and the many runners that write it) and `go-json` (`go test -json`, per package).
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
export type ReportFormat = 'node' | 'tap' | 'json' | 'junit' | 'go-json';

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

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function xmlText(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
      return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return XML_ENTITIES[e.toLowerCase()] ?? whole;
  });
}

function xmlAttributes(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    out[m[1] as string] = xmlText(m[2] ?? m[3] ?? '');
  }
  return out;
}

/**
 * The file a JUnit test case belongs to: its `file` attribute when the runner wrote one (pytest
 * with `junit_family=xunit1`, many others), else, for pytest, the module of its `classname`
 * (`tests.test_prices.TestTable` is tests/test_prices.py), else the classname itself.
 */
function junitFile(attrs: Record<string, string>, pytest: boolean, root: string | undefined): string {
  if (attrs.file) return relative(attrs.file, root);
  const cls = attrs.classname ?? '';
  if (!cls) return '(unknown)';
  if (!pytest) return cls;
  const parts = cls.split('.');
  while (parts.length > 1 && /^[A-Z]/.test(parts.at(-1) as string)) parts.pop();
  return `${parts.join('/')}.py`;
}

/**
 * Parse JUnit XML (pytest `--junitxml`, Maven Surefire, go-junit-report, jest-junit, ...): every
 * `<testcase>` counts; one with `<failure>` or `<error>` failed, one with `<skipped>` was skipped
 * (pytest writes its xfail as a skip too: a test that does not run as a pass). Comments and CDATA
 * (failure output) are blanked first so their text is never read as markup.
 */
export function parseJunitXml(text: string, root?: string): TestReport {
  const report: TestReport = { files: {}, total: emptyCounts() };
  const xml = text.replace(/<!--[\s\S]*?-->/g, '').replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '');
  const pytest = /<testsuite\b[^>]*\bname\s*=\s*["']pytest["']/.test(xml);
  const caseRe = /<testcase\b((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g;
  for (let m = caseRe.exec(xml); m; m = caseRe.exec(xml)) {
    const attrs = xmlAttributes(m[1] as string);
    let body = '';
    if (m[2] !== '/') {
      const end = xml.indexOf('</testcase>', caseRe.lastIndex);
      body = xml.slice(caseRe.lastIndex, end === -1 ? xml.length : end);
      if (end !== -1) caseRe.lastIndex = end + '</testcase>'.length;
    }
    const outcome = /<(?:failure|error)\b/.test(body) ? 'fail' : /<skipped\b/.test(body) ? 'skip' : 'pass';
    add(report, junitFile(attrs, pytest, root), outcome);
  }
  return report;
}

/** One event of `go test -json` (test2json). */
interface GoTestEvent {
  Action?: string;
  Package?: string;
  Test?: string;
}

/**
 * Parse `go test -json` (test2json events, one JSON object per line; other lines ignored), per
 * package: each test's last `pass`, `fail` or `skip`. A test with subtests is a suite (its
 * subtests are the tests); a package that failed without any test result (it did not build) is
 * one failing test named after the package.
 */
export function parseGoTestJson(text: string): TestReport {
  const report: TestReport = { files: {}, total: emptyCounts() };
  const outcomes = new Map<string, Map<string, 'pass' | 'fail' | 'skip'>>();
  const packageFailed = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let e: GoTestEvent;
    try {
      e = JSON.parse(line) as GoTestEvent;
    } catch {
      continue;
    }
    const pkg = e.Package ?? '(unknown)';
    const action = e.Action;
    if (action !== 'pass' && action !== 'fail' && action !== 'skip') continue;
    if (!e.Test) {
      if (action === 'fail') packageFailed.add(pkg);
      continue;
    }
    let tests = outcomes.get(pkg);
    if (!tests) {
      tests = new Map();
      outcomes.set(pkg, tests);
    }
    tests.set(e.Test, action);
  }
  for (const [pkg, tests] of outcomes) {
    const names = [...tests.keys()];
    for (const [name, outcome] of tests) {
      const children = names.filter((n) => n.startsWith(`${name}/`));
      // A parent counts only for a failure of its own (its subtests all passed).
      if (children.length > 0 && (outcome !== 'fail' || children.some((c) => tests.get(c) === 'fail'))) continue;
      add(report, pkg, outcome);
    }
  }
  for (const pkg of packageFailed) if (!outcomes.has(pkg)) add(report, pkg, 'fail');
  return report;
}

/** Parse a report in `format`. */
export function parseReport(format: ReportFormat, text: string, root?: string): TestReport {
  switch (format) {
    case 'node': {
      const { files, total } = parseNodeReport(text, root);
      return { files, total };
    }
    case 'tap':
      return parseTap(text, root);
    case 'json':
      return parseJsonReport(text, root);
    case 'junit':
      return parseJunitXml(text, root);
    case 'go-json':
      return parseGoTestJson(text);
  }
}
