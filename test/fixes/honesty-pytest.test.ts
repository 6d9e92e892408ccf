/**
 * The honest gate on a Python project with the real pytest (its JUnit XML report, as `dancer init`
 * writes it): an honest fix stays all green; a suite weakened by the fix (a test skipped or marked
 * xfail, assertions removed while the test stays, a test deleted) is stopped by the honesty step
 * with the reason, as for Node. Needs `python3 -m pytest` (Debian: python3-pytest).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixesSchema } from '../../src/config/schema/fixes.js';
import { type GateOutcome, runGate } from '../../src/fixes/gate.js';
import { changedFiles, createWorktree } from '../../src/fixes/repo.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function write(dir: string, files: Record<string, string | null>): void {
  for (const [file, text] of Object.entries(files)) {
    const p = path.join(dir, file);
    if (text === null) rmSync(p, { force: true });
    else {
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, text);
    }
  }
}

const PRICES = `def total(order):
    subtotal = sum(item["price"] for item in order["items"])
    return subtotal * (1 - order["coupon"]["percent"] / 100)
`;
const FIXED_PRICES = `def total(order):
    subtotal = sum(item["price"] for item in order["items"])
    if "coupon" not in order:
        return subtotal
    return subtotal * (1 - order["coupon"]["percent"] / 100)
`;
const PRICES_TEST = `from prices import total


def test_sums_the_items():
    assert total({"items": [{"price": 2}, {"price": 3}], "coupon": {"percent": 0}}) == 5
    assert total({"items": [], "coupon": {"percent": 0}}) == 0


def test_applies_the_coupon():
    assert total({"items": [{"price": 10}], "coupon": {"percent": 50}}) == 5
`;
const REGRESSION = `from prices import total


def test_an_order_without_a_coupon_is_charged_in_full():
    assert total({"items": [{"price": 4}]}) == 4
`;

/** The pattern's error: what the bug raises in production. */
const EXPECTED = { type: 'KeyError', message: "'coupon'" };

const PYTEST = 'python3 -m pytest -q -p no:cacheprovider';

function config() {
  return fixesSchema.parse({
    gate: {
      steps: [{ name: 'test', run: `${PYTEST} tests/` }],
      stepTimeoutSeconds: 60,
      regression: { command: `${PYTEST} {file}` },
      report: { command: `${PYTEST} --junitxml={output} tests/`, format: 'junit' },
    },
  });
}

/** A repository with the bug, and a worktree where `files` were applied as one fix commit. */
async function gateFor(files: Record<string, string | null>, regressionTests: string[]): Promise<GateOutcome> {
  const root = mkdtempSync(path.join(tmpdir(), 'dancer-honesty-py-'));
  roots.push(root);
  const repo = path.join(root, 'repo');
  write(repo, { 'prices.py': PRICES, 'tests/test_prices.py': PRICES_TEST, '.gitignore': '__pycache__/\n' });
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'config', 'user.name', 'T');
  git(repo, 'config', 'user.email', 't@example.com');
  git(repo, 'config', 'commit.gpgsign', 'false');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'base');
  const base = git(repo, 'rev-parse', 'HEAD');
  const dir = path.join(root, 'worktrees', 'fix');
  await createWorktree(repo, { branch: 'dancer/fix-1', dir, base });
  write(dir, files);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'fix');
  const head = git(dir, 'rev-parse', 'HEAD');
  return runGate({
    repo,
    worktree: dir,
    baseCommit: base,
    changedFiles: await changedFiles(repo, base, head),
    regressionTests,
    requireRegression: true,
    expectedError: EXPECTED,
    config: config(),
  });
}

const honesty = (o: GateOutcome) => o.steps.find((s) => s.name === 'honesty');
const allGreen = (o: GateOutcome) => o.ok && !o.needsHuman && o.steps.every((s) => s.ok);
const honestFix = { 'prices.py': FIXED_PRICES, 'tests/test_coupon.py': REGRESSION };

describe('the honest gate with pytest', () => {
  it('passes an honest fix all green, counting the JUnit report per file', async () => {
    const o = await gateFor(honestFix, ['tests/test_coupon.py']);
    expect(o.steps.map((s) => `${s.name}:${s.ok}`)).toEqual(
      expect.arrayContaining(['test:true', 'regression:fix:true', 'regression:base:true', 'honesty:true']),
    );
    expect(allGreen(o)).toBe(true);
    expect(o.steps.find((s) => s.name === 'regression:base')?.note).toContain("with the pattern's error");
    expect(honesty(o)?.note).toMatch(/base: 2 tests, 2 pass.*fix: 3 tests, 3 pass/);
  }, 90_000);

  it.each([
    [
      'a skip mark',
      PRICES_TEST.replace('def test_applies', '@__import__("pytest").mark.skip(reason="flaky")\ndef test_applies'),
      /tests\/test_prices\.py: more skipped or todo tests/,
    ],
    [
      'pytest.skip() inside the test',
      PRICES_TEST.replace(
        '    assert total({"items": [{"price": 10}]',
        '    __import__("pytest").skip()\n    assert total({"items": [{"price": 10}]',
      ),
      /tests\/test_prices\.py: more skipped or todo tests/,
    ],

    [
      'assertions removed while the test stays',
      PRICES_TEST.replace(
        '    assert total({"items": [], "coupon": {"percent": 0}}) == 0\n',
        '    # checked elsewhere\n',
      ),
      /tests\/test_prices\.py: fewer assertions with the fix \(3 on the base, 2 with the fix\)/,
    ],
    [
      'a test deleted',
      PRICES_TEST.slice(0, PRICES_TEST.indexOf('\n\ndef test_applies')),
      /tests\/test_prices\.py: fewer tests with the fix/,
    ],
  ])(
    'needs a human for %s',
    async (_name, weakened, reason) => {
      const o = await gateFor({ ...honestFix, 'tests/test_prices.py': weakened }, ['tests/test_coupon.py']);
      expect(allGreen(o)).toBe(false);
      expect(honesty(o)).toMatchObject({ ok: false, status: 'needs_human' });
      expect(honesty(o)?.note).toMatch(reason);
    },
    90_000,
  );

  it('needs a human for an xfail mark that hides a test the fix breaks', async () => {
    // The fix drops the coupon (test_applies_the_coupon now fails) and marks that test xfail.
    const o = await gateFor(
      {
        ...honestFix,
        'prices.py': 'def total(order):\n    return sum(item["price"] for item in order["items"])\n',
        'tests/test_prices.py': PRICES_TEST.replace(
          'def test_applies',
          '@__import__("pytest").mark.xfail\ndef test_applies',
        ),
      },
      ['tests/test_coupon.py'],
    );
    expect(allGreen(o)).toBe(false);
    expect(honesty(o)).toMatchObject({ ok: false, status: 'needs_human' });
    expect(honesty(o)?.note).toMatch(/tests\/test_prices\.py: more skipped or todo tests/);
  }, 90_000);
});
