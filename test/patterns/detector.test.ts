import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { type TriggersConfig, triggersSchema } from '../../src/config/schema/patterns.js';
import { decisionsForTemplate, listDecisions } from '../../src/patterns/decisions-store.js';
import { Detector, type TriggerEvent } from '../../src/patterns/detector.js';
import { createPatternsPipeline } from '../../src/patterns/detector-pipeline.js';
import { MINUTE_MS } from '../../src/patterns/windows.js';
import { LogWriter } from '../../src/store/log-writer.js';
import type { LogRecord } from '../../src/store/records.js';
import { nextEvent, simpleTemplatesPlugin, tempStore } from './helpers.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A detector and writer over a real temp database, on a fake clock the test moves. */
function rig(over: Record<string, unknown> = {}, store = tempStore()) {
  cleanups.push(store.cleanup);
  const clock = { now: T0 };
  const config: TriggersConfig = triggersSchema.parse(over);
  const errors: unknown[] = [];
  const detector = new Detector({ db: store.db, config, now: () => clock.now, onError: (e) => errors.push(e) });
  const writer = new LogWriter(store.db, { plugins: [simpleTemplatesPlugin(), detector.plugin()] });
  const triggers: TriggerEvent[] = [];
  detector.on('trigger', (t) => triggers.push(t));
  const write = (n: number, record: Partial<LogRecord>) => {
    for (let i = 0; i < n; i++) writer.write({ ts: clock.now, level: 50, message: 'boom', pid: i, ...record });
    writer.flush();
  };
  cleanups.unshift(() => {
    writer.close();
    detector.stop();
  });
  return { store, clock, detector, writer, triggers, write, errors, config };
}

