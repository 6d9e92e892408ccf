import { describe, expect, it } from 'vitest';
import { policySchema } from '../../src/config/schema/fixes.js';
import { matchesGlob } from '../../src/consult/glob.js';
import { linesChanged, parseDiff } from '../../src/fixes/diff.js';
import { checkPolicy, needsApproval } from '../../src/fixes/policy.js';

const policy = (o: Record<string, unknown> = {}) => policySchema.parse(o);

/** A git-style diff of one file. */
function fileDiff(
  file: string,
  added: string[],
  removed: string[] = [],
  status: 'modified' | 'added' | 'deleted' = 'modified',
) {
  const head =
    status === 'added'
      ? `diff --git a/${file} b/${file}\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/${file}\n`
      : status === 'deleted'
        ? `diff --git a/${file} b/${file}\ndeleted file mode 100644\nindex 1111111..0000000\n--- a/${file}\n+++ /dev/null\n`
        : `diff --git a/${file} b/${file}\nindex 1111111..2222222 100644\n--- a/${file}\n+++ b/${file}\n`;
  const hunk = `@@ -${removed.length ? 1 : 0},${removed.length} +${added.length ? 1 : 0},${added.length} @@\n`;
  return head + hunk + removed.map((l) => `-${l}\n`).join('') + added.map((l) => `+${l}\n`).join('');
}

const rules = (text: string, p = policy(), input = {}) =>
  checkPolicy(parseDiff(text), p, input).violations.map((v) => v.rule);

describe('diff parser', () => {
  it('reads files, statuses, renames, line numbers and no-newline markers', () => {
    const text = [
      'diff --git a/src/a.js b/src/a.js',
      'index 1..2 100644',
      '--- a/src/a.js',
      '+++ b/src/a.js',
      '@@ -10,3 +10,4 @@ function x() {',
      ' keep',
      '-old line',
      '--- a line that starts with dashes',
      '+new line',
      '+++ a line that starts with pluses',
      '+another',
      ' keep',
      '\\ No newline at end of file',
      'diff --git a/old name.js b/new name.js',
      'similarity index 90%',
      'rename from old name.js',
      'rename to new name.js',
      'diff --git a/img.png b/img.png',
      'Binary files a/img.png and b/img.png differ',
      '',
    ].join('\n');
    const diff = parseDiff(text);
    expect(diff.files.map((f) => [f.path, f.oldPath, f.status, f.binary])).toEqual([
      ['src/a.js', 'src/a.js', 'modified', false],
      ['new name.js', 'old name.js', 'renamed', false],
      ['img.png', 'img.png', 'modified', true],
    ]);
    const a = diff.files[0];
    expect(a?.removed).toEqual([
      { line: 11, text: 'old line' },
      { line: 12, text: '-- a line that starts with dashes' },
    ]);
    expect(a?.added.map((l) => l.line)).toEqual([11, 12, 13]);
    expect(a?.added[1]?.text).toBe('++ a line that starts with pluses');
    expect(linesChanged(diff)).toBe(5);
  });

  it('reads plain diff -u output of several files', () => {
    const text =
      '--- a/x.txt\t2020\n+++ b/x.txt\t2020\n@@ -1 +1 @@\n-a\n+b\n--- a/y.txt\n+++ b/y.txt\n@@ -1 +1,2 @@\n c\n+d\n';
    const diff = parseDiff(text);
    expect(diff.files.map((f) => [f.path, f.added.length, f.removed.length])).toEqual([
      ['x.txt', 1, 1],
      ['y.txt', 1, 0],
    ]);
  });
});

describe('globs', () => {
  it.each([
    ['.github/workflows/ci.yml', '.github/**', true],
    ['src/.github/x', '.github/**', false],
    ['dancer.yaml', 'dancer.yaml', true],
    ['deploy/dancer.yaml', 'dancer.yaml', true],
    ['db/migrations/001.sql', '**/migrations/**', true],
    ['migrations/001.sql', '**/migrations/**', true],
    ['src/migrations.ts', '**/migrations/**', false],
    ['test/a.test.mjs', '**/*.test.*', true],
    ['src/a.ts', 'src/*.{ts,js}', true],
    ['src/b/a.ts', 'src/*.{ts,js}', false],
    ['src/b/a.ts', 'src/**/*.ts', true],
    ['.ci/run.sh', '.ci/', true],
  ])('%s ~ %s = %s', (file, glob, expected) => {
    expect(matchesGlob(file, glob)).toBe(expected);
  });
});

