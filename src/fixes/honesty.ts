/**
 * Is the fix's test suite honest? (pure decisions). The gate compares the runner's own report on
 * the base commit and on the fix, file by file, with the assertions written in each test file and
 * with what the fix changed around the tests (package.json scripts, runner config,
 * `.gitattributes`). Failing tests fail the gate; a weaker suite needs a human, with the reasons.
 * Also: does the regression test fail on the base with the pattern's own error?
 */
import type { TestCounts, TestReport } from './test-report.js';

/** The verdict of the honesty step. */
export interface HonestyVerdict {
  /** `passed`; `failed` (the gate fails, a repair round can fix it); `needs_human` (a human must approve knowingly). */
  status: 'passed' | 'failed' | 'needs_human';
  reasons: string[];
}

/** What {@link judgeHonesty} compares. */
export interface HonestyInput {
  base: TestReport;
  fix: TestReport;
  /**
   * Test files the base commit holds (by `fixes.gate.regression.testGlobs`). When it holds some
   * and its report counts no test, the fix cannot be compared. Unknown: not judged.
   */
  baseTestFiles?: number | undefined;
  /** How the base report's command failed, when it did (said in the reason). */
  baseReportFailure?: string | undefined;
  /** Assertions written per test file, on the base and on the fix (see {@link countAssertions}). */
  assertionsBase: Record<string, number>;
  assertionsFix: Record<string, number>;
  /** Files the fix changed (repository-relative). */
  changedFiles: readonly string[];
  /** `package.json` scripts the fix changed, by name. */
  changedScripts: readonly string[];
}

const COUNTED = ['tests', 'pass', 'skip', 'todo', 'fail'] as const;

function fmt(c: TestCounts | undefined): string {
  if (!c) return 'absent';
  return COUNTED.map((k) => `${c[k]} ${k}`).join(', ');
}

/** Files that define how tests run or how a diff reads: a fix changing one needs a human. */
const SUITE_DEFINITION = [
  /(^|\/)\.gitattributes$/,
  /(^|\/)(vitest|jest|vite|mocha|ava|playwright|karma)\.config\.[cm]?[jt]s$/,
  /(^|\/)\.mocharc(\.\w+)?$/,
  /(^|\/)\.c8rc(\.json)?$/,
  /(^|\/)\.nycrc(\.json)?$/,
  /(^|\/)(pytest\.ini|tox\.ini|setup\.cfg|conftest\.py)$/,
  /(^|\/)\.dancer\//,
];

/** Compare base and fix: failures fail; fewer tests or assertions, more skips or todos need a human. */
export function judgeHonesty(input: HonestyInput): HonestyVerdict {
  const failed: string[] = [];
  const human: string[] = [];
  if (input.fix.total.fail > 0) {
    const files = Object.entries(input.fix.files)
      .filter(([, c]) => c.fail > 0)
      .map(([f, c]) => `${f} (${c.fail})`);
    failed.push(`${input.fix.total.fail} test(s) fail with the fix: ${files.join(', ')}`);
  }
  // A runner that reports nothing (not node --test, or no tests found) cannot vouch for the suite.
  if (input.fix.total.tests === 0 && input.base.total.tests === 0)
    human.push('the test report found no tests on the base or the fix: set fixes.gate.report for this runner');
  else if (input.base.total.tests === 0 && (input.baseTestFiles ?? 0) > 0) {
    // Without it, "fewer tests than the base" would compare with nothing and always pass.
    const why = input.baseReportFailure ? ` (the report command ${input.baseReportFailure})` : '';
    human.push(
      `the base commit's test report is empty, so the fix cannot be compared: the base holds ${input.baseTestFiles} test file(s)${why}`,
    );
  }
  for (const [file, before] of Object.entries(input.base.files)) {
    const after = input.fix.files[file];
    if (!after || after.tests < before.tests)
      human.push(`${file}: fewer tests with the fix (base ${fmt(before)}; fix ${fmt(after)})`);
    else if (after.skip > before.skip || after.todo > before.todo)
      human.push(`${file}: more skipped or todo tests with the fix (base ${fmt(before)}; fix ${fmt(after)})`);
  }
  if (input.fix.total.skip + input.fix.total.todo > input.base.total.skip + input.base.total.todo) {
    const line = `the fix adds skipped or todo tests (base ${input.base.total.skip} skip, ${input.base.total.todo} todo; fix ${input.fix.total.skip} skip, ${input.fix.total.todo} todo)`;
    if (!human.some((r) => r.includes('more skipped'))) human.push(line);
  }
  for (const [file, before] of Object.entries(input.assertionsBase)) {
    const after = input.assertionsFix[file] ?? 0;
    if (after < before)
      human.push(`${file}: fewer assertions with the fix (${before} on the base, ${after} with the fix)`);
  }
  for (const script of input.changedScripts) human.push(`the fix changes the package.json script "${script}"`);
  for (const file of input.changedFiles) {
    if (SUITE_DEFINITION.some((re) => re.test(file)))
      human.push(`the fix changes ${file}, which defines how tests run or how the diff reads`);
  }
  if (failed.length > 0) return { status: 'failed', reasons: [...failed, ...human] };
  if (human.length > 0) return { status: 'needs_human', reasons: human };
  return { status: 'passed', reasons: [] };
}

