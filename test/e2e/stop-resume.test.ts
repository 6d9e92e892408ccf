/**
 * Dancer surviving its own failures and obeying a human, one service across two supervisors:
 * 1. `kill -9` of `dancer run` while a fix is in the gate; a new `dancer run` with the same config
 *    resumes the fix and deploys it;
 * 2. `dancer stop` while a fix deploys: the loop aborts, the service keeps answering, the flag
 *    stays in the store until `dancer resume` clears it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goodEurScenario, goodFixScenario } from '../../src/demo/scenarios.js';
import { waitFor } from './helpers.js';
import { eurOrders, type FixRow, lowerCoupons, mix, Stack } from './stack.js';

const TERMINAL = ['deployed', 'failed', 'rejected', 'rolled_back', 'superseded'];
let stack: Stack;
let first: FixRow;

beforeAll(async () => {
  stack = await Stack.create(goodFixScenario());
  await stack.startSupervisor();
}, 150_000);

afterAll(async () => {
  const stray = await stack?.stop();
  expect(stray, 'processes left under the test dir').toEqual([]);
}, 60_000);

const flag = () =>
  stack.query<{ name: string; reason: string | null }>(
    "SELECT name, reason FROM flags WHERE name = 'emergency_stop'",
  )[0];

async function keepsServing(okMore: number): Promise<void> {
  const traffic = stack.traffic;
  if (!traffic) throw new Error('no traffic');
  const before = traffic.stats();
  await waitFor(`${okMore} more good answers`, 30_000, () =>
    traffic.stats().ok >= before.ok + okMore ? true : undefined,
  );
  expect(traffic.stats().failed).toBe(before.failed);
}

describe('recovery and the emergency stop', () => {
  it('a supervisor killed with SIGKILL mid-gate is resumed by the next dancer run', { timeout: 300_000 }, async () => {
    stack.startTraffic(mix(lowerCoupons));
    const testing = await stack.fixIn(['testing'], 150_000);
    const killed = stack.supervisor;
    killed?.kill('SIGKILL');
    await waitFor('the supervisor to die', 10_000, () => (killed?.signalCode === 'SIGKILL' ? true : undefined));

    await stack.startSupervisor();
    first = await stack.fixIn(TERMINAL, 200_000);
    expect(first.id).toBe(testing.id);
    expect(first.state, stack.log()).toBe('deployed');
    // The pipeline was resumed, not restarted from scratch: the same fix, one creation event.
    expect(stack.fixes().filter((f) => f.pattern_id === first.pattern_id)).toHaveLength(1);
    await keepsServing(20);
  });

  it('dancer stop mid-deploy aborts the loop, keeps the service up, and persists until resume', {
    timeout: 300_000,
  }, async () => {
    stack.model.setScenario(goodEurScenario());
    stack.traffic?.setNext(mix(eurOrders));
    const deploying = await stack.fixIn(['deploying', 'observing'], 200_000, [first.id]);

    const stop = await stack.dancer(['stop', '--reason', 'e2e: stop mid-deploy', '--json']);
    expect(JSON.parse(stop.stdout).engaged).toBe(true);
    await waitFor('the loop to see the stop', 20_000, () =>
      stack.log().includes('emergency stop engaged') ? true : undefined,
    );
    expect(flag()?.reason).toBe('e2e: stop mid-deploy');

    // The halt lets the starting release settle, then rolls back the release in observation:
    // the fix ends rolled back by the human who stopped, and the old release serves throughout.
    const ended = await stack.fixIn(['rolled_back', 'deployed', 'failed'], 120_000, [first.id]);
    expect(ended.id).toBe(deploying.id);
    expect(ended.state, stack.log()).toBe('rolled_back');
    const event = stack.query<{ actor: string; reason: string }>(
      "SELECT actor, reason FROM fix_events WHERE fix_id = ? AND to_state = 'rolled_back'",
      ended.id,
    )[0];
    expect(event?.actor).toMatch(/^human:/);
    expect(event?.reason).toContain('emergency stop');
    await keepsServing(40);

    // The flag survives (it is in the store, not in the supervisor's memory) until resume.
    expect(flag()?.reason).toBe('e2e: stop mid-deploy');
    const resume = await stack.dancer(['resume', '--json']);
    expect(JSON.parse(resume.stdout)).toEqual({ engaged: false, wasEngaged: true });
    expect(flag()).toBeUndefined();
    await waitFor('the loop to resume', 20_000, () =>
      stack.log().includes('emergency stop cleared') ? true : undefined,
    );
    await keepsServing(20);
  });
});
