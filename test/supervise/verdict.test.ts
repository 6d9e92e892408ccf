import { describe, expect, it } from 'vitest';
import { observationPeriods } from '../../src/supervise/observation.js';
import {
  binomialTail,
  judgeWindow,
  type PeriodStats,
  p95,
  rateIncrease,
  type VerdictInput,
} from '../../src/supervise/verdict.js';

const MIN = 60_000;
const stats = (over: Partial<PeriodStats> = {}): PeriodStats => ({
  durationMs: 5 * MIN,
  records: 1000,
  errors: 10,
  crashes: 0,
  meanRssBytes: 100e6,
  maxRssBytes: 110e6,
  ...over,
});
const input = (over: Partial<VerdictInput> = {}): VerdictInput => ({
  baseline: stats(),
  window: stats(),
  newPatterns: [],
  elapsedMs: 5 * MIN,
  windowMs: 5 * MIN,
  extensions: 0,
  thresholds: {
    errorRateIncrease: 0.5,
    minErrors: 5,
    rssIncrease: 0.5,
    newPatternMin: 5,
    latencyIncrease: 1,
    minRecords: 20,
    maxExtensions: 2,
  },
  ...over,
});

describe('judgeWindow', () => {
  it('passes a quiet window with traffic at its end, and continues before', () => {
    expect(judgeWindow(input()).verdict).toBe('pass');
    expect(judgeWindow(input({ elapsedMs: MIN })).verdict).toBe('continue');
  });

  it('rolls back on an error rate clearly over +50%, but not on noise or a handful of errors', () => {
    const v = judgeWindow(input({ window: stats({ errors: 40 }) }));
    expect(v.verdict).toBe('rollback');
    if (v.verdict === 'rollback') expect(v.triggers).toEqual(['error_rate']);
    expect(judgeWindow(input({ baseline: stats({ errors: 0 }), window: stats({ errors: 4 }) })).verdict).toBe('pass');
    // 16 against 10 in the same time is within noise of +50%: a bare ratio would have rolled back;
    // above the threshold but not significant, it is not a pass either: the window goes on
    expect(judgeWindow(input({ window: stats({ errors: 16 }) })).verdict).toBe('extend');
    expect(judgeWindow(input({ window: stats({ errors: 14 }) })).verdict).toBe('pass');
    // no baseline served yet: no evidence of an increase
    expect(
      judgeWindow(input({ baseline: stats({ durationMs: 0, errors: 0 }), window: stats({ errors: 30 }) })).verdict,
    ).toBe('pass');
  });

  it('rolls back early on a memory spike or over the limit', () => {
    const spike = judgeWindow(
      input({ elapsedMs: 1000, window: stats({ maxRssBytes: 151e6, durationMs: 1000, records: 2, errors: 0 }) }),
    );
    expect(spike.verdict === 'rollback' && spike.triggers).toEqual(['memory_spike']);
    const limit = judgeWindow(
      input({ window: stats({ maxRssBytes: 120e6 }), thresholds: { ...input().thresholds, rssLimitBytes: 115e6 } }),
    );
    expect(limit.verdict === 'rollback' && limit.triggers).toEqual(['memory_limit']);
  });

  it('rolls back on a new error pattern above N, on a crash loop, on latency', () => {
    const np = judgeWindow(input({ newPatterns: [{ key: 'template:7', count: 5 }] }));
    expect(np.verdict === 'rollback' && np.triggers).toEqual(['new_error_pattern']);
    expect(judgeWindow(input({ newPatterns: [{ key: 'template:7', count: 4 }] })).verdict).toBe('pass');
    const cl = judgeWindow(input({ crashLoop: true, elapsedMs: 10 }));
    expect(cl.verdict === 'rollback' && cl.triggers).toEqual(['crash_loop']);
    const lat = judgeWindow(input({ baseline: stats({ p95LatencyMs: 10 }), window: stats({ p95LatencyMs: 25 }) }));
    expect(lat.verdict === 'rollback' && lat.triggers).toEqual(['latency']);
  });

  it('too little traffic extends the window, then is inconclusive: never a silent pass', () => {
    const quiet = stats({ records: 3, errors: 0 });
    expect(judgeWindow(input({ window: quiet })).verdict).toBe('extend');
    expect(judgeWindow(input({ window: quiet, extensions: 1, elapsedMs: 10 * MIN })).verdict).toBe('extend');
    expect(judgeWindow(input({ window: quiet, extensions: 2, elapsedMs: 15 * MIN })).verdict).toBe('inconclusive');
    expect(judgeWindow(input({ window: quiet, extensions: 1, elapsedMs: 6 * MIN })).verdict).toBe('continue');
  });

  it('reports efficacy: the target pattern rate before and after', () => {
    const v = judgeWindow(input({ baseline: stats({ targetCount: 50 }), window: stats({ targetCount: 0 }) }));
    expect(v.verdict).toBe('pass');
    expect(v.efficacy).toEqual({ beforePerMinute: 10, afterPerMinute: 0, reduction: 1 });
    const worse = judgeWindow(input({ baseline: stats({ targetCount: 5 }), window: stats({ targetCount: 30 }) }));
    expect(worse.verdict === 'rollback' && worse.triggers).toContain('target_pattern_worse');
  });

  it('counts the target rate from its onset, not over the whole baseline', () => {
    // 28 errors in the 7 s since the bug appeared is 240/min, not 28 over 15 min
    const base = stats({ durationMs: 15 * MIN, errors: 28, targetCount: 28, targetDurationMs: 7000 });
    const same = judgeWindow(
      input({
        baseline: { ...base, durationMs: 7000 },
        window: stats({ durationMs: 7000, errors: 28, targetCount: 28 }),
        elapsedMs: 7000,
      }),
    );
    expect(same.verdict).not.toBe('rollback');
    expect(same.efficacy?.beforePerMinute).toBe(240);
  });

  it('p95 uses the nearest rank', () => {
    expect(p95([])).toBeUndefined();
    expect(p95(Array.from({ length: 100 }, (_, i) => i + 1))).toBe(95);
  });
});

