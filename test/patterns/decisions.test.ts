import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type TriggersConfig, triggersSchema } from '../../src/config/schema/patterns.js';
import { type Decision, decide, explainDecision, type GateContext, shouldStore } from '../../src/patterns/decisions.js';
import type { Signal, TemplateStatus } from '../../src/patterns/triggers.js';
import { MINUTE_MS } from '../../src/patterns/windows.js';

const defaults = triggersSchema.parse({});
const cfg = (over: Record<string, unknown>): TriggersConfig => triggersSchema.parse(over);
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function signal(over: Partial<Signal> = {}): Signal {
  const templateId = over.templateId ?? 7;
  return {
    kind: 'new_pattern',
    key: `template:${templateId}`,
    templateId,
    urgent: false,
    numbers: { count: 11 },
    reason: 'new pattern recurred 11 times',
    ratePerMinute: 2.2,
    magnitude: 1.1,
    ...over,
  };
}

function ctx(over: Partial<GateContext> = {}): GateContext {
  return { now: T0, active: [], lastFireAt: new Map(), statuses: new Map(), ignoredRates: new Map(), ...over };
}

describe('gates', () => {
  it('fires a signal when no gate applies, with the reason and numbers', () => {
    const [d] = decide([signal()], ctx(), defaults);
    expect(d).toMatchObject({ outcome: 'fire', reasonCode: 'fired', rule: 'new_pattern', key: 'template:7', at: T0 });
    expect(d?.reason).toBe('fired: new pattern recurred 11 times');
    expect(d?.numbers).toEqual({ count: 11 });
  });

  it('cooldown: the same pattern does not fire again within cooldownMinutes', () => {
    const last = new Map([['template:7', T0 - 29 * MINUTE_MS]]);
    const [d] = decide([signal()], ctx({ lastFireAt: last }), defaults);
    expect(d).toMatchObject({ outcome: 'suppress', reasonCode: 'cooldown' });
    expect(d?.numbers).toMatchObject({ cooldownRemainingMinutes: 1 });
    const later = decide([signal()], ctx({ lastFireAt: last, now: T0 + MINUTE_MS }), defaults);
    expect(later[0]?.outcome).toBe('fire');
    // other patterns are not cooled down by it
    expect(decide([signal({ templateId: 8 })], ctx({ lastFireAt: last }), defaults)[0]?.outcome).toBe('fire');
  });

  it('dedupe: a pattern being fixed or consulted does not fire again', () => {
    const fixing = decide([signal()], ctx({ statuses: new Map([[7, 'fixing' as TemplateStatus]]) }), defaults);
    expect(fixing[0]).toMatchObject({ outcome: 'suppress', reasonCode: 'dedupe_fixing' });
    const active = decide(
      [signal({ kind: 'spike' })],
      ctx({ active: [{ key: 'template:7', templateId: 7, triggerId: 'a' }] }),
      defaults,
    );
    expect(active[0]).toMatchObject({ outcome: 'suppress', reasonCode: 'dedupe_active' });
    const crash = decide(
      [signal({ kind: 'crash', key: 'crash:template:7', urgent: true })],
      ctx({ active: [{ key: 'template:7', templateId: 7 }] }),
      defaults,
    );
    expect(crash[0]).toMatchObject({ outcome: 'suppress', reasonCode: 'dedupe_active' });
  });

  it('ignored: quiet until the rate rises by an order of magnitude over the rate when ignored', () => {
    const c = ctx({ statuses: new Map([[7, 'ignored' as TemplateStatus]]), ignoredRates: new Map([[7, 3]]) });
    expect(decide([signal({ ratePerMinute: 29 })], c, defaults)[0]).toMatchObject({
      outcome: 'suppress',
      reasonCode: 'ignored',
    });
    const d = decide([signal({ ratePerMinute: 30 })], c, defaults)[0];
    expect(d).toMatchObject({ outcome: 'fire', reasonCode: 'fired_ignored_rate_rose' });
    expect(d?.numbers).toMatchObject({ ignoredRatePerMinute: 3, ratePerMinute: 30 });
    expect(decide([signal({ ratePerMinute: 10 })], c, cfg({ ignoredFactor: 3 }))[0]?.outcome).toBe('fire');
  });

  it('concurrency: at most maxConcurrent consultations; urgent crashes first, then by magnitude', () => {
    const signals = [
      signal({ templateId: 1, kind: 'spike', magnitude: 9 }),
      signal({ templateId: 2, kind: 'spike', magnitude: 2 }),
      signal({ kind: 'crash', key: 'crash', templateId: undefined, urgent: true, magnitude: Number.POSITIVE_INFINITY }),
    ];
    const ds = decide(signals, ctx(), defaults);
    expect(ds.map((d) => [d.key, d.outcome, d.reasonCode])).toEqual([
      ['crash', 'fire', 'fired'],
      ['template:1', 'suppress', 'concurrency_limit'],
      ['template:2', 'suppress', 'concurrency_limit'],
    ]);
    const two = decide(signals, ctx(), cfg({ maxConcurrent: 2 }));
    expect(two.filter((d) => d.outcome === 'fire').map((d) => d.key)).toEqual(['crash', 'template:1']);
    const busy = decide([signal()], ctx({ active: [{ key: 'errors' }] }), defaults);
    expect(busy[0]).toMatchObject({ outcome: 'suppress', reasonCode: 'concurrency_limit' });
  });

  it('an error-rate spike made mostly of a pattern being consulted or fixed is that pattern: dedupe', () => {
    const errors = signal({
      kind: 'spike',
      key: 'errors',
      templateId: undefined,
      numbers: { count: 100 },
      contributors: [
        { templateId: 7, count: 60 },
        { templateId: 8, count: 40 },
      ],
    });
    const active = [{ key: 'template:7', templateId: 7 }];
    expect(decide([errors], ctx({ active }), cfg({ maxConcurrent: 2 }))[0]).toMatchObject({
      outcome: 'suppress',
      reasonCode: 'dedupe_active',
    });
    const fixing = ctx({ statuses: new Map([[8, 'fixing' as TemplateStatus]]) });
    expect(decide([errors], fixing, defaults)[0]?.outcome).toBe('fire'); // 40 of 100 is not most
    const both = ctx({ active, statuses: new Map([[8, 'fixing' as TemplateStatus]]) });
    expect(decide([errors], both, cfg({ maxConcurrent: 2 }))[0]?.reason).toContain('100 of 100');
  });

  it('property: fires never exceed the free slots, never repeat a key or template, never break a cooldown', () => {
    const arbSignal = fc.record({
      templateId: fc.integer({ min: 1, max: 6 }),
      kind: fc.constantFrom('new_pattern' as const, 'spike' as const, 'crash' as const),
      magnitude: fc.double({ min: 1, max: 100, noNaN: true }),
    });
    fc.assert(
      fc.property(
        fc.array(arbSignal, { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.dictionary(fc.constantFrom('1', '2', '3', '4', '5', '6'), fc.integer({ min: 0, max: 120 })),
        (raw, activeIds, maxConcurrent, ago) => {
          const signals = raw.map((s) =>
            signal({
              ...s,
              key: s.kind === 'crash' ? `crash:template:${s.templateId}` : `template:${s.templateId}`,
              urgent: s.kind === 'crash',
            }),
          );
          const lastFireAt = new Map(Object.entries(ago).map(([id, m]) => [`template:${id}`, T0 - m * MINUTE_MS]));
          const active = activeIds.map((id) => ({ key: `template:${id}`, templateId: id }));
          const ds = decide(signals, ctx({ active, lastFireAt }), cfg({ maxConcurrent }));
          expect(ds.length).toBe(signals.length);
          const fired = ds.filter((d) => d.outcome === 'fire');
          expect(fired.length).toBeLessThanOrEqual(Math.max(0, maxConcurrent - active.length));
          const ids = fired.map((d) => d.templateId);
          expect(new Set(ids).size).toBe(ids.length);
          for (const d of fired) {
            expect(activeIds).not.toContain(d.templateId);
            const last = lastFireAt.get(d.key);
            if (last !== undefined && d.rule !== 'crash') expect(T0 - last).toBeGreaterThanOrEqual(30 * MINUTE_MS);
          }
        },
      ),
    );
  });
});

describe('storing decisions', () => {
  const d = (at: number, over: Partial<Decision> = {}): Decision => ({
    at,
    rule: 'spike',
    key: 'errors',
    outcome: 'suppress',
    urgent: false,
    reasonCode: 'cooldown',
    reason: 'suppressed: it fired 3 min ago (cooldown 30 min); overall error rate rose',
    numbers: {},
    ...over,
  });

  it('stores every fire, a changed suppress, and a repeated suppress at most every repeatSuppressMinutes', () => {
    const head = { outcome: 'suppress' as const, reasonCode: 'cooldown', at: T0 };
    expect(shouldStore(d(T0 + 1000, { outcome: 'fire', reasonCode: 'fired' }), head, defaults)).toBe(true);
    expect(shouldStore(d(T0 + 1000), undefined, defaults)).toBe(true);
    expect(shouldStore(d(T0 + 1000), head, defaults)).toBe(false);
    expect(shouldStore(d(T0 + 1000, { reasonCode: 'concurrency_limit' }), head, defaults)).toBe(true);
    expect(shouldStore(d(T0 + 10 * MINUTE_MS), head, defaults)).toBe(true);
  });

  it('property: a condition held for a long time leaves few suppress rows', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 60_000 }), { minLength: 1, maxLength: 500 }), (gaps) => {
        let at = T0;
        let head: { outcome: 'suppress'; reasonCode: string; at: number } | undefined;
        let stored = 0;
        for (const gap of gaps) {
          at += gap;
          if (shouldStore(d(at), head, defaults)) {
            stored++;
            head = { outcome: 'suppress', reasonCode: 'cooldown', at };
          }
        }
        expect(stored).toBeLessThanOrEqual(Math.floor((at - T0) / (10 * MINUTE_MS)) + 1);
      }),
    );
  });

  it('explains decisions in plain words', () => {
    expect(explainDecision(d(T0))).toBe(
      '2026-01-01 12:00:00Z: the spike rule held (overall error rate rose), but it stayed quiet because it fired 3 min ago (cooldown 30 min).',
    );
    expect(
      explainDecision(
        d(T0, {
          outcome: 'fire',
          reasonCode: 'fired',
          urgent: true,
          rule: 'crash',
          reason: 'fired: crash: the process exited with code 1',
        }),
      ),
    ).toBe('2026-01-01 12:00:00Z: the crash rule FIRED (urgent): crash: the process exited with code 1.');
  });
});
