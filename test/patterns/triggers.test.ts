import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type TriggersConfig, triggersSchema } from '../../src/config/schema/patterns.js';
import type { BaselineState } from '../../src/patterns/baselines.js';
import {
  checkSpike,
  crashTrigger,
  errorRateSpikeRule,
  newPatternRule,
  nextReviewAt,
  reviewRule,
  type TemplateView,
  templateSpikeRule,
} from '../../src/patterns/triggers.js';
import { type BucketCounts, emptyCounts, MINUTE_MS } from '../../src/patterns/windows.js';

const defaults = triggersSchema.parse({});
const cfg = (over: Record<string, unknown> = {}): TriggersConfig => triggersSchema.parse(over);

/** A fake clock: a fixed instant, moved by hand. */
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function counts(over: Partial<BucketCounts>): BucketCounts {
  const c = { ...emptyCounts(), ...over };
  if (over.count === undefined) c.count = c.trace + c.debug + c.info + c.warn + c.error + c.fatal;
  return c;
}

function warm(mean: number, variance = 0, samples = 120): BaselineState {
  return { mean, variance, samples, firstMinute: 0, lastMinute: 1 };
}

function view(over: Partial<TemplateView> = {}): TemplateView {
  return {
    id: 7,
    status: 'new',
    firstSeen: T0 - 10 * MINUTE_MS,
    maxLevel: 50,
    newWindow: emptyCounts(),
    spikeWindow: emptyCounts(),
    ...over,
  };
}

describe('new-pattern rule', () => {
  it('fires when a new error template recurs more than 10 times in 5 minutes', () => {
    const s = newPatternRule(view({ newWindow: counts({ error: 11 }) }), T0, defaults);
    expect(s).toMatchObject({ kind: 'new_pattern', key: 'template:7', templateId: 7, urgent: false });
    expect(s?.numbers).toMatchObject({ count: 11, windowMinutes: 5, minCount: 10 });
    expect(s?.reason).toContain('recurred 11 times');
  });

  it('stays quiet at exactly 10 (more than 10 is required)', () => {
    expect(newPatternRule(view({ newWindow: counts({ error: 10 }) }), T0, defaults)).toBeNull();
  });

  it('counts only records at the minimum level or above', () => {
    expect(newPatternRule(view({ newWindow: counts({ error: 6, warn: 20, fatal: 4 }) }), T0, defaults)).toBeNull();
    expect(newPatternRule(view({ newWindow: counts({ error: 7, fatal: 4 }) }), T0, defaults)).not.toBeNull();
  });

  it('stays quiet for a template first seen more than an hour ago', () => {
    const old = view({ firstSeen: T0 - 61 * MINUTE_MS, newWindow: counts({ error: 50 }) });
    expect(newPatternRule(old, T0, defaults)).toBeNull();
    expect(newPatternRule({ ...old, firstSeen: T0 - 60 * MINUTE_MS }, T0, defaults)).not.toBeNull();
  });

  it('stays quiet for a template that never reached the minimum level', () => {
    expect(newPatternRule(view({ maxLevel: 40, newWindow: counts({ warn: 50 }) }), T0, defaults)).toBeNull();
  });

  it('honours the configured level, count and period', () => {
    const c = cfg({ newPattern: { minLevel: 'warn', minCount: 3, firstSeenWithinMinutes: 10 } });
    expect(newPatternRule(view({ maxLevel: 40, newWindow: counts({ warn: 4 }) }), T0, c)).not.toBeNull();
    expect(newPatternRule(view({ maxLevel: 40, newWindow: counts({ warn: 3 }) }), T0, c)).toBeNull();
    expect(
      newPatternRule(view({ maxLevel: 40, firstSeen: T0 - 11 * MINUTE_MS, newWindow: counts({ warn: 9 }) }), T0, c),
    ).toBeNull();
    expect(
      newPatternRule(view({ newWindow: counts({ error: 50 }) }), T0, cfg({ newPattern: { enabled: false } })),
    ).toBeNull();
  });

  it('property: fires exactly when new, at level, and count > minCount', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 40 }),
        fc.nat({ max: 40 }),
        fc.integer({ min: 0, max: 120 }),
        fc.constantFrom(30, 40, 50, 60),
        fc.nat({ max: 20 }),
        (errors, warns, ageMin, maxLevel, minCount) => {
          const c = cfg({ newPattern: { minCount } });
          const t = view({
            firstSeen: T0 - ageMin * MINUTE_MS,
            maxLevel,
            newWindow: counts({ error: errors, warn: warns }),
          });
          const fires = newPatternRule(t, T0, c) !== null;
          expect(fires).toBe(ageMin <= 60 && maxLevel >= 50 && errors > minCount);
        },
      ),
    );
  });
});