describe('detector: records stored -> decision (real SQLite, fake clock)', () => {
  it('fires a new-pattern trigger when a new error recurs more than 10 times in 5 minutes', () => {
    const { write, triggers, store, clock, errors } = rig();
    write(6, { message: 'payment 1 failed: card declined' });
    clock.now += 2 * MINUTE_MS;
    write(4, { message: 'payment 2 failed: card declined' });
    expect(triggers).toEqual([]);
    write(1, { message: 'payment 3 failed: card declined' });
    expect(triggers).toHaveLength(1);
    expect(triggers[0]).toMatchObject({ kind: 'new_pattern', templateId: 1, urgent: false, at: clock.now });
    expect(triggers[0]?.numbers).toMatchObject({ count: 11, windowMinutes: 5 });
    const [d] = decisionsForTemplate(store.db, 1);
    expect(d).toMatchObject({ outcome: 'fire', rule: 'new_pattern', reasonCode: 'fired', triggerId: triggers[0]?.id });
    const buckets = store.db
      .prepare('SELECT SUM(count) AS n, SUM(n_error) AS e FROM template_buckets WHERE template_id = 1')
      .get();
    expect(buckets).toEqual({ n: 11, e: 11 });
    expect(errors).toEqual([]);
  });

  it('a pattern being consulted does not fire again; after complete() the cooldown holds it', () => {
    const { write, triggers, store, clock, detector } = rig();
    write(11, { message: 'db timeout after 30 ms' });
    expect(triggers).toHaveLength(1);
    write(20, { message: 'db timeout after 31 ms' });
    expect(triggers).toHaveLength(1);
    expect(decisionsForTemplate(store.db, 1)[0]).toMatchObject({ outcome: 'suppress', reasonCode: 'dedupe_active' });
    // an unchanged suppress is not stored again and again
    write(5, { message: 'db timeout after 32 ms' });
    expect(decisionsForTemplate(store.db, 1)).toHaveLength(2);
    detector.complete(triggers[0]!.id);
    clock.now += MINUTE_MS;
    write(12, { message: 'db timeout after 33 ms' });
    expect(triggers).toHaveLength(1);
    expect(decisionsForTemplate(store.db, 1)[0]).toMatchObject({ outcome: 'suppress', reasonCode: 'cooldown' });
  });

  it('the global limit holds a second pattern while one consultation runs', () => {
    const { write, triggers, store, detector, clock } = rig();
    write(11, { message: 'first 1 broke' });
    write(11, { message: 'second 1 broke' });
    expect(triggers.map((t) => t.templateId)).toEqual([1]);
    expect(decisionsForTemplate(store.db, 2)[0]).toMatchObject({
      outcome: 'suppress',
      reasonCode: 'concurrency_limit',
    });
    detector.complete(triggers[0]!.id);
    clock.now += 1000;
    write(1, { message: 'second 2 broke' });
    expect(triggers.map((t) => t.templateId)).toEqual([1, 2]);
  });

  it('an ignored pattern stays quiet until its rate changes by an order of magnitude', () => {
    const { write, triggers, store, clock } = rig();
    store.db.exec(
      "INSERT INTO templates (id, text, tokens, token_count, first_seen, last_seen, count, max_level, status) VALUES (1, 'noisy <*>', '[]', 0, 0, 0, 0, 50, 'ignored')",
    );
    store.db.exec('INSERT INTO pattern_ignores (template_id, at, rate_per_min) VALUES (1, 0, 3)');
    clock.now = T0;
    // a stand-in for "first seen recently": first_seen is updated by the plugin only upward, so set it
    store.db.prepare('UPDATE templates SET first_seen = ? WHERE id = 1').run(T0 - MINUTE_MS);
    write(100, { message: 'noisy 1' }); // 20/min over the 5-minute window: < 30/min
    expect(triggers).toHaveLength(0);
    expect(decisionsForTemplate(store.db, 1)[0]).toMatchObject({ outcome: 'suppress', reasonCode: 'ignored' });
    write(60, { message: 'noisy 2' }); // 160 in 5 min = 32/min >= 10 x 3/min
    expect(triggers).toHaveLength(1);
    expect(decisionsForTemplate(store.db, 1)[0]).toMatchObject({
      outcome: 'fire',
      reasonCode: 'fired_ignored_rate_rose',
    });
  });

  it('fires a spike when a known template rises 3x over a warm baseline, and not before warm-up', () => {
    const { write, triggers, clock, detector, store } = rig();
    // 80 minutes of steady traffic: 2/min of "GET /x ok" and 50/min of other info
    for (let m = 0; m < 80; m++) {
      write(2, { level: 30, message: 'cache miss for key 7' });
      write(50, { level: 30, message: 'request done' });
      clock.now += MINUTE_MS;
      detector.tick();
    }
    expect(triggers).toHaveLength(0);
    const baseline = detector.baselines().get('template:1');
    expect(baseline?.mean).toBeCloseTo(2, 5);
    expect(baseline?.samples).toBeGreaterThanOrEqual(60);
    expect(store.db.prepare('SELECT status FROM templates WHERE id = 1').get()).toEqual({ status: 'known' });
    write(29, { level: 30, message: 'cache miss for key 8' }); // 29 + 2 this minute... window now 31 >= 30
    expect(triggers).toHaveLength(1);
    expect(triggers[0]).toMatchObject({ kind: 'spike', templateId: 1 });
    expect(triggers[0]?.numbers).toMatchObject({ expected: 10, threshold: 30 });
  });

  it('fires a spike of the overall error rate spread over several known patterns', () => {
    const KINDS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
    const { write, triggers, clock, detector } = rig();
    for (let m = 0; m < 80; m++) {
      write(2, { level: 50, message: `job ${KINDS[m % 5]} failed: timeout` });
      write(20, { level: 30, message: 'request done' });
      clock.now += MINUTE_MS;
      detector.tick();
    }
    expect(triggers).toHaveLength(0);
    expect(detector.baselines().get('errors')?.mean).toBeCloseTo(2, 5);
    for (const kind of KINDS) write(8, { level: 50, message: `job ${kind} failed: timeout` });
    expect(triggers).toHaveLength(1);
    expect(triggers[0]).toMatchObject({ kind: 'spike', templateId: undefined });
    expect(triggers[0]?.reason).toContain('overall error rate rose to 32 in 5 min'); // 8 in the window + 3 x 8: the first batch at >= 3 x 10
    expect((triggers[0]!.numbers.topTemplates as unknown[]).length).toBe(5);
  });

  it('does not fire a spike for a service that just started (cold baseline)', () => {
    const { write, triggers, clock, detector } = rig();
    for (let m = 0; m < 30; m++) {
      write(2, { level: 30, message: 'cache miss for key 7' });
      clock.now += MINUTE_MS;
      detector.tick();
    }
    write(500, { level: 30, message: 'cache miss for key 9' });
    expect(triggers).toHaveLength(0);
  });

  it('fires an urgent crash trigger for a fatal record and for an abnormal exit', () => {
    const { write, triggers, detector, clock } = rig();
    write(1, { level: 60, message: 'out of memory' });
    expect(triggers).toHaveLength(1);
    expect(triggers[0]).toMatchObject({ kind: 'crash', urgent: true, templateId: 1 });
    detector.complete(triggers[0]!.id);
    clock.now += 1000;
    const d = detector.crashTrigger({ exitCode: 137, signal: null, lastRecords: [{ level: 30, message: 'serving' }] });
    expect(d).toMatchObject({ outcome: 'fire', rule: 'crash', urgent: true });
    expect(triggers[1]).toMatchObject({ kind: 'crash', urgent: true });
    expect(triggers[1]?.reason).toContain('code 137');
    expect(detector.crashTrigger({ exitCode: 0, signal: null, lastRecords: [] })).toBeNull();
  });

  it('holds a crash behind the concurrency limit and fires it when the slot frees', () => {
    const { write, triggers, detector, clock } = rig();
    write(11, { message: 'thing 1 failed' });
    expect(triggers).toHaveLength(1);
    expect(detector.crashTrigger({ exitCode: 1 })).toMatchObject({
      outcome: 'suppress',
      reasonCode: 'concurrency_limit',
    });
    clock.now += 1000;
    detector.complete(triggers[0]!.id);
    expect(triggers.map((t) => t.kind)).toEqual(['new_pattern', 'crash']);
  });

  it('runs the scheduled review every 6 hours with warnings and slow requests', () => {
    const { write, triggers, detector, clock } = rig();
    write(3, { level: 40, message: 'disk 91% full' });
    write(5, { level: 30, message: 'GET /slow', durationMs: 2500 });
    clock.now = T0 + 6 * 3_600_000 - 1;
    expect(detector.tick()).toEqual([]);
    clock.now += 1;
    const [d] = detector.tick();
    expect(d).toMatchObject({ outcome: 'fire', rule: 'review' });
    expect(triggers[0]?.kind).toBe('review');
    const numbers = triggers[0]!.numbers as {
      top: Array<{ templateId: number; warn: number }>;
      slow: Array<{ templateId: number; slow: number }>;
    };
    expect(numbers.top[0]).toMatchObject({ templateId: 1, warn: 3 });
    expect(numbers.slow[0]).toMatchObject({ templateId: 2, slow: 5 });
    detector.complete(triggers[0]!.id);
    clock.now += 3_600_000;
    expect(detector.tick()).toEqual([]);
  });

  it('a due review waits for a free slot, then fires', () => {
    const { write, triggers, detector, clock, store } = rig();
    write(11, { message: 'job 1 failed' });
    expect(triggers).toHaveLength(1);
    clock.now = T0 + 6 * 3_600_000;
    const [held] = detector.tick();
    expect(held).toMatchObject({ rule: 'review', outcome: 'suppress', reasonCode: 'concurrency_limit' });
    clock.now += 5000;
    expect(detector.tick()).toEqual([]); // the same suppress is not stored again
    detector.complete(triggers[0]!.id);
    const [fired] = detector.tick();
    expect(fired).toMatchObject({ rule: 'review', outcome: 'fire' });
    expect(listDecisions(store.db, { outcome: 'fire' }).map((d) => d.rule)).toEqual(['new_pattern', 'review']);
  });

  it('keeps its state across restarts: cooldowns, baselines and the review schedule', () => {
    const first = rig();
    first.write(11, { message: 'x 1 failed' });
    expect(first.triggers).toHaveLength(1);
    first.writer.close();
    const second = rig({}, { ...first.store, cleanup: () => {} });
    second.clock.now = T0 + 10 * MINUTE_MS;
    second.write(11, { message: 'x 2 failed' });
    expect(second.triggers).toHaveLength(0);
    const last = listDecisions(first.store.db).at(-1);
    expect(last).toMatchObject({ outcome: 'suppress', reasonCode: 'cooldown' });
  });

  it('counts records from before a restart in its windows', () => {
    const first = rig();
    first.write(6, { message: 'queue 1 stalled' });
    first.writer.close();
    const second = rig({}, { ...first.store, cleanup: () => {} });
    second.clock.now = T0 + 2 * MINUTE_MS;
    second.write(4, { message: 'queue 2 stalled' });
    expect(second.triggers).toHaveLength(0);
    second.write(1, { message: 'queue 3 stalled' });
    expect(second.triggers).toHaveLength(1);
    expect(second.triggers[0]?.numbers).toMatchObject({ count: 11 });
  });

  it('live: the writer timer commits, the detector fires, no manual flush', async () => {
    const store = tempStore();
    cleanups.push(store.cleanup);
    const detector = new Detector({ db: store.db, config: triggersSchema.parse({}) });
    const writer = new LogWriter(store.db, {
      plugins: [simpleTemplatesPlugin(), detector.plugin()],
      maxBatchDelayMs: 20,
    });
    cleanups.unshift(() => writer.close());
    const fired = nextEvent<TriggerEvent>(detector, 'trigger');
    for (let i = 0; i < 11; i++)
      writer.write({ ts: Date.now(), level: 50, message: `upstream 50${i} refused`, pid: i });
    const t = await fired;
    expect(t).toMatchObject({ kind: 'new_pattern', templateId: 1 });
  });

  it('live, with the real miner: a new error with varying ids and one stack is one pattern and fires once', async () => {
    const store = tempStore();
    cleanups.push(store.cleanup);
    const { plugins, detector } = createPatternsPipeline(store.db, parseConfigText('{}', '<test>'));
    const writer = new LogWriter(store.db, { plugins, maxBatchDelayMs: 20 });
    cleanups.unshift(() => writer.close());
    const triggers: TriggerEvent[] = [];
    detector.on('trigger', (t) => triggers.push(t));
    const fired = nextEvent<TriggerEvent>(detector, 'trigger');
    for (let i = 0; i < 11; i++) {
      writer.write({
        ts: Date.now(),
        level: 50,
        message: `order ${9000 + i} for user ${i}a7f3 failed: insufficient stock`,
        stack:
          'Error: insufficient stock\n    at reserve (/srv/app/src/stock.ts:42:11)\n    at checkout (/srv/app/src/orders.ts:88:5)',
        pid: i,
      });
    }
    const t = await fired;
    expect(t).toMatchObject({ kind: 'new_pattern', urgent: false });
    expect(t.numbers).toMatchObject({ count: 11 });
    const row = store.db.prepare('SELECT text, count FROM templates WHERE id = ?').get(t.templateId) as {
      text: string;
      count: number;
    };
    expect(row.count).toBe(11);
    expect(decisionsForTemplate(store.db, t.templateId!)[0]).toMatchObject({ outcome: 'fire', triggerId: t.id });
  });
});