/**
 * Assertions written in a test file: `assert(`, `assert.x(`, `expect(`, `t.equal(`-style calls,
 * `should.`, pytest's `assert ` and `pytest.raises(`, unittest's `self.assertX(`, Go's
 * `t.Error(`/`t.Fatal(` (and their `f` forms) and testify's `require.X(`. Comments are not
 * counted (a line starting with `#` is a Python comment). What is counted is the same on both
 * sides, so only a drop matters.
 */
export function countAssertions(source: string): number {
  const code = source
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')
    .replace(/^\s*#.*$/gm, '');
  const calls =
    code.match(
      /\bassert(?:\.\w+)*\s*\(|\bexpect\s*\(|\bexpect\.\w+\s*\(|\bt\.(?:assert|equal|ok|notOk|deepEqual|strictEqual|notEqual|throws|rejects|match|same|is|not|true|false|pass|fail)\w*\s*\(|\.should\b/g,
    ) ?? [];
  const py = code.match(/^\s*assert\s+[^(=]/gm) ?? [];
  const more =
    code.match(
      /\bself\.assert\w*\s*\(|\bpytest\.raises\s*\(|\bt\.(?:Error|Errorf|Fatal|Fatalf|Fail|FailNow)\s*\(|\brequire\.\w+\s*\(/g,
    ) ?? [];
  return calls.length + py.length + more.length;
}

/** The `scripts` of two package.json texts that differ (added, removed or changed). */
export function changedScripts(base: string | undefined, fix: string | undefined): string[] {
  const scripts = (text: string | undefined): Record<string, unknown> => {
    if (!text) return {};
    try {
      return (JSON.parse(text) as { scripts?: Record<string, unknown> }).scripts ?? {};
    } catch {
      return { '(package.json does not parse)': text };
    }
  };
  const a = scripts(base);
  const b = scripts(fix);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

/** The error a pattern is about: its type and message (the message may hold `<*>` wildcards). */
export interface PatternError {
  type?: string | undefined;
  message?: string | undefined;
}

/**
 * Did the regression test fail on the base with the pattern's own error? True when the base run's
 * output names the error type (if known) and a message matching the pattern's (wildcards match
 * anything on one line). Unknown error: undefined (nothing to compare with).
 */
export function failsWithPatternError(output: string, expected: PatternError): boolean | undefined {
  if (!expected.type && !expected.message) return undefined;
  if (expected.type && !output.includes(expected.type)) return false;
  if (!expected.message) return true;
  const parts = expected.message
    .split('<*>')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+'));
  if (parts.length === 0) return true;
  // Node's inspect escapes quotes in messages: compare with quotes loosened.
  const loosen = (s: string) => s.replace(/["'`]/g, '.?');
  return new RegExp(parts.map(loosen).join('[^\\n]*?')).test(output);
}