describe('spike rule', () => {
  const known = (spike: number, baseline: BaselineState | undefined) =>
    view({ status: 'known', firstSeen: T0 - 5 * 60 * MINUTE_MS, spikeWindow: counts({ info: spike }), baseline });

  it('fires when a known template reaches 3x its baseline and at least minEvents', () => {
    const s = templateSpikeRule(known(30, warm(2)), T0, defaults);
    expect(s).toMatchObject({ kind: 'spike', key: 'template:7', urgent: false });
    expect(s?.numbers).toMatchObject({ count: 30, expected: 10, threshold: 30 });
    expect(templateSpikeRule(known(29, warm(2)), T0, defaults)).toBeNull();
  });

  it('needs at least minEvents even over a tiny baseline', () => {
    expect(templateSpikeRule(known(19, warm(0.5)), T0, defaults)).toBeNull();
    expect(templateSpikeRule(known(20, warm(0.5)), T0, defaults)).not.toBeNull();
    expect(templateSpikeRule(known(5, warm(0.5)), T0, cfg({ spike: { minEvents: 5 } }))).toBeNull(); // 3 * max(0.5,0.2)*5 = 7.5
    expect(templateSpikeRule(known(8, warm(0.5)), T0, cfg({ spike: { minEvents: 5 } }))).not.toBeNull();
  });

  it('does not fire before the baseline is warm (a service that just started)', () => {
    expect(templateSpikeRule(known(500, warm(1, 0, 59)), T0, defaults)).toBeNull();
    expect(templateSpikeRule(known(500, undefined), T0, defaults)).toBeNull();
    expect(templateSpikeRule(known(500, warm(1, 0, 60)), T0, defaults)).not.toBeNull();
  });

  it('needs the count to clear the noise: sigmas standard deviations above the baseline', () => {
    // mean 10/min, sd 10/min: over 5 min expected 50, sd ~22.4; 3 sigma => 117
    expect(templateSpikeRule(known(150, warm(10, 100)), T0, cfg({ spike: { sigmas: 3 } }))).not.toBeNull();
    expect(templateSpikeRule(known(160, warm(10, 400)), T0, cfg({ spike: { sigmas: 3 } }))).toBeNull();
  });

  it('leaves a template that is still new to the new-pattern rule', () => {
    expect(templateSpikeRule(view({ spikeWindow: counts({ info: 500 }), baseline: warm(1) }), T0, defaults)).toBeNull();
  });

  it('watches the overall error rate', () => {
    const s = errorRateSpikeRule(counts({ error: 40, info: 1000 }), warm(2), defaults);
    expect(s).toMatchObject({ kind: 'spike', key: 'errors' });
    expect(s?.numbers).toMatchObject({ count: 40, total: 1040 });
    expect(errorRateSpikeRule(counts({ error: 25, info: 1000 }), warm(2), defaults)).toBeNull();
    expect(errorRateSpikeRule(counts({ error: 40 }), warm(2), cfg({ spike: { errorRate: false } }))).toBeNull();
  });

  it('property: never fires below minEvents, below factor x expected, or when cold; monotone in the count', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 1000 }),
        fc.double({ min: 0, max: 50, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.nat({ max: 200 }),
        fc.nat({ max: 100 }),
        (count, mean, variance, samples, extra) => {
          const b = warm(mean, variance, samples);
          const check = checkSpike(count, b, defaults);
          if (check.holds) {
            expect(count).toBeGreaterThanOrEqual(defaults.spike.minEvents);
            expect(count).toBeGreaterThanOrEqual(defaults.spike.factor * Math.max(mean, 0.2) * 5 - 1e-9);
            expect(samples).toBeGreaterThanOrEqual(defaults.baseline.warmupMinutes);
            expect(checkSpike(count + extra, b, defaults).holds).toBe(true);
          }
        },
      ),
    );
  });
});

