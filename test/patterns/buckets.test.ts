import { afterEach, describe, expect, it } from 'vitest';
import { triggersSchema } from '../../src/config/schema/patterns.js';
import { aggregateRecords } from '../../src/patterns/buckets.js';
import { bucketRows, overallWindow, templateWindow, writeRecordBuckets } from '../../src/patterns/buckets-store.js';
import { Detector } from '../../src/patterns/detector.js';
import { countAtLeast, MINUTE_MS, minuteOf, windowRange } from '../../src/patterns/windows.js';
import { LogWriter } from '../../src/store/log-writer.js';
import { runRetentionStep } from '../../src/store/retention.js';
import { simpleTemplatesPlugin, tempStore } from './helpers.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('windows', () => {
  it('a w-minute window is the w buckets ending with the current one', () => {
    expect(windowRange(T0 + 59_999, 5)).toEqual({ from: minuteOf(T0) - 4, to: minuteOf(T0) });
    expect(windowRange(T0, 1)).toEqual({ from: minuteOf(T0), to: minuteOf(T0) });
  });
});

describe('buckets', () => {
  it('aggregates per template and minute, per level, with durations and slow requests', () => {
    const deltas = aggregateRecords(
      [
        { ts: T0, level: 50, templateId: 1 },
        { ts: T0 + 1000, level: 60, templateId: 1 },
        { ts: T0 + 2000, level: 30, templateId: 1, durationMs: 1500 },
        { ts: T0 + 3000, level: 30, templateId: 1, durationMs: 20 },
        { ts: T0 + MINUTE_MS, level: 40, templateId: 1 },
        { ts: T0, level: 30 },
      ],
      1000,
    );
    expect(deltas).toHaveLength(3);
    const first = deltas.find((d) => d.templateId === 1 && d.minute === minuteOf(T0));
    expect(first?.counts).toMatchObject({
      count: 4,
      error: 1,
      fatal: 1,
      info: 2,
      slow: 1,
      durN: 2,
      durSum: 1520,
      durMax: 1500,
    });
    expect(countAtLeast(first!.counts, 'error')).toBe(2);
    expect(deltas.find((d) => d.templateId === 0)?.counts.count).toBe(1);
  });

  it('upserts add up across batches and window sums read them back', () => {
    const { db, cleanup } = tempStore();
    cleanups.push(cleanup);
    writeRecordBuckets(db, [{ ts: T0, level: 50, templateId: 3, message: 'a' }], 1000);
    writeRecordBuckets(db, [{ ts: T0 + 5, level: 40, templateId: 3, message: 'a', durationMs: 3000 }], 1000);
    const w = templateWindow(db, 3, minuteOf(T0), minuteOf(T0));
    expect(w).toMatchObject({ count: 2, error: 1, warn: 1, slow: 1, durMax: 3000 });
    expect(overallWindow(db, minuteOf(T0) - 4, minuteOf(T0)).count).toBe(2);
  });

  it('written in the ingest transaction; retention deletes logs but never the buckets', () => {
    const { db, cleanup } = tempStore();
    cleanups.push(cleanup);
    const detector = new Detector({ db, config: triggersSchema.parse({}), now: () => T0 + 30 * 86_400_000 });
    const writer = new LogWriter(db, { plugins: [simpleTemplatesPlugin(), detector.plugin()] });
    for (let i = 0; i < 50; i++) writer.write({ ts: T0 + i * 1000, level: 30, message: `old ${i}`, pid: i });
    writer.close();
    const before = bucketRows(db, 0, Number.MAX_SAFE_INTEGER);
    expect(before.reduce((n, r) => n + r.counts.count, 0)).toBe(50);
    const r = runRetentionStep(db, { maxAgeMs: 86_400_000, maxBytes: 1e12 }, T0 + 30 * 86_400_000);
    expect(r.deleted).toBe(50);
    expect((db.prepare('SELECT count(*) AS n FROM logs').get() as { n: number }).n).toBe(0);
    expect(bucketRows(db, 0, Number.MAX_SAFE_INTEGER)).toEqual(before);
  });
});
