import { describe, expect, it } from 'vitest';
import { judgeWindow, type PeriodStats, p95, type VerdictInput } from '../../src/supervise/verdict.js';

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

  it('rolls back on +50% error rate, but not on a handful of errors', () => {
    const v = judgeWindow(input({ window: stats({ errors: 16 }) }));
    expect(v.verdict).toBe('rollback');
    if (v.verdict === 'rollback') expect(v.triggers).toEqual(['error_rate']);
    expect(judgeWindow(input({ baseline: stats({ errors: 0 }), window: stats({ errors: 4 }) })).verdict).toBe('pass');
    expect(judgeWindow(input({ window: stats({ errors: 15 }) })).verdict).toBe('pass');
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
    const worse = judgeWindow(input({ baseline: stats({ targetCount: 5 }), window: stats({ targetCount: 20 }) }));
    expect(worse.verdict === 'rollback' && worse.triggers).toContain('target_pattern_worse');
  });

  it('p95 uses the nearest rank', () => {
    expect(p95([])).toBeUndefined();
    expect(p95(Array.from({ length: 100 }, (_, i) => i + 1))).toBe(95);
  });
});
