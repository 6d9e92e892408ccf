/**
 * What the scripted model says in each fault scenario: which files Claude Code writes in the fix
 * worktree, and the outcome it submits. Only the words are scripted; the real Claude Code binary
 * runs them with its real tools.
 */
import type { ScenarioInput } from '../../src/testing/scenario.js';

const SUBMIT = 'mcp__dancer__submit_outcome';
const CWD = ['$', '{cwd}'].join('');
const inWorktree = (relative: string) => `${CWD}/${relative}`;
const EXISTING = new Set(['lib/pricing.mjs', 'lib/health.mjs', 'server.mjs', 'test/pricing.test.mjs']);

/** A fix: files to write (path -> content), its regression test, and the usage of each turn. */
export interface FixScript {
  files: Record<string, string>;
  regressionTest: string;
  summary: string;
  /** Per-turn usage (tokens), e.g. to spend the budget. */
  usage?: { input_tokens?: number; output_tokens?: number };
}

/** The good fix: a request without a sku costs 0 (and a test that fails on the base with the pattern's TypeError). */
export const GOOD_PRICING = `const TABLE = { a1: 10, b2: 20, c3: 30 };

/** Price of a sku, in cents; a request that names no sku costs 0. */
export function price(sku) {
  if (!sku) return 0;
  return TABLE[sku.toLowerCase()];
}
`;

export const MISSING_SKU_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { price } from '../lib/pricing.mjs';

// Regression test for the pattern "price failed": TypeError reading toLowerCase of null.
test('a request without a sku costs 0', () => assert.equal(price(null), 0));
`;

/** The scripted conversation of one fix: read what it overwrites, write, submit. */
export function fixScenario(fix: FixScript): ScenarioInput {
  const reads = Object.keys(fix.files).filter((f) => EXISTING.has(f));
  const usage = fix.usage;
  return {
    ...(usage ? { usage } : {}),
    turns: [
      {
        text: 'The errors come from price() when a request names no sku. Let me read the code.',
        tools: (reads.length ? reads : ['lib/pricing.mjs']).map((f) => ({
          name: 'Read',
          input: { file_path: inWorktree(f) },
        })),
      },
      {
        text: 'Writing the change and its regression test.',
        tools: Object.entries(fix.files).map(([f, content]) => ({
          name: 'Write',
          input: { file_path: inWorktree(f), content },
        })),
      },
      {
        text: 'Submitting the fix.',
        tools: [
          {
            name: SUBMIT,
            input: {
              kind: 'fix',
              summary: fix.summary,
              analysis: 'Requests without a sku reach price(null), which calls toLowerCase on null: TypeError, 500.',
              rootCause: 'price() assumes every request names a sku.',
              filesChanged: Object.keys(fix.files),
              regressionTest: fix.regressionTest,
              risk: 'low',
              confidence: 0.8,
            },
          },
        ],
      },
      { text: 'Done.' },
    ],
  };
}

/** The good fix as a scripted conversation. */
export function goodFix(extra: Partial<FixScript> = {}): ScenarioInput {
  return fixScenario({
    files: { 'lib/pricing.mjs': GOOD_PRICING, 'test/missing-sku.test.mjs': MISSING_SKU_TEST },
    regressionTest: 'test/missing-sku.test.mjs',
    summary: 'A request without a sku costs 0',
    ...extra,
  });
}

/** The good fix plus extra files (the fault each scenario carries). */
export function goodFixWith(files: Record<string, string>, summary: string): ScenarioInput {
  return fixScenario({
    files: { 'lib/pricing.mjs': GOOD_PRICING, 'test/missing-sku.test.mjs': MISSING_SKU_TEST, ...files },
    regressionTest: 'test/missing-sku.test.mjs',
    summary,
  });
}
