/**
 * The gate and the deploy guarding the service, one `dancer run` for both:
 * 1. the agent's first fix breaks the build (a type error); in the repair round it corrects it
 *    and the fix deploys with repair_rounds = 1;
 * 2. a later fix whose release crashes at start is rolled back, and the old release keeps serving.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crashAtStartScenario, repairScenario } from '../../src/demo/scenarios.js';
import { readRecording } from '../../src/testing/model-server.js';
import { eurOrders, type FixRow, lowerCoupons, mix, Stack } from './stack.js';

const TERMINAL = ['deployed', 'failed', 'rejected', 'rolled_back', 'superseded'];
let stack: Stack;
let repaired: FixRow;

beforeAll(async () => {
  stack = await Stack.create(repairScenario());
  await stack.startSupervisor();
}, 150_000);

afterAll(async () => {
  const stray = await stack?.stop();
  expect(stray, 'processes left under the test dir').toEqual([]);
}, 60_000);

const git = (args: string[]) => execFileSync('git', args, { cwd: stack.repo.repo, encoding: 'utf8' }).trim();

describe('the gate and the deploy guard the service', () => {
  it('a build the agent broke is repaired in a second round and deploys', { timeout: 240_000 }, async () => {
    const traffic = stack.startTraffic(mix(lowerCoupons));
    repaired = await stack.fixIn(TERMINAL, 220_000);
    expect(repaired.state, stack.log()).toBe('deployed');
    expect(repaired.repair_rounds).toBe(1);

    const steps = stack.query<{ round: number; name: string; ok: number; output_tail: string }>(
      'SELECT round, name, ok, output_tail FROM gate_steps WHERE fix_id = ? ORDER BY round, seq',
      repaired.id,
    );
    const round0Build = steps.find((s) => s.round === 0 && s.name === 'build');
    expect(round0Build?.ok).toBe(0);
    expect(round0Build?.output_tail).toMatch(/TS2322|not assignable/);
    expect(steps.filter((s) => s.round === 1).every((s) => s.ok === 1)).toBe(true);
    expect(steps.some((s) => s.round === 1 && s.name === 'build')).toBe(true);

    // The repair consultation was told which step failed, with the failing output.
    const prompts = readRecording(path.join(stack.root, 'model-requests.jsonl')).map((r) => JSON.stringify(r));
    expect(prompts.some((p) => p.includes('Repair round 1') && p.includes('build'))).toBe(true);

    // Live code: the fix without the stray line.
    const pricing = readFileSync(path.join(stack.repo.repo, 'src', 'pricing.ts'), 'utf8');
    expect(pricing).toContain('code.trim().toUpperCase()');
    expect(pricing).not.toContain('percentLabel');
    expect(traffic.stats().failed).toBe(0);
  });

  it('a release that crashes at start is rolled back and the old one keeps serving', { timeout: 240_000 }, async () => {
    const traffic = stack.traffic;
    if (!traffic) throw new Error('no traffic');
    stack.model.setScenario(crashAtStartScenario());
    traffic.setNext(mix(eurOrders));
    const head = git(['rev-parse', 'main']);
    const crashing = await stack.fixIn(TERMINAL, 220_000, [repaired.id]);
    expect(crashing.state, stack.log()).toBe('rolled_back');

    const deploy = stack.query<{ status: string; reason: string | null }>(
      "SELECT status, reason FROM deploys WHERE fix_id = ? AND kind = 'deploy'",
      crashing.id,
    )[0];
    expect(deploy?.status, stack.log()).toMatch(/rolled_back|failed/);

    // Main was reverted: the crashing line is not in the code any more, and the coupon fix stays.
    expect(git(['rev-parse', 'main'])).not.toBe(head);
    const server = readFileSync(path.join(stack.repo.repo, 'src', 'server.ts'), 'utf8');
    expect(server).not.toContain('RATES_URL');
    expect(readFileSync(path.join(stack.repo.repo, 'src', 'pricing.ts'), 'utf8')).toContain(
      'code.trim().toUpperCase()',
    );

    // The old release kept serving: no request dropped, and it still answers after the rollback.
    const before = traffic.stats();
    const deadline = Date.now() + 30_000;
    while (traffic.stats().ok < before.ok + 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    const after = traffic.stats();
    expect(after.ok).toBeGreaterThanOrEqual(before.ok + 20);
    expect(after.failed).toBe(0);
  });
});
