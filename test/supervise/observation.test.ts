import { describe, expect, it } from 'vitest';
import { nextObservationStep, type ObserveConfig } from '../../src/supervise/observation.js';
import { smokeFailure } from '../../src/supervise/smoke.js';
import { proposeSmoke, smokeYaml } from '../../src/supervise/smoke-proposal.js';
import type { PeriodStats } from '../../src/supervise/verdict.js';

const observe: ObserveConfig = {
  windowSeconds: 60,
  baselineSeconds: 900,
  checkEverySeconds: 5,
  errorRateIncrease: 0.5,
  minErrors: 5,
  rssIncrease: 0.5,
  newPatternMin: 5,
  latencyIncrease: 1,
  latencyMinMs: 50,
  minRecords: 20,
  maxExtensions: 1,
};
const stats = (over: Partial<PeriodStats> = {}): PeriodStats => ({
  durationMs: 60_000,
  records: 100,
  errors: 2,
  crashes: 0,
  ...over,
});

describe('the observation step on a fake clock', () => {
  const deploy = { startedAt: 1_000, readyAt: 2_000, extensions: 0 };
  const step = (now: number, over: Partial<Parameters<typeof nextObservationStep>[0]> = {}) =>
    nextObservationStep({
      deploy,
      observe,
      now,
      baseline: stats(),
      window: stats({ durationMs: now - 2_000 }),
      newPatterns: [],
      crashLoop: false,
      ...over,
    });

  it('keeps watching until the window ends, then passes', () => {
    expect(step(2_000 + 30_000).kind).toBe('continue');
    expect(step(2_000 + 60_000).kind).toBe('pass');
  });

  it('extends a quiet window by one window length, then asks a human', () => {
    const quiet = stats({ records: 3, errors: 0 });
    const first = step(62_000, { window: quiet });
    expect(first).toMatchObject({ kind: 'extend', extensions: 1, windowEndsAt: 2_000 + 120_000 });
    const later = step(122_000, { window: quiet, deploy: { ...deploy, extensions: 1 } });
    expect(later.kind).toBe('inconclusive');
  });

  it('rolls back at once on a crash loop, naming the trigger', () => {
    const s = step(3_000, { crashLoop: true });
    expect(s.kind).toBe('rollback');
    expect(s.kind === 'rollback' && s.reason).toBe('crash_loop');
  });
});

describe('smoke answers', () => {
  const r = (path: string, status: number | number[]) => ({ method: 'GET', path, status });
  it('passes when every request answers a wanted status', () => {
    expect(
      smokeFailure([
        { request: r('/a', 200), status: 200 },
        { request: r('/b', [200, 404]), status: 404 },
      ]),
    ).toBe(undefined);
  });
  it('names the first request that answered wrong or not at all', () => {
    expect(smokeFailure([{ request: r('/a', 200), status: 500 }])).toBe('GET /a answered 500 (want 200)');
    expect(smokeFailure([{ request: r('/a', 200), error: 'ECONNRESET' }])).toBe('GET /a failed: ECONNRESET');
  });
});

describe('smoke proposals for dancer init', () => {
  it('proposes GET paths that reliably answered 2xx, most used first, and nothing data-dependent', () => {
    const p = proposeSmoke([
      { method: 'GET', path: '/healthz', status: 200, count: 50 },
      { method: 'GET', path: '/price', status: 200, count: 120 },
      { method: 'GET', path: '/price', status: 500, count: 2 },
      { method: 'GET', path: '/flaky', status: 200, count: 10 },
      { method: 'GET', path: '/flaky', status: 500, count: 5 },
      { method: 'POST', path: '/orders', status: 201, count: 80 },
      { method: 'GET', path: '/orders/123', status: 200, count: 90 },
      { method: 'GET', path: '/rare', status: 200, count: 2 },
    ]);
    expect(p).toEqual([
      { method: 'GET', path: '/price', status: 200 },
      { method: 'GET', path: '/healthz', status: 200 },
    ]);
    expect(smokeYaml(p)).toContain('    - { method: GET, path: "/price", status: 200 }');
    expect(smokeYaml([])).toBe('');
  });
});
