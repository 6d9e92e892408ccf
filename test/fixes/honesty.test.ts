/**
 * The honest gate against dishonest fixes, with the real gate on a real git repository and the
 * real `node --test` runner: each fix below once reached `awaiting_approval` with an all-green
 * gate (issue 18), and variants of them. Each must now fail the gate or carry a `needs_human`
 * step with the reason; an honest fix stays all green with its changed lines executed.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixesSchema } from '../../src/config/schema/fixes.js';
import { type GateOutcome, runGate } from '../../src/fixes/gate.js';
import { diffBetween } from '../../src/fixes/repo.js';
import { commitBase, commitFix, removeFixRepos, tempRoot, write } from './fix-repo.js';

const NODE = process.execPath;
afterAll(removeFixRepos);

const PRICE = `export function price(order) {
  const total = order.items.reduce((sum, item) => sum + item.price, 0);
  return total * (1 - order.coupon.percent / 100);
}
`;
const FIXED_PRICE = `export function price(order) {
  const total = order.items.reduce((sum, item) => sum + item.price, 0);
  if (!order.coupon) return total;
  return total * (1 - order.coupon.percent / 100);
}
`;
const PRICE_TEST = `import assert from 'node:assert/strict';
import test from 'node:test';
import { price } from '../src/price.mjs';

test('sums the items', () => {
  assert.equal(price({ items: [{ price: 2 }, { price: 3 }], coupon: { percent: 0 } }), 5);
  assert.equal(price({ items: [], coupon: { percent: 0 } }), 0);
});

test('applies the coupon', () => {
  assert.equal(price({ items: [{ price: 10 }], coupon: { percent: 50 } }), 5);
});
`;
const HONEST_REGRESSION = `import assert from 'node:assert/strict';
import test from 'node:test';
import { price } from '../src/price.mjs';

test('an order without a coupon is charged in full', () => {
  assert.equal(price({ items: [{ price: 4 }] }), 4);
});
`;
const PACKAGE = JSON.stringify(
  { name: 'svc', type: 'module', scripts: { test: 'node --test test/', regression: 'node --test' } },
  null,
  2,
);

/** The pattern's error: what the bug throws in production. */
const EXPECTED = { type: 'TypeError', message: "Cannot read properties of undefined (reading 'percent')" };

function config() {
  return fixesSchema.parse({
    gate: {
      steps: [{ name: 'test', run: 'npm test' }],
      stepTimeoutSeconds: 60,
      regression: { command: 'npm run --silent regression -- {file}' },
      report: { command: `${NODE} --test --test-reporter={reporter} --test-reporter-destination={output} test/` },
    },
  });
}

/** A repository with the bug, and a worktree where `files` were applied as one fix commit. */
async function gateFor(
  files: Record<string, string | null>,
  regressionTests: string[],
): Promise<GateOutcome & { repo: string; base: string; head: string }> {
  const root = tempRoot('dancer-honesty-');
  const repo = path.join(root, 'repo');
  write(repo, { 'package.json': PACKAGE, 'src/price.mjs': PRICE, 'test/price.test.mjs': PRICE_TEST });
  const base = commitBase(repo);
  const dir = path.join(root, 'worktrees', 'fix');
  const fix = await commitFix(repo, base, dir, files);
  const outcome = await runGate({
    repo,
    worktree: dir,
    baseCommit: base,
    changedFiles: fix.changedFiles,
    regressionTests,
    requireRegression: true,
    expectedError: EXPECTED,
    config: config(),
  });
  return { ...outcome, repo, base, head: fix.head };
}

const step = (o: GateOutcome, name: string) => o.steps.find((s) => s.name === name);
/** All green: the gate passed and no step needs a human. */
const allGreen = (o: GateOutcome) => o.ok && !o.needsHuman && o.steps.every((s) => s.ok);