/** A seeded PRNG (mulberry32), so the property runs are the same every time. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function poisson(lambda: number, next: () => number): number {
  // Knuth for small means, normal approximation above
  if (lambda > 60) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gauss(next)));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= next();
  } while (p > l);
  return k - 1;
}

function gauss(next: () => number): number {
  return Math.sqrt(-2 * Math.log(next() || 1e-12)) * Math.cos(2 * Math.PI * next());
}

describe('honest rates (properties)', () => {
  it('the binomial tail is a probability and falls with k', () => {
    expect(binomialTail(0, 10, 0.3)).toBe(1);
    expect(binomialTail(11, 10, 0.3)).toBe(0);
    expect(binomialTail(10, 10, 0.5)).toBeCloseTo(1 / 1024, 10);
    for (let k = 1; k <= 20; k++) expect(binomialTail(k, 20, 0.4)).toBeLessThanOrEqual(binomialTail(k - 1, 20, 0.4));
  });

  it('the same rate before and after (a redeploy of the same code) rolls back in well under 1% of windows', () => {
    const next = rng(12345);
    let rollbacks = 0;
    const trials = 3000;
    for (let i = 0; i < trials; i++) {
      const perMin = 0.2 + next() * 40;
      const baseMs = (10 + next() * 890) * 1000;
      const winMs = (10 + next() * 290) * 1000;
      const base = poisson((perMin * baseMs) / MIN, next);
      const win = poisson((perMin * winMs) / MIN, next);
      const v = judgeWindow(
        input({
          baseline: stats({ durationMs: baseMs, errors: base }),
          window: stats({ durationMs: winMs, errors: win }),
          elapsedMs: winMs,
          windowMs: winMs,
        }),
      );
      if (v.verdict === 'rollback') rollbacks++;
    }
    expect(rollbacks / trials).toBeLessThan(0.01);
  });

  it('a tripled error rate with enough errors is caught in most windows', () => {
    const next = rng(777);
    let caught = 0;
    const trials = 500;
    for (let i = 0; i < trials; i++) {
      const perMin = 5 + next() * 20;
      const base = poisson(perMin * 10, next);
      const win = poisson(perMin * 3 * 5, next);
      const r = rateIncrease({ count: base, ms: 10 * MIN }, { count: win, ms: 5 * MIN }, 0.5);
      if (r.significant) caught++;
    }
    expect(caught / trials).toBeGreaterThan(0.95);
  });

  it('the baseline only counts time the previous release served, and the target starts at its onset', () => {
    const observe = { baselineSeconds: 900 } as Parameters<typeof observationPeriods>[1];
    const deploy = { startedAt: 1_000_000, readyAt: 1_002_000, extensions: 0 };
    const p = observationPeriods(deploy, observe, 1_010_000, { servedSince: 993_000, targetOnset: 996_000 });
    expect(p.baseline).toEqual({ from: 993_000, to: 1_000_000 });
    expect(p.targetFrom).toBe(996_000);
    expect(p.window).toEqual({ from: 1_002_000, to: 1_010_001 });
    const open = observationPeriods(deploy, observe, 1_010_000);
    expect(open.baseline.from).toBe(1_000_000 - 900_000);
  });
});
