/**
 * Turning stored records into per-template, per-minute bucket increments: pure, no I/O.
 * The store side (upserts, reads) is in buckets-store.ts.
 */
import { type BucketCounts, emptyCounts, levelKey, minuteOf } from './windows.js';

/** The fields of a record that the buckets need. */
export interface BucketInput {
  ts: number;
  level: number;
  templateId?: number | undefined;
  durationMs?: number | undefined;
}

/** One bucket increment: add `counts` to the row (`templateId`, `minute`). */
export interface BucketDelta {
  /** 0 for records without a template id. */
  templateId: number;
  minute: number;
  counts: BucketCounts;
}

/**
 * Group records into bucket increments, one per (template, minute). A record with a duration of
 * at least `slowMs` counts as a slow request.
 */
export function aggregateRecords(records: Iterable<BucketInput>, slowMs: number): BucketDelta[] {
  const byKey = new Map<string, BucketDelta>();
  for (const record of records) {
    const templateId = record.templateId ?? 0;
    const minute = minuteOf(record.ts);
    const key = `${templateId}:${minute}`;
    let delta = byKey.get(key);
    if (delta === undefined) {
      delta = { templateId, minute, counts: emptyCounts() };
      byKey.set(key, delta);
    }
    const c = delta.counts;
    c.count += 1;
    c[levelKey(record.level)] += 1;
    const d = record.durationMs;
    if (typeof d === 'number' && Number.isFinite(d)) {
      c.durN += 1;
      c.durSum += d;
      c.durMax = c.durMax === null ? d : Math.max(c.durMax, d);
      if (d >= slowMs) c.slow += 1;
    }
  }
  return [...byKey.values()];
}
