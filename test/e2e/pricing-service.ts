/**
 * The pricing service of the failure-path tests: a service shaped unlike the demo (files at the
 * repository root, no build step, `node --test`, pino on stdout, socket mode) whose `price(null)`
 * throws. Every answer names the pid and release that served it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { ScenarioInput } from '../../src/testing/scenario.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LISTEN = path.join(ROOT, 'dist/supervise/listen.js');
const PINO = path.join(ROOT, 'node_modules/pino/pino.js');

/** server.mjs; with `logAnswers` it also logs each answer at info, as many services do. */
export function pricingServer(options: { logAnswers: boolean }): string {
  const answered = options.logAnswers ? "\n    log.info({ path: url.pathname, status: 200 }, 'priced');" : '';
  return `import http from 'node:http';
import pino from ${JSON.stringify(PINO)};
import { listen } from ${JSON.stringify(LISTEN)};
import { price } from './pricing.mjs';
const log = pino();
const release = process.env.DANCER_RELEASE ?? '';
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/healthz') return void res.writeHead(200).end();
  try {
    const p = price(url.searchParams.get('sku'));
    res.end(process.pid + ' ' + release + ' ' + p + '\\n');${answered}
  } catch (err) {
    log.error({ err }, 'price failed');
    res.writeHead(500).end(process.pid + ' ' + release + ' error\\n');
  }
});
await listen(server);
`;
}

/** The base: a missing sku makes `price` throw a TypeError. */
export const PRICING = `const TABLE = { a1: 10, b2: 20 };
export function price(sku) {
  return TABLE[sku.toLowerCase()] * 1;
}
`;

/** The base's own test. */
export const PRICING_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { price } from '../pricing.mjs';
test('b2 costs 20', () => assert.equal(price('b2'), 20));
`;

/** Plausible and wrong: a missing sku costs 0, but every sku other than b2 now throws. */
export const WRONG_PRICING = `const TABLE = { a1: 10, b2: 20 };
export function price(sku) {
  if (!sku) return 0;
  if (sku !== 'b2') throw new RangeError('no price table for ' + sku);
  return TABLE[sku];
}
`;

/** The fix's regression test: fails on the base (price(null) throws), passes on either fix. */
export const REGRESSION_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { price } from '../pricing.mjs';
test('a missing sku costs 0', () => assert.equal(price(null), 0));
test('b2 still costs 20', () => assert.equal(price('b2'), 20));
`;

/**
 * Write the service and `dancer.yaml` (`config`) into a new git repository at `repo` and commit
 * it on main; returns a git runner in `repo`.
 */
export function initPricingRepo(
  repo: string,
  config: Record<string, unknown>,
  options: { logAnswers: boolean },
): (...args: string[]) => string {
  mkdirSync(path.join(repo, 'test'), { recursive: true });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'T');
  git('config', 'user.email', 't@e');
  writeFileSync(path.join(repo, '.gitignore'), '.dancer/\n');
  writeFileSync(path.join(repo, 'server.mjs'), pricingServer(options));
  writeFileSync(path.join(repo, 'pricing.mjs'), PRICING);
  writeFileSync(path.join(repo, 'test/pricing.test.mjs'), PRICING_TEST);
  writeFileSync(path.join(repo, 'dancer.yaml'), stringify(config));
  git('add', '-A');
  git('commit', '-q', '-m', 'shop');
  return git;
}

const CWD = ['$', '{cwd}'].join('');

/**
 * What the scripted model makes the real Claude Code binary do about `price(null)`: read `read`,
 * write `pricing` and {@link REGRESSION_TEST}, submit a low-risk fix saying `summary`, `analysis`
 * and `rootCause`.
 */
export function pricingFixScenario(o: {
  pricing: string;
  summary: string;
  read: string[];
  analysis: string;
  rootCause: string;
}): ScenarioInput {
  return {
    turns: [
      {
        text: 'A missing sku makes price() throw. Reading the code.',
        tools: o.read.map((file) => ({ name: 'Read', input: { file_path: `${CWD}/${file}` } })),
      },
      {
        text: 'Fixing price() and adding a regression test.',
        tools: [
          { name: 'Write', input: { file_path: `${CWD}/pricing.mjs`, content: o.pricing } },
          { name: 'Write', input: { file_path: `${CWD}/test/missing-sku.test.mjs`, content: REGRESSION_TEST } },
        ],
      },
      {
        text: 'Submitting.',
        tools: [
          {
            name: 'mcp__dancer__submit_outcome',
            input: {
              kind: 'fix',
              summary: o.summary,
              analysis: o.analysis,
              rootCause: o.rootCause,
              filesChanged: ['pricing.mjs', 'test/missing-sku.test.mjs'],
              regressionTest: 'test/missing-sku.test.mjs',
              risk: 'low',
              confidence: 0.7,
            },
          },
        ],
      },
      { text: 'Done.' },
    ],
  };
}