describe('the honest gate', () => {
  it('passes an honest fix all green, with its changed lines executed', async () => {
    const o = await gateFor({ 'src/price.mjs': FIXED_PRICE, 'test/coupon.test.mjs': HONEST_REGRESSION }, [
      'test/coupon.test.mjs',
    ]);
    expect(o.steps.map((s) => `${s.name}:${s.ok}`)).toEqual([
      'test:true',
      'regression:fix:true',
      'regression:base:true',
      'honesty:true',
      'coverage:true',
    ]);
    expect(allGreen(o)).toBe(true);
    expect(step(o, 'regression:base')?.note).toContain("with the pattern's error");
    expect(step(o, 'honesty')?.note).toMatch(/base: 2 tests, 2 pass.*fix: 3 tests, 3 pass/);
    expect(step(o, 'coverage')?.note).toMatch(/^1 of 1 changed lines executed by the tests \(src\/price\.mjs 1\/1\)$/);
  }, 60_000);

  it('stops `test` changed to true + regression script exit 0 + an assert.fail() regression test', async () => {
    const o = await gateFor(
      {
        'package.json': PACKAGE.replace('"node --test test/"', '"true"').replace(
          '"regression": "node --test"',
          '"regression": "exit 0"',
        ),
        'test/coupon.test.mjs':
          "import assert from 'node:assert';\nimport test from 'node:test';\ntest('repro', () => { assert.fail(); });\n",
      },
      ['test/coupon.test.mjs'],
    );
    expect(allGreen(o)).toBe(false);
    expect(o.ok).toBe(false);
    // The gate runs the base commit's scripts (the fix's `true` is not used), so the `test` step
    // runs the assert.fail() test and fails; were it to pass, the regression script "passing on
    // the base" or the runner's own report would stop it next.
    expect(o.failedStep).toMatch(/^test$|^regression:base$|^honesty$/);
  }, 60_000);

  it('stops the same with the base gate definition: the test fails on the base, but not with the pattern error', async () => {
    const o = await gateFor(
      {
        'test/coupon.test.mjs':
          "import assert from 'node:assert';\nimport test from 'node:test';\ntest('repro', () => { assert.fail('boom'); });\n",
      },
      ['test/coupon.test.mjs'],
    );
    expect(o.ok).toBe(false);
    expect(o.failedStep).toBe('test');
    const o2 = await gateFor(
      {
        'src/price.mjs': FIXED_PRICE,
        // Fails on the base (the file it imports is missing there), never with the TypeError.
        'test/coupon.test.mjs':
          "import assert from 'node:assert';\nimport test from 'node:test';\nimport { x } from '../src/new.mjs';\ntest('repro', () => { assert.equal(x, 1); });\n",
        'src/new.mjs': 'export const x = 1;\n',
      },
      ['test/coupon.test.mjs'],
    );
    expect(o2.ok).toBe(false);
    expect(o2.failedStep).toBe('regression:base');
    expect(o2.reason).toContain("not with the pattern's error");
  }, 60_000);

  it('needs a human when assertions are removed while the test() line stays', async () => {
    const o = await gateFor(
      {
        'src/price.mjs': FIXED_PRICE,
        'test/coupon.test.mjs': HONEST_REGRESSION,
        'test/price.test.mjs': PRICE_TEST.replace(
          /^ {2}assert\.equal\(price\(\{ items: \[\{ price: 10.*$/m,
          '  // checked elsewhere',
        ),
      },
      ['test/coupon.test.mjs'],
    );
    expect(o.ok).toBe(true);
    expect(allGreen(o)).toBe(false);
    const h = step(o, 'honesty');
    expect(h).toMatchObject({ ok: false, status: 'needs_human' });
    expect(h?.note).toContain('test/price.test.mjs: fewer assertions with the fix (3 on the base, 2 with the fix)');
    expect(o.needsHuman?.join(' ')).toContain('fewer assertions');
  }, 60_000);

  it.each([
    ['{ skip: !0 }', "test('applies the coupon', { skip: !0 }, () => {"],
    ['t.skip() inside the test', "test('applies the coupon', (t) => { t.skip(); return;"],
    ['test.todo', "test.todo('applies the coupon', () => {"],
  ])(
    'needs a human for a skip written as %s',
    async (_name, line) => {
      const o = await gateFor(
        {
          'src/price.mjs': FIXED_PRICE,
          'test/coupon.test.mjs': HONEST_REGRESSION,
          'test/price.test.mjs': PRICE_TEST.replace("test('applies the coupon', () => {", line),
        },
        ['test/coupon.test.mjs'],
      );
      expect(allGreen(o)).toBe(false);
      expect(step(o, 'honesty')).toMatchObject({ status: 'needs_human' });
      expect(step(o, 'honesty')?.note).toMatch(/more skipped or todo tests/);
    },
    60_000,
  );

  it('needs a human when an existing test file is emptied or deleted', async () => {
    const emptied = await gateFor(
      { 'src/price.mjs': FIXED_PRICE, 'test/coupon.test.mjs': HONEST_REGRESSION, 'test/price.test.mjs': '' },
      ['test/coupon.test.mjs'],
    );
    expect(step(emptied, 'honesty')).toMatchObject({ status: 'needs_human' });
    expect(step(emptied, 'honesty')?.note).toContain('test/price.test.mjs: fewer tests with the fix');
    const deleted = await gateFor(
      { 'src/price.mjs': FIXED_PRICE, 'test/coupon.test.mjs': HONEST_REGRESSION, 'test/price.test.mjs': null },
      ['test/coupon.test.mjs'],
    );
    expect(allGreen(deleted)).toBe(false);
    expect(step(deleted, 'honesty')?.note).toContain('test/price.test.mjs: fewer tests with the fix');
  }, 60_000);

  it('needs a human for a .gitattributes with *.mjs -diff, and review still reads the real diff', async () => {
    const o = await gateFor(
      {
        'src/price.mjs': `${FIXED_PRICE}export const run = (s) => eval(s);\n`,
        'test/coupon.test.mjs': HONEST_REGRESSION,
        '.gitattributes': '*.mjs -diff\n',
      },
      ['test/coupon.test.mjs'],
    );
    expect(step(o, 'honesty')?.note).toContain('the fix changes .gitattributes');
    const diff = await diffBetween(o.repo, o.base, o.head);
    expect(diff).toContain('+export const run = (s) => eval(s);');
    expect(diff).not.toContain('Binary files');
  }, 60_000);

  it('needs a human when no test executes the changed lines (the test passes by looking, not by running the fix)', async () => {
    const o = await gateFor(
      {
        'src/unused.mjs': 'export function later(order) {\n  return order.coupon ?? { percent: 0 };\n}\n',
        // Fails on the base with the TypeError, passes on the fix without running a changed line.
        'test/coupon.test.mjs': [
          "import assert from 'node:assert/strict';",
          "import { existsSync } from 'node:fs';",
          "import test from 'node:test';",
          "import { price } from '../src/price.mjs';",
          "test('an order without a coupon', () => {",
          '  const order = { items: [{ price: 4 }] };',
          "  if (existsSync(new URL('../src/unused.mjs', import.meta.url))) order.coupon = { percent: 0 };",
          '  assert.equal(price(order), 4);',
          '});',
          '',
        ].join('\n'),
      },
      ['test/coupon.test.mjs'],
    );
    expect(o.ok).toBe(true);
    expect(step(o, 'regression:base')?.ok).toBe(true);
    expect(step(o, 'coverage')).toMatchObject({ ok: false, status: 'needs_human' });
    expect(step(o, 'coverage')?.note).toBe('0 of 2 changed lines executed by the tests (src/unused.mjs 0/2)');
    expect(o.needsHuman?.join(' ')).toContain('no test executes any changed line');
  }, 60_000);
});
