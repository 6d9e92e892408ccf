import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideRestart, NO_RESTARTS, type RestartHistory } from '../../src/supervise/restart-policy.js';

const policy = { maxRestarts: 3, withinMs: 10_000, backoffInitialMs: 100, backoffMaxMs: 1000 };

describe('decideRestart', () => {
  it('backs off exponentially and gives up past R restarts in T', () => {
    let h: RestartHistory = NO_RESTARTS;
    const delays: number[] = [];
    for (const t of [0, 1000, 2000]) {
      const d = decideRestart(h, t, policy);
      expect(d.action).toBe('restart');
      if (d.action === 'restart') delays.push(d.delayMs);
      h = d.history;
    }
    expect(delays).toEqual([100, 200, 400]);
    const last = decideRestart(h, 3000, policy);
    expect(last.action).toBe('give_up');
  });

  it('forgets restarts older than the period', () => {
    const h = { restarts: [0, 1000, 2000] };
    const d = decideRestart(h, 12_500, policy);
    expect(d.action).toBe('restart');
    if (d.action === 'restart') {
      expect(d.attempt).toBe(1);
      expect(d.history.restarts).toEqual([12_500]);
    }
  });

  it('never allows more than maxRestarts inside any period, and delays stay within bounds', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 60 }), (gaps) => {
        let h: RestartHistory = NO_RESTARTS;
        let t = 0;
        const restarts: number[] = [];
        for (const g of gaps) {
          t += g;
          const d = decideRestart(h, t, policy);
          h = d.history;
          if (d.action === 'restart') {
            expect(d.delayMs).toBeGreaterThanOrEqual(policy.backoffInitialMs);
            expect(d.delayMs).toBeLessThanOrEqual(policy.backoffMaxMs);
            restarts.push(t);
          }
        }
        for (const r of restarts) {
          expect(restarts.filter((x) => x > r - policy.withinMs && x <= r).length).toBeLessThanOrEqual(
            policy.maxRestarts,
          );
        }
      }),
    );
  });
});
