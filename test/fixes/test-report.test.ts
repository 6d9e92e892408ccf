import { describe, expect, it } from 'vitest';
import { changedLines, coverageOfChange, formatChangeCoverage } from '../../src/fixes/coverage.js';
import { changedScripts, countAssertions, failsWithPatternError, judgeHonesty } from '../../src/fixes/honesty.js';
import { emptyCounts, parseJsonReport, parseTap, type TestReport } from '../../src/fixes/test-report.js';

// TAP as node 20's tap reporter prints it (one nested subtest, a skip and a todo).
const NODE_TAP = `TAP version 13
# Subtest: one
ok 1 - one
  ---
  duration_ms: 1.5
  ...
# Subtest: two
ok 2 - two # SKIP
# Subtest: three
ok 3 - three # TODO
# Subtest: suite
    # Subtest: inner
    ok 1 - inner
    # Subtest: broken
    not ok 2 - broken
    1..2
not ok 4 - suite
1..4
`;

const report = (files: Record<string, Partial<ReturnType<typeof emptyCounts>>>): TestReport => {
  const out: TestReport = { files: {}, total: emptyCounts() };
  for (const [f, c] of Object.entries(files)) {
    const full = { ...emptyCounts(), ...c };
    out.files[f] = full;
    for (const k of ['tests', 'pass', 'fail', 'skip', 'todo'] as const) out.total[k] += full[k];
  }
  return out;
};

describe('test reports', () => {
  it('reads TAP: leaves only, skips and todos by directive, suites not counted', () => {
    expect(parseTap(NODE_TAP).total).toEqual({ tests: 5, pass: 2, fail: 1, skip: 1, todo: 1 });
  });

  it('reads TAP per file when the top-level subtests are files', () => {
    const tap =
      '# Subtest: /r/test/a.test.js\n    ok 1 - x\n    ok 2 - y # SKIP\nok 1 - /r/test/a.test.js\n# Subtest: /r/test/b.test.js\nnot ok 2 - /r/test/b.test.js\n';
    expect(parseTap(tap, '/r').files).toEqual({
      'test/a.test.js': { tests: 2, pass: 1, fail: 0, skip: 1, todo: 0 },
      'test/b.test.js': { tests: 1, pass: 0, fail: 1, skip: 0, todo: 0 },
    });
  });

  it("reads Jest's and Vitest's JSON", () => {
    const json = JSON.stringify({
      testResults: [
        {
          name: '/r/a.test.ts',
          assertionResults: [{ status: 'passed' }, { status: 'pending' }, { status: 'todo' }, { status: 'failed' }],
        },
      ],
    });
    expect(parseJsonReport(`noise before\n${json}`, '/r').files).toEqual({
      'a.test.ts': { tests: 4, pass: 1, fail: 1, skip: 1, todo: 1 },
    });
  });
});

