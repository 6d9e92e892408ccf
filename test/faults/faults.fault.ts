/**
 * The fault suite (`npm run faults`): each scenario injects one fault into a real supervised shop
 * (`dancer run`, real Claude Code against the scripted model server, real git, gate and
 * deploys), under steady traffic, and must end on the last good release with its audit rows and
 * no request dropped. Each row goes into docs/reliability.md with its figures.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ScenarioInput } from '../../src/testing/scenario.js';
import { fixScenario, GOOD_PRICING, goodFix, goodFixWith } from './agent.js';
import { removeTemplate, ShopStack, TERMINAL } from './fixture.js';
import { finish } from './run.js';

let stack: ShopStack | undefined;
const cleanups: Array<() => void> = [];

afterEach(async () => {
  // Mounts first (a lazy unmount), so removing the scenario folder never meets a busy mount point.
  while (cleanups.length) cleanups.pop()!();
  const stray = await stack?.stop();
  stack = undefined;
  expect(stray ?? [], 'processes left under the scenario folder').toEqual([]);
}, 60_000);

afterAll(() => removeTemplate());

/** Start a stack for `scenario` with traffic, wait until a fix ends, return it. */
async function runToEnd(scenario: ScenarioInput, overrides: Record<string, unknown> = {}, timeoutMs = 300_000) {
  stack = await ShopStack.create(scenario, overrides);
  await stack.startSupervisor();
  stack.startTraffic();
  return { stack, fix: await stack.fixIn(TERMINAL, timeoutMs) };
}

function gateStep(s: ShopStack, fixId: number, name: string) {
  return s.query<{ ok: number; output_tail: string }>(
    'SELECT ok, output_tail FROM gate_steps WHERE fix_id = ? AND name = ? ORDER BY id DESC',
    fixId,
    name,
  )[0];
}

/** A pricing module the fix writes: the good one with `line` added at the top (module scope). */
const pricingWith = (line: string) => `${line}\n${GOOD_PRICING}`;

