/**
 * Consultations that end without a code change: `ignore` (the pattern becomes `ignored`) and
 * `escalate` (the pattern goes back to `known`, the reason is kept). One `dancer run` serves both:
 * the lower-case coupon bug is judged noise, then the EUR refusals are escalated.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escalateScenario, ignoreScenario } from '../../src/demo/scenarios.js';
import { waitFor } from './helpers.js';
import { eurOrders, type FixRow, lowerCoupons, mix, Stack } from './stack.js';

let stack: Stack;
let ignored: FixRow;

beforeAll(async () => {
  stack = await Stack.create(
    ignoreScenario('Lower-case coupons come from a retired marketing campaign; the 500 is expected.'),
  );
  await stack.startSupervisor();
}, 150_000);

afterAll(async () => {
  const stray = await stack?.stop();
  expect(stray, 'processes left under the test dir').toEqual([]);
}, 60_000);

describe('consultations that end without a fix', () => {
  it('ignore: the agent rejects the fix and the pattern becomes ignored', { timeout: 240_000 }, async () => {
    stack.startTraffic(mix(lowerCoupons));
    ignored = await stack.fixIn(['rejected', 'failed', 'deployed', 'rolled_back'], 200_000);
    expect(ignored.state, stack.log()).toBe('rejected');
    const event = stack.query<{ actor: string; reason: string; details: string | null }>(
      "SELECT actor, reason, details FROM fix_events WHERE fix_id = ? AND to_state = 'rejected'",
      ignored.id,
    )[0];
    expect(event?.actor).toBe('agent');
    expect(event?.reason).toContain('ignore');
    expect(event?.reason).toContain('retired marketing campaign');
    expect(JSON.parse(event?.details ?? '{}').outcome).toBe('ignore');
    expect(await waitStatus(ignored.pattern_id, 'ignored')).toBe('ignored');
    // No fix branch is left for the rejected fix, and main is untouched.
    await waitFor('the rejected fix branch to be deleted', 20_000, () =>
      git(['branch', '--list', 'dancer/fix-*']) === '' ? true : undefined,
    );
    expect(git(['rev-list', '--count', 'main'])).toBe('1');
  });

  it('escalate: rejected, the pattern goes back to known, the reason is stored', { timeout: 240_000 }, async () => {
    stack.model.setScenario(
      escalateScenario(
        'EUR orders need exchange rates from the finance service; a human must decide.',
        'src/server.ts currency guard',
      ),
    );
    stack.traffic?.setNext(mix(eurOrders));
    const escalated = await stack.fixIn(['rejected', 'failed', 'deployed', 'rolled_back'], 200_000, [ignored.id]);
    expect(escalated.state, stack.log()).toBe('rejected');
    expect(escalated.pattern_id).not.toBe(ignored.pattern_id);
    const event = stack.query<{ reason: string; details: string | null }>(
      "SELECT reason, details FROM fix_events WHERE fix_id = ? AND to_state = 'rejected'",
      escalated.id,
    )[0];
    expect(event?.reason).toContain('escalate');
    expect(event?.reason).toContain('exchange rates from the finance service');
    expect(event?.reason).toContain('src/server.ts currency guard');
    expect(JSON.parse(event?.details ?? '{}').outcome).toBe('escalate');
    expect(await waitStatus(escalated.pattern_id, 'known')).toBe('known');
    // The ignored pattern stays ignored: its errors did not start another fix.
    expect(stack.templateStatus(ignored.pattern_id)).toBe('ignored');
    expect(stack.fixes().filter((f) => f.pattern_id === ignored.pattern_id)).toHaveLength(1);
  });
});

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: stack.repo.repo, encoding: 'utf8' }).trim();
}

async function waitStatus(patternId: string, want: string): Promise<string | undefined> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = stack.templateStatus(patternId);
    if (status === want || Date.now() > deadline) return status;
    await new Promise((r) => setTimeout(r, 200));
  }
}