describe('honesty decisions', () => {
  const base = report({ 'test/a.test.js': { tests: 3, pass: 3 } });
  const none = { assertionsBase: {}, assertionsFix: {}, changedFiles: [], changedScripts: [] };

  it('passes the same suite plus a new test', () => {
    const fix = report({ 'test/a.test.js': { tests: 3, pass: 3 }, 'test/new.test.js': { tests: 1, pass: 1 } });
    expect(judgeHonesty({ base, fix, ...none })).toEqual({ status: 'passed', reasons: [] });
  });

  it('fails on failing tests and on an empty report; needs a human for fewer tests, skips, scripts', () => {
    expect(
      judgeHonesty({ base, fix: report({ 'test/a.test.js': { tests: 3, pass: 2, fail: 1 } }), ...none }).status,
    ).toBe('failed');
    // A runner that found nothing on either side cannot vouch for the suite: a human decides.
    expect(judgeHonesty({ base: report({}), fix: report({}), ...none }).status).toBe('needs_human');
    const fewer = judgeHonesty({ base, fix: report({ 'test/a.test.js': { tests: 2, pass: 2 } }), ...none });
    expect(fewer.status).toBe('needs_human');
    expect(fewer.reasons[0]).toContain('test/a.test.js: fewer tests');
    const skipped = judgeHonesty({ base, fix: report({ 'test/a.test.js': { tests: 3, pass: 2, skip: 1 } }), ...none });
    expect(skipped.reasons[0]).toContain('more skipped or todo');
    const scripts = judgeHonesty({
      base,
      fix: base,
      ...none,
      changedScripts: ['test'],
      changedFiles: ['.gitattributes', 'vitest.config.ts'],
    });
    expect(scripts.reasons).toEqual([
      'the fix changes the package.json script "test"',
      'the fix changes .gitattributes, which defines how tests run or how the diff reads',
      'the fix changes vitest.config.ts, which defines how tests run or how the diff reads',
    ]);
  });

  it('needs a human when the base report is empty although the base holds test files', () => {
    const fix = report({ 'test/a.test.js': { tests: 2, pass: 2 } });
    const empty = judgeHonesty({
      base: report({}),
      fix,
      baseTestFiles: 2,
      baseReportFailure: "exited with status 1: Could not find '/w.base/node_modules'",
      ...none,
    });
    expect(empty).toEqual({
      status: 'needs_human',
      reasons: [
        "the base commit's test report is empty, so the fix cannot be compared: the base holds 2 test file(s) (the report command exited with status 1: Could not find '/w.base/node_modules')",
      ],
    });
    // A base with no test files has nothing to compare: the fix's first tests pass.
    expect(judgeHonesty({ base: report({}), fix, baseTestFiles: 0, ...none })).toEqual({
      status: 'passed',
      reasons: [],
    });
  });

  it('counts assertions, not comments, and finds changed scripts', () => {
    expect(
      countAssertions(
        'assert.equal(1, 1);\n// assert.ok(x)\nexpect(a).toBe(1);\nassert(x);\n/* expect(b) */\nt.deepEqual(a, b);',
      ),
    ).toBe(4);
    expect(countAssertions('def test_x():\n    assert x == 1\n')).toBe(1);
    expect(
      changedScripts('{"scripts":{"test":"node --test","b":"x"}}', '{"scripts":{"test":"true","b":"x","c":"y"}}'),
    ).toEqual(['c', 'test']);
  });

  it("matches the pattern's error by type and message, wildcards and quotes loosened", () => {
    const expected = { type: 'TypeError', message: "Cannot read properties of undefined (reading '<*>')" };
    expect(
      failsWithPatternError("TypeError [ERR_X]: Cannot read properties of undefined (reading 'percent')", expected),
    ).toBe(true);
    expect(failsWithPatternError('AssertionError [ERR_ASSERTION]: Failed', expected)).toBe(false);
    expect(failsWithPatternError('TypeError: something else', expected)).toBe(false);
    expect(failsWithPatternError('anything', {})).toBeUndefined();
  });
});

describe('coverage of the change', () => {
  it('takes the added code lines of a diff and intersects them with executed lines, tests left out', () => {
    const diff = [
      'diff --git a/src/a.js b/src/a.js',
      '--- a/src/a.js',
      '+++ b/src/a.js',
      '@@ -1,3 +1,5 @@',
      ' const x = 1;',
      '+if (!x) {',
      '+  return 0;',
      '+}',
      ' more();',
      '+',
      '--- a/test/a.test.js',
      '+++ b/test/a.test.js',
      '@@ -0,0 +1 @@',
      '+assert.ok(1);',
    ].join('\n');
    const changed = changedLines(diff);
    expect(changed).toEqual({ 'src/a.js': [2, 3], 'test/a.test.js': [1] });
    const c = coverageOfChange(changed, { 'src/a.js': new Set([2]) }, (f) => f.startsWith('test/'));
    expect(formatChangeCoverage(c)).toBe('1 of 2 changed lines executed by the tests (src/a.js 1/2)');
    // Compiled without a source map: dist/b.js ran, src/b.ts is not in the coverage; not judged.
    const u = coverageOfChange({ 'src/b.ts': [4] }, { 'dist/src/b.js': new Set([4]) }, () => false);
    expect(u).toMatchObject({ changed: 1, executed: 0, unjudged: true });
    expect(formatChangeCoverage(u)).toBe(
      '0 of 1 changed lines executed by the tests (src/b.ts ran compiled, no source map)',
    );
  });
});
