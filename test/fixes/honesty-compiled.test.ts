/**
 * The honest gate on a compiled (TypeScript) service, as the demo's: the gate's steps are
 * `build` (tsc into dist/) and `test` (`node --test dist/test/`), so the base commit's test report
 * exists only once the base is built. The base report must count the base's tests (it once counted
 * none, which made "fewer tests than the base" vacuous), and a fix that deletes a test needs a human.
 */
import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixesSchema } from '../../src/config/schema/fixes.js';
import { type GateOutcome, runGate } from '../../src/fixes/gate.js';
import { commitBase, commitFix, removeFixRepos, tempRoot, write } from './fix-repo.js';

const NODE_MODULES = realpathSync(path.resolve(__dirname, '../../node_modules'));
afterAll(removeFixRepos);

const PACKAGE = JSON.stringify(
  {
    name: 'svc',
    private: true,
    type: 'module',
    scripts: { build: 'tsc -p tsconfig.json', test: 'node --test dist/test/' },
  },
  null,
  2,
);
const TSCONFIG = JSON.stringify({
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    outDir: 'dist',
    rootDir: '.',
    types: ['node'],
    skipLibCheck: true,
  },
  include: ['src', 'test'],
});
const SHIPPING = `export function shipping(weightKg: number, zone: string): number {
  const rates: Record<string, number> = { home: 5, abroad: 20 };
  return Math.ceil(weightKg) * (rates[zone] as number);
}
`;
const FIXED_SHIPPING = `export function shipping(weightKg: number, zone: string): number {
  const rates: Record<string, number> = { home: 5, abroad: 20 };
  const rate = rates[zone];
  if (rate === undefined) throw new RangeError(\`unknown zone: \${zone}\`);
  return Math.ceil(weightKg) * rate;
}
`;
/** Three tests on the base. */
const SHIPPING_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shipping } from '../src/shipping.js';

test('home costs 5 a kilo', () => {
  assert.equal(shipping(2, 'home'), 10);
});

test('abroad costs 20 a kilo', () => {
  assert.equal(shipping(1, 'abroad'), 20);
});

test('a started kilo counts in full', () => {
  assert.equal(shipping(1.2, 'home'), 10);
});
`;
const ZONE_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shipping } from '../src/shipping.js';

test('an unknown zone is refused', () => {
  assert.throws(() => shipping(1, 'moon'), RangeError);
});
`;
const BASE_TESTS = 3;

function config(report?: { command: string }) {
  return fixesSchema.parse({
    gate: {
      steps: [
        { name: 'build', run: 'npm run build' },
        { name: 'test', run: 'npm test' },
      ],
      stepTimeoutSeconds: 120,
      ...(report ? { report } : {}),
    },
  });
}

/** A TypeScript repository (dist/ ignored, never committed) and a fix commit applying `files`. */
async function gateFor(files: Record<string, string | null>, report?: { command: string }): Promise<GateOutcome> {
  const root = tempRoot('dancer-honesty-ts-');
  const repo = path.join(root, 'repo');
  write(repo, {
    '.gitignore': 'node_modules\ndist\n.dancer\n',
    'package.json': PACKAGE,
    'tsconfig.json': TSCONFIG,
    'src/shipping.ts': SHIPPING,
    'test/shipping.test.ts': SHIPPING_TEST,
  });
  // As the demo links them: a real folder of links into Dancer's install (a link to a link under
  // the private /tmp of the sandbox would not resolve inside it).
  mkdirSync(path.join(repo, 'node_modules', '.bin'), { recursive: true });
  for (const dep of ['typescript', '@types'])
    symlinkSync(path.join(NODE_MODULES, dep), path.join(repo, 'node_modules', dep), 'dir');
  for (const bin of ['tsc'])
    symlinkSync(path.join(NODE_MODULES, '.bin', bin), path.join(repo, 'node_modules', '.bin', bin));
  const base = commitBase(repo);
  const dir = path.join(repo, '.dancer', 'worktrees', 'fix');
  const fix = await commitFix(repo, base, dir, files);
  return runGate({
    repo,
    worktree: dir,
    baseCommit: base,
    changedFiles: fix.changedFiles,
    regressionTests: [],
    requireRegression: false,
    dependenciesFrom: repo,
    config: config(report),
  });
}

const honestyOf = (o: GateOutcome) => o.steps.find((s) => s.name === 'honesty');
const baseTotal = (o: GateOutcome) =>
  (honestyOf(o)?.details as { base?: { total: { tests: number } } } | undefined)?.base?.total.tests;

describe('the honest gate on a compiled TypeScript service', () => {
  it(`builds the base and counts its ${BASE_TESTS} tests; an honest fix passes`, async () => {
    const o = await gateFor({ 'src/shipping.ts': FIXED_SHIPPING, 'test/zone.test.ts': ZONE_TEST });
    expect(o.steps.map((s) => `${s.name}:${s.ok}`)).toEqual([
      'build:true',
      'test:true',
      'honesty:true',
      'coverage:true',
    ]);
    expect(baseTotal(o)).toBe(BASE_TESTS);
    expect(honestyOf(o)?.note).toMatch(/^base: 3 tests, 3 pass.*; fix: 4 tests, 4 pass/);
    expect(o.needsHuman).toBeUndefined();
  }, 120_000);

  it('needs a human when the fix deletes one of the base tests', async () => {
    const o = await gateFor({
      'src/shipping.ts': FIXED_SHIPPING,
      'test/zone.test.ts': ZONE_TEST,
      'test/shipping.test.ts': SHIPPING_TEST.replace(/\ntest\('abroad costs[\s\S]*?\n\}\);\n/, ''),
    });
    expect(o.ok).toBe(true);
    expect(baseTotal(o)).toBe(BASE_TESTS);
    const h = honestyOf(o);
    expect(h).toMatchObject({ ok: false, status: 'needs_human' });
    expect(h?.note).toContain('dist/test/shipping.test.js: fewer tests with the fix');
    expect(o.needsHuman?.join(' ')).toContain('fewer tests with the fix');
  }, 120_000);

  it("needs a human, not a silent pass, when the base's report finds none of its test files", async () => {
    // A report pointed at the sources: node --test runs no .ts file, so the base (TypeScript
    // tests only) reports nothing, while the fix's added .mjs test is counted.
    const o = await gateFor(
      {
        'src/shipping.ts': FIXED_SHIPPING,
        'test/shipping.test.ts': SHIPPING_TEST.replace(/\ntest\('abroad costs[\s\S]*?\n\}\);\n/, ''),
        'test/zone.test.mjs': ZONE_TEST.replace('../src/shipping.js', '../dist/src/shipping.js'),
      },
      { command: 'node --test --test-reporter={reporter} --test-reporter-destination={output} test/' },
    );
    expect(o.ok).toBe(true);
    expect(baseTotal(o)).toBe(0);
    const h = honestyOf(o);
    expect(h).toMatchObject({ ok: false, status: 'needs_human' });
    expect(h?.note).toContain(
      "the base commit's test report is empty, so the fix cannot be compared: the base holds 1 test file(s)",
    );
  }, 120_000);
});
