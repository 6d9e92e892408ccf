/**
 * Test helpers for the fix pipeline: a real git repository holding the ts-service fixture in a
 * temp dir, a real SQLite store, the real tsc, and fake agents that write real code.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { fixesSchema, policySchema } from '../../src/config/schema/fixes.js';
import type { PipelineDeps } from '../../src/fixes/pipeline.js';
import type { AgentOutcome, RunAgent } from '../../src/fixes/types.js';
import { type Db, openStore } from '../../src/store/open.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The fixture service template. */
export const FIXTURE = path.resolve(here, '../fixtures/ts-service');
/** The repository's own TypeScript compiler. */
export const TSC = path.resolve(here, '../../node_modules/typescript/bin/tsc');

/** Run git in `cwd` (tests only). */
export function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** A temp folder holding `repo/` (a git repo of the fixture on `main`), `worktrees/` and `dancer.db`. */
export interface ServiceRepo {
  root: string;
  repo: string;
  worktreeBase: string;
  dbFile: string;
}

const roots: string[] = [];
// Temp repos go when the test process ends (set DANCER_KEEP_TMP=1 to keep them for a post-mortem).
afterAll(() => {
  if (process.env.DANCER_KEEP_TMP) return;
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** Copy the fixture into a fresh git repository with its own identity (never global config). */
export function makeServiceRepo(prefix = 'dancer-fixes-'): ServiceRepo {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  roots.push(root);
  const repo = path.join(root, 'repo');
  cpSync(FIXTURE, repo, { recursive: true });
  sh(repo, 'init', '-q', '-b', 'main');
  sh(repo, 'config', 'user.name', 'Test Human');
  sh(repo, 'config', 'user.email', 'human@example.com');
  sh(repo, 'config', 'commit.gpgsign', 'false');
  sh(repo, 'add', '-A');
  sh(repo, 'commit', '-q', '-m', 'Initial service');
  return { root, repo, worktreeBase: path.join(root, 'worktrees'), dbFile: path.join(root, 'dancer.db') };
}

/** The `fixes:` section the tests use: typecheck with the real tsc, `node --test`, regression both ways. */
export function testFixesConfig(overrides: Record<string, unknown> = {}) {
  return fixesSchema.parse({
    gate: {
      steps: [
        { name: 'typecheck', run: `${process.execPath} ${TSC} -p .` },
        { name: 'test', run: `${process.execPath} --test test/` },
      ],
      stepTimeoutSeconds: 60,
      regression: { command: `${process.execPath} --test {file}` },
    },
    ...overrides,
  });
}

/** The default policy, with overrides. */
export function testPolicy(overrides: Record<string, unknown> = {}) {
  return policySchema.parse(overrides);
}

/** Pipeline deps over `r` with `runAgent`. */
export function depsFor(
  r: ServiceRepo,
  runAgent: RunAgent,
  extra: Partial<PipelineDeps> = {},
): PipelineDeps & { db: Db } {
  return {
    db: openStore(r.dbFile),
    repo: r.repo,
    worktreeBase: r.worktreeBase,
    fixes: testFixesConfig(),
    policy: testPolicy(),
    runAgent,
    ...extra,
  } as PipelineDeps & { db: Db };
}

/** The fixed `src/cart.mjs`. */
export const FIXED_CART = (original: string) =>
  original.replace('.reduce((a, b) => a + b);', '.reduce((a, b) => a + b, 0);');

/** A regression test that fails on the base (empty cart throws) and passes with the fix. */
export const EMPTY_CART_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { total } from '../src/cart.mjs';

test('an empty cart totals 0', () => {
  assert.equal(total([]), 0);
});
`;

function edit(dir: string, file: string, fn: (s: string) => string): void {
  const p = path.join(dir, file);
  writeFileSync(p, fn(readFileSync(p, 'utf8')));
}

/** The outcome a good agent reports. */
export const GOOD_OUTCOME: AgentOutcome = {
  kind: 'fix',
  summary: 'Total an empty cart as 0 instead of throwing',
  analysis: 'POST /total with [] throws TypeError from Array.prototype.reduce; give reduce an initial value.',
  rootCause: 'reduce() without an initial value throws on an empty array.',
  filesChanged: ['src/cart.mjs', 'test/cart-empty.test.mjs'],
  regressionTest: 'test/cart-empty.test.mjs',
  risk: 'low',
  confidence: 0.9,
  costUsd: 0.0421,
  consultationId: 'c-1',
};

/** An agent that writes the right fix and a regression test. */
export const goodAgent: RunAgent = async (dir) => {
  edit(dir, 'src/cart.mjs', FIXED_CART);
  writeFileSync(path.join(dir, 'test/cart-empty.test.mjs'), EMPTY_CART_TEST);
  return { ...GOOD_OUTCOME };
};

/** An agent whose fix does not type-check. */
export const brokenBuildAgent: RunAgent = async (dir) => {
  edit(dir, 'src/cart.mjs', (s) => `${FIXED_CART(s)}\n/** @type {number} */\nexport const broken = 'not a number';\n`);
  writeFileSync(path.join(dir, 'test/cart-empty.test.mjs'), EMPTY_CART_TEST);
  return { ...GOOD_OUTCOME };
};

/** An agent whose "regression test" already passes on the base commit. */
export const weakTestAgent: RunAgent = async (dir) => {
  edit(dir, 'src/cart.mjs', FIXED_CART);
  writeFileSync(
    path.join(dir, 'test/cart-weak.test.mjs'),
    `import assert from 'node:assert/strict';\nimport { test } from 'node:test';\nimport { total } from '../src/cart.mjs';\n\ntest('one apple', () => {\n  assert.equal(total([{ sku: 'apple', quantity: 1 }]), 50);\n});\n`,
  );
  return {
    ...GOOD_OUTCOME,
    regressionTest: 'test/cart-weak.test.mjs',
    filesChanged: ['src/cart.mjs', 'test/cart-weak.test.mjs'],
  };
};