describe('policy', () => {
  it('passes a small ordinary change', () => {
    const r = checkPolicy(parseDiff(fileDiff('src/cart.mjs', ['  return 0;'], ['  return 1;'])), policy());
    expect(r).toMatchObject({ ok: true, violations: [], filesChanged: 1, linesChanged: 2, needsApproval: true });
  });

  it.each([
    ['dancer.yaml'],
    ['.github/workflows/ci.yml'],
    ['.ci/build.sh'],
    ['.gitlab-ci.yml'],
    ['db/migrations/002-add.sql'],
    ['package-lock.json'],
    ['pnpm-lock.yaml'],
    ['.gitmodules'],
  ])('protects %s by default', (file) => {
    const r = checkPolicy(parseDiff(fileDiff(file, ['x'])), policy());
    expect(r.ok).toBe(false);
    expect(r.violations[0]).toMatchObject({ rule: 'protected_path', file });
    expect(r.violations[0]?.message).toContain(`${file} is protected`);
  });

  it('allows lockfiles when dependencies are allowed, and protects extra globs and the config path', () => {
    expect(rules(fileDiff('package-lock.json', ['x']), policy({ allowDependencies: true }))).toEqual([]);
    expect(rules(fileDiff('src/secrets/key.ts', ['x']), policy({ protectedPaths: ['src/secrets/**'] }))).toEqual([
      'protected_path',
    ]);
    expect(rules(fileDiff('ops/svc.yaml', ['x']), policy(), { configPath: 'ops/svc.yaml' })).toEqual([
      'protected_path',
    ]);
    expect(rules(fileDiff('.github/x', ['x']), policy({ defaultProtectedPaths: false }))).toEqual([]);
  });

  it('limits files and lines', () => {
    const many = Array.from({ length: 11 }, (_, i) => fileDiff(`src/f${i}.js`, ['x'])).join('');
    const r = checkPolicy(parseDiff(many), policy());
    expect(r.violations.map((v) => v.message)).toEqual([
      'changes 11 files; the policy allows at most 10 (policy.maxFiles)',
    ]);
    const big = fileDiff(
      'src/a.js',
      Array.from({ length: 30 }, (_, i) => `line ${i}`),
    );
    expect(checkPolicy(parseDiff(big), policy({ maxLines: 29 })).violations[0]).toMatchObject({ rule: 'max_lines' });
  });

  it.each([
    ["test('x', () => {}); it.skip('y', () => {});"],
    ["describe.only('suite', () => {})"],
    ["xit('pending', () => {})"],
    ["test('slow', { skip: true }, () => {})"],
    ["test.todo('later')"],
  ])('refuses skipped tests: %s', (line) => {
    const r = checkPolicy(parseDiff(fileDiff('test/a.test.mjs', [line])), policy());
    expect(r.violations[0]).toMatchObject({ rule: 'skipped_test', file: 'test/a.test.mjs', line: 1 });
    expect(r.violations[0]?.message).toContain('test/a.test.mjs:1:');
  });

  it('refuses deleting test files and removing test cases', () => {
    expect(rules(fileDiff('test/cart.test.mjs', [], ["test('a', () => {});"], 'deleted'))).toEqual(['deleted_test']);
    const r = checkPolicy(
      parseDiff(fileDiff('test/cart.test.mjs', ['// gone'], ["test('total adds up', () => {", '  x();', '});'])),
      policy(),
    );
    expect(r.violations).toEqual([
      expect.objectContaining({
        rule: 'deleted_test',
        message: expect.stringContaining("removes 1 test case (old line 1: test('total adds up'"),
      }),
    ]);
    // Rewriting a test (same count) is fine.
    expect(rules(fileDiff('test/a.test.mjs', ["test('b', () => {});"], ["test('a', () => {});"]))).toEqual([]);
  });

  it('refuses eval and new Function unless allowed, and custom forbidden patterns', () => {
    expect(rules(fileDiff('src/a.js', ['  return eval(code);']))).toEqual(['eval']);
    expect(rules(fileDiff('src/a.js', ['  const f = new Function("a", body);']))).toEqual(['eval']);
    expect(rules(fileDiff('src/a.js', ['  retrieval(x); obj.evaluate(y);']))).toEqual([]);
    expect(rules(fileDiff('src/a.js', ['eval(x)']), policy({ allowEval: true }))).toEqual([]);
    const p = policy({ forbiddenPatterns: [{ pattern: 'process\\.exit\\(', reason: 'never exit the service' }] });
    const r = checkPolicy(parseDiff(fileDiff('src/a.js', ['process.exit(1)'])), p);
    expect(r.violations[0]?.message).toBe(
      'src/a.js:1: never exit the service (matches /process\\.exit\\(/): process.exit(1)',
    );
  });

  it('refuses new dependencies, from a bare diff and from package.json contents', () => {
    const diff = fileDiff(
      'package.json',
      ['    "left-pad": "^1.3.0",', '    "express": "^5.0.0"'],
      ['    "express": "^4.0.0"'],
    );
    const r = checkPolicy(parseDiff(diff), policy());
    expect(r.violations.map((v) => v.message)).toEqual([
      'package.json:1: adds dependency "left-pad"; new dependencies are not allowed (policy.allowDependencies)',
    ]);
    const before = JSON.stringify({ name: 'x', dependencies: { express: '^4' } });
    const after = JSON.stringify({ name: 'x', dependencies: { express: '^5' }, devDependencies: { vitest: '^4' } });
    const exact = checkPolicy(parseDiff(diff), policy(), { packageJson: [{ path: 'package.json', before, after }] });
    expect(exact.violations.map((v) => v.message)).toEqual([
      'package.json: adds devDependencies "vitest"; new dependencies are not allowed (policy.allowDependencies)',
    ]);
    expect(rules(diff, policy({ allowDependencies: true }))).toEqual([]);
    expect(rules(fileDiff('package.json', ['  "version": "1.0.1",'], ['  "version": "1.0.0",']))).toEqual([]);
  });

  it('refuses submodule changes', () => {
    const text =
      'diff --git a/vendor/lib b/vendor/lib\nindex 1111111..2222222 160000\n--- a/vendor/lib\n+++ b/vendor/lib\n@@ -1 +1 @@\n-Subproject commit 1111111\n+Subproject commit 2222222\n';
    expect(rules(text)).toEqual(['submodule']);
  });

  it('risk classes: every fix waits by default; low may skip the human only when allowed', () => {
    expect(needsApproval(policy(), 'low')).toBe(true);
    expect(needsApproval(policy({ autoApprove: 'low' }), 'low')).toBe(false);
    expect(needsApproval(policy({ autoApprove: 'low' }), 'medium')).toBe(true);
    expect(needsApproval(policy({ autoApprove: 'low' }), 'high')).toBe(true);
    expect(needsApproval(policy({ autoApprove: 'low' }), undefined)).toBe(true);
  });
});