describe('faults in the fix: the gate refuses it', () => {
  it('build-fails', async () => {
    const t0 = Date.now();
    const { stack: s, fix } = await runToEnd(
      goodFixWith({ 'lib/pricing.mjs': pricingWith('export const broken = ;') }, 'A request without a sku costs 0'),
    );
    await finish(s, { id: 'build-fails', startedAt: t0 });
    expect(fix.state).toBe('failed');
    expect(gateStep(s, fix.id, 'build')?.ok).toBe(0);
    expect(s.deploys()).toEqual([]);
  });

  it('tests-fail', async () => {
    const t0 = Date.now();
    // Looks the sku up as given: B2 no longer costs 20 (an existing test says it must).
    const caseSensitive = GOOD_PRICING.replace('TABLE[sku.toLowerCase()]', 'TABLE[sku]');
    const { stack: s, fix } = await runToEnd(
      goodFixWith({ 'lib/pricing.mjs': caseSensitive }, 'A request without a sku costs 0'),
    );
    await finish(s, { id: 'tests-fail', startedAt: t0 });
    expect(fix.state).toBe('failed');
    expect(gateStep(s, fix.id, 'test')?.ok).toBe(0);
    expect(s.deploys()).toEqual([]);
  });

  it('regression-passes-on-base', async () => {
    const t0 = Date.now();
    const alwaysPasses = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { price } from '../lib/pricing.mjs';

test('a1 still costs 10', () => assert.equal(price('a1'), 10));
`;
    const { stack: s, fix } = await runToEnd(
      fixScenario({
        files: { 'lib/pricing.mjs': GOOD_PRICING, 'test/a1.test.mjs': alwaysPasses },
        regressionTest: 'test/a1.test.mjs',
        summary: 'A request without a sku costs 0',
      }),
    );
    await finish(s, { id: 'regression-passes-on-base', startedAt: t0 });
    expect(fix.state).toBe('failed');
    expect(gateStep(s, fix.id, 'regression:base')?.ok).toBe(0);
    expect(s.deploys()).toEqual([]);
  });
});

describe('faults in the new release: the deploy or the observation rolls it back', () => {
  it('crash-loop', async () => {
    const t0 = Date.now();
    const crash = pricingWith(
      "if (process.env.NODE_ENV === 'production' && !process.env.RATES_URL) throw new Error('RATES_URL is required in production');",
    );
    const { stack: s, fix } = await runToEnd(goodFixWith({ 'lib/pricing.mjs': crash }, 'Price without a sku: 0'));
    await finish(s, { id: 'crash-loop', startedAt: t0 });
    expect(fix.state).toMatch(/rolled_back|failed/);
  });

  it('readiness-fails', async () => {
    const t0 = Date.now();
    const health = `/** Readiness: true when the service can answer (a warm cache in production). */
export function healthy() {
  return process.env.NODE_ENV !== 'production';
}
`;
    const { stack: s, fix } = await runToEnd(goodFixWith({ 'lib/health.mjs': health }, 'Price without a sku: 0'), {
      service: { readiness: { timeoutSeconds: 10 } },
    });
    await finish(s, { id: 'readiness-fails', startedAt: t0 });
    expect(fix.state).toMatch(/rolled_back|failed/);
  });

  it('error-rate', async () => {
    const t0 = Date.now();
    // Production looks skus up in a catalogue that lacks them: the same TypeError as the bug, for
    // three quarters of the traffic instead of a quarter. (A doubling sits too close to the +50 %
    // threshold for the rate test when the bug's baseline is only seconds long: no evidence either way.)
    const worse = GOOD_PRICING.replace(
      'return TABLE[sku.toLowerCase()];',
      "const key = process.env.NODE_ENV === 'production' ? null : sku;\n  return TABLE[key.toLowerCase()];",
    );
    // A window long enough for a doubling to be significantly above the +50 % threshold.
    const { stack: s, fix } = await runToEnd(goodFixWith({ 'lib/pricing.mjs': worse }, 'Price without a sku: 0'), {
      service: { observe: { windowSeconds: 15 } },
    });
    await finish(s, { id: 'error-rate', startedAt: t0 });
    expect(fix.state).toBe('rolled_back');
    expect(fix.reason).toMatch(/error rate|target pattern/);
  });

  it('memory-spike', async () => {
    const t0 = Date.now();
    const ballast = pricingWith(
      "export const ballast = process.env.NODE_ENV === 'production' ? Buffer.alloc(256 * 1024 * 1024, 1) : undefined;",
    );
    const { stack: s, fix } = await runToEnd(goodFixWith({ 'lib/pricing.mjs': ballast }, 'Price without a sku: 0'));
    await finish(s, { id: 'memory-spike', startedAt: t0 });
    expect(fix.state).toBe('rolled_back');
    expect(fix.reason).toMatch(/RSS/);
  });

  it('new-error-pattern', async () => {
    const t0 = Date.now();
    const range = GOOD_PRICING.replace(
      'return TABLE[sku.toLowerCase()];',
      "if (process.env.NODE_ENV === 'production' && sku === 'c3') throw new RangeError('no price table for ' + sku);\n  return TABLE[sku.toLowerCase()];",
    );
    const { stack: s, fix } = await runToEnd(goodFixWith({ 'lib/pricing.mjs': range }, 'Price without a sku: 0'));
    await finish(s, { id: 'new-error-pattern', startedAt: t0 });
    expect(fix.state).toBe('rolled_back');
    expect(fix.reason).toMatch(/new error pattern/);
  });
});

describe('faults around Dancer: the model, the budget, the disk, a human stop', () => {
  it('model-529', async () => {
    const t0 = Date.now();
    const scenario = goodFix();
    const first = scenario.turns[0] as Record<string, unknown>;
    first.fault = { status: 529, times: 2, message: 'Overloaded' };
    const { stack: s, fix } = await runToEnd(scenario);
    const requests = s.model.recordFile ? execFileSync('wc', ['-l', s.model.recordFile], { encoding: 'utf8' }) : '';
    // Detect: the consultation's length, retries included (the fix itself then deploys).
    const events = s.events(fix.id);
    const consulted = events.find((e) => e.to_state === 'testing')!.ts - events[0]!.ts;
    await finish(s, { id: 'model-529', startedAt: t0, detectMs: consulted, recoverMs: 0 });
    expect(fix.state).toBe('deployed');
    expect(Number.parseInt(requests, 10)).toBeGreaterThanOrEqual(6);
  });

  it('model-timeout', async () => {
    const t0 = Date.now();
    const scenario = goodFix();
    const first = scenario.turns[0] as Record<string, unknown>;
    first.delayMs = 600_000; // the stream stalls after its first event
    const { stack: s, fix } = await runToEnd(scenario, {
      consult: { routine: { timeoutSeconds: 15 }, urgent: { timeoutSeconds: 15 } },
    });
    await finish(s, { id: 'model-timeout', startedAt: t0 });
    expect(fix.state).toBe('failed');
  });

  it('budget-spent', async () => {
    const t0 = Date.now();
    // Every turn is priced at 2 M input tokens; a routine consultation may spend $0.50.
    const scenario = goodFix({ usage: { input_tokens: 2_000_000 } });
    const { stack: s, fix } = await runToEnd(scenario, {
      consult: { routine: { maxBudgetUsd: 0.5 }, urgent: { maxBudgetUsd: 0.5 } },
    });
    await finish(s, { id: 'budget-spent', startedAt: t0 });
    expect(fix.state).toBe('failed');
    expect(s.deploys()).toEqual([]);
  });

  it('disk-full', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip(); // mounting a tmpfs needs root (CI runs as root)
    const t0 = Date.now();
    stack = await ShopStack.create(goodFix());
    const worktrees = path.join(stack.repo, '.dancer', 'worktrees');
    mkdirSync(worktrees, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', worktrees]);
    cleanups.push(() => execFileSync('umount', ['-l', worktrees]));
    try {
      writeFileSync(path.join(worktrees, 'fill'), Buffer.alloc(4 * 1024 * 1024));
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    await stack.startSupervisor();
    stack.startTraffic();
    const fix = await stack.fixIn(TERMINAL, 150_000);
    await finish(stack, { id: 'disk-full', startedAt: t0 });
    expect(fix.state).toBe('failed');
    expect(stack.supervisor?.exitCode).toBeNull();
  });

  it('stop-mid-deploy', async () => {
    const t0 = Date.now();
    stack = await ShopStack.create(goodFix());
    await stack.startSupervisor();
    stack.startTraffic();
    const deploying = await stack.fixIn(['deploying'], 150_000);
    const stoppedAt = Date.now();
    await stack.dancer(['stop', '--reason', 'faults: stop mid-deploy']);
    const ended = await stack.fixIn(['rolled_back', 'deployed', 'failed'], 90_000);
    expect(ended.id).toBe(deploying.id);
    const rolledAt = stack.events(ended.id).find((e) => e.to_state === ended.state)?.ts ?? Date.now();
    const result = await finish(stack, { id: 'stop-mid-deploy', startedAt: t0, detectMs: rolledAt - stoppedAt });
    expect(ended.state).toBe('rolled_back');
    expect(result.audit).toMatch(/stop/);
    await stack.dancer(['resume']);
  });
});
