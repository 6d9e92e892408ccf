import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { triggersSchema } from '../../src/config/schema/patterns.js';
import {
  advanceBaselines,
  alphaFor,
  type BaselineState,
  ERRORS_KEY,
  expectation,
  foldSample,
  isWarm,
  type MinuteSummary,
  templateKey,
} from '../../src/patterns/baselines.js';

const config = triggersSchema.parse({}).baseline;

function minute(m: number, total: number, errors: number, byTemplate: Record<number, number> = {}): MinuteSummary {
  return { minute: m, total, errors, byTemplate: new Map(Object.entries(byTemplate).map(([k, v]) => [Number(k), v])) };
}

describe('EWMA baselines', () => {
  it('a half-life of h samples halves the weight of a sample after h more samples', () => {
    const alpha = alphaFor(60);
    expect((1 - alpha) ** 60).toBeCloseTo(0.5, 10);
  });

  it('converges to a constant input with zero variance', () => {
    let s: BaselineState | undefined;
    for (let m = 0; m < 500; m++) s = foldSample(s, 7, m, alphaFor(30));
    expect(s?.mean).toBeCloseTo(7, 10);
    expect(s?.variance).toBeCloseTo(0, 10);
    expect(s?.samples).toBe(500);
  });

  it('tracks the variance of an alternating input', () => {
    let s: BaselineState | undefined;
    for (let m = 0; m < 2000; m++) s = foldSample(s, m % 2 === 0 ? 0 : 10, m, alphaFor(60));
    expect(s?.mean).toBeGreaterThan(4.5);
    expect(s?.mean).toBeLessThan(5.5);
    expect(Math.sqrt(s?.variance ?? 0)).toBeGreaterThan(4);
    expect(Math.sqrt(s?.variance ?? 0)).toBeLessThan(6);
  });

  it('is not warm until it has seen warmupMinutes active minutes', () => {
    let s: BaselineState | undefined;
    for (let m = 0; m < config.warmupMinutes - 1; m++) s = foldSample(s, 1, m, 0.1);
    expect(isWarm(s, config)).toBe(false);
    s = foldSample(s, 1, 100, 0.1);
    expect(isWarm(s, config)).toBe(true);
    expect(isWarm(undefined, config)).toBe(false);
  });

  it('skips idle minutes: a stopped service does not drag the baseline to zero', () => {
    const busy = Array.from({ length: 120 }, (_, i) => minute(i, 100, 5, { 1: 5 }));
    const after = advanceBaselines(new Map(), busy, config);
    const idle = Array.from({ length: 600 }, (_, i) => minute(120 + i, 0, 0));
    const later = advanceBaselines(after, idle, config);
    expect(later.size).toBe(0);
    expect(after.get(ERRORS_KEY)?.mean).toBeCloseTo(5, 5);
  });

  it('counts a template as 0 in active minutes where it did not occur, from its first minute on', () => {
    const minutes = [minute(10, 50, 0, { 2: 4 }), minute(11, 50, 0, { 3: 1 }), minute(12, 50, 0, {})];
    const out = advanceBaselines(new Map(), minutes, config);
    expect(out.get(templateKey(2))?.samples).toBe(3);
    expect(out.get(templateKey(2))?.firstMinute).toBe(10);
    expect(out.get(templateKey(3))?.samples).toBe(2);
    expect(out.get(templateKey(3))?.firstMinute).toBe(11);
    expect(out.get(templateKey(2))?.mean).toBeLessThan(4);
  });

  it('never folds a minute twice', () => {
    const first = advanceBaselines(new Map(), [minute(5, 1, 1, { 1: 1 })], config);
    const again = advanceBaselines(first, [minute(5, 1, 1, { 1: 1 }), minute(4, 1, 1, { 1: 1 })], config);
    expect(again.size).toBe(0);
  });

  it('floors the expected rate so a near-zero baseline does not make every event a spike', () => {
    const s = { mean: 0, variance: 0, samples: 100, firstMinute: 0, lastMinute: 99 };
    expect(expectation(s, 5, config).expected).toBeCloseTo(config.minRatePerMinute * 5);
  });

  it('property: the mean stays within the range of the samples and the variance is never negative', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 10_000 }), { minLength: 1, maxLength: 300 }),
        fc.double({ min: 1, max: 500, noNaN: true }),
        (xs, half) => {
          let s: BaselineState | undefined;
          xs.forEach((x, i) => {
            s = foldSample(s, x, i, alphaFor(half));
          });
          const lo = Math.min(...xs);
          const hi = Math.max(...xs);
          expect(s!.mean).toBeGreaterThanOrEqual(lo - 1e-6);
          expect(s!.mean).toBeLessThanOrEqual(hi + 1e-6);
          expect(s!.variance).toBeGreaterThanOrEqual(-1e-9);
          expect(s!.samples).toBe(xs.length);
        },
      ),
    );
  });

  it('property: folding minutes in one call or one at a time gives the same baselines', () => {
    const arbMinute = fc.record({
      total: fc.nat({ max: 50 }),
      errors: fc.nat({ max: 20 }),
      t: fc.dictionary(fc.constantFrom('1', '2', '3'), fc.nat({ max: 20 })),
    });
    fc.assert(
      fc.property(fc.array(arbMinute, { maxLength: 60 }), (ms) => {
        const minutes = ms.map((m, i) =>
          minute(i, m.total, m.errors, Object.fromEntries(Object.entries(m.t).map(([k, v]) => [Number(k), v]))),
        );
        const all = advanceBaselines(new Map(), minutes, config);
        const step = new Map<string, BaselineState>();
        for (const m of minutes) for (const [k, v] of advanceBaselines(step, [m], config)) step.set(k, v);
        expect(new Map([...step].sort())).toEqual(new Map([...all].sort()));
      }),
    );
  });
});