describe('crash rule', () => {
  it('a clean exit with no fatal record is not a crash', () => {
    expect(crashTrigger({ exitCode: 0, signal: null, lastRecords: [{ level: 30, message: 'bye' }] })).toBeNull();
    expect(crashTrigger({})).toBeNull();
  });

  it('an abnormal exit code or a signal is an urgent crash', () => {
    expect(crashTrigger({ exitCode: 1, signal: null })).toMatchObject({ kind: 'crash', key: 'crash', urgent: true });
    const s = crashTrigger({ exitCode: null, signal: 'SIGSEGV' });
    expect(s?.reason).toContain('SIGSEGV');
    expect(s?.numbers).toMatchObject({ exitCode: null, signal: 'SIGSEGV' });
  });

  it('a fatal record or an uncaught exception is a crash, keyed by its template', () => {
    const fatal = crashTrigger({
      lastRecords: [
        { level: 30, message: 'ok' },
        { level: 60, message: 'db gone', templateId: 4 },
      ],
    });
    expect(fatal).toMatchObject({ key: 'crash:template:4', templateId: 4, urgent: true });
    expect(fatal?.reason).toContain('db gone');
    const uncaught = crashTrigger({
      exitCode: 0,
      lastRecords: [{ level: 50, message: 'Uncaught exception: TypeError: x is undefined' }],
    });
    expect(uncaught?.reason).toContain('uncaught exception');
    expect(
      crashTrigger({ lastRecords: [{ level: 50, message: 'Unhandled promise rejection', errType: 'Error' }] }),
    ).not.toBeNull();
    expect(crashTrigger({ lastRecords: [{ level: 50, message: 'request failed' }] })).toBeNull();
  });
});

describe('scheduled review', () => {
  const entries = [
    { templateId: 1, count: 1000, warn: 0, error: 0, fatal: 0, slow: 0, durMax: null },
    { templateId: 2, count: 30, warn: 30, error: 0, fatal: 0, slow: 0, durMax: null },
    { templateId: 3, count: 5, warn: 0, error: 5, fatal: 0, slow: 0, durMax: null },
    { templateId: 4, count: 200, warn: 0, error: 0, fatal: 0, slow: 12, durMax: 4200 },
  ];

  it('is due every 6 hours after the last review (or the start)', () => {
    expect(nextReviewAt(undefined, T0, defaults)).toBe(T0 + 6 * 3_600_000);
    expect(nextReviewAt(T0 + 1000, T0, cfg({ review: { everyHours: 1 } }))).toBe(T0 + 1000 + 3_600_000);
  });

  it('fires when due, even when nothing alarmed, with errors, warnings and slow requests', () => {
    const due = T0 + 6 * 3_600_000;
    expect(reviewRule(entries, T0, due - 1, due, defaults)).toBeNull();
    const s = reviewRule(entries, T0, due, due, defaults)!;
    expect(s).toMatchObject({ kind: 'review', key: 'review', urgent: false });
    const top = (s.numbers.top as Array<{ templateId: number }>).map((e) => e.templateId);
    expect(top).toEqual([3, 2, 1, 4]);
    expect((s.numbers.slow as Array<{ templateId: number }>).map((e) => e.templateId)).toEqual([4]);
    expect(s?.numbers.totals).toEqual({ records: 1235, warn: 30, error: 5, slow: 12 });
    expect(reviewRule([], T0, due, due, defaults)).not.toBeNull();
    expect(reviewRule(entries, T0, due, due, cfg({ review: { enabled: false } }))).toBeNull();
    expect((reviewRule(entries, T0, due, due, cfg({ review: { topN: 2 } }))!.numbers.top as unknown[]).length).toBe(2);
  });
});
