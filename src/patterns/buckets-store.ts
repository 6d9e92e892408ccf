/**
 * The `template_buckets` table: upserts written inside the ingest transaction, and the reads
 * the detector, the baselines and the CLI need. Retention never deletes these rows.
 */
import type { Db, LogRecord } from '../store/index.js';
import { aggregateRecords, type BucketDelta } from './buckets.js';
import { type BucketCounts, emptyCounts } from './windows.js';

const COLUMNS =
  'count AS count, n_trace AS trace, n_debug AS debug, n_info AS info, n_warn AS warn, n_error AS error, ' +
  'n_fatal AS fatal, slow AS slow, dur_n AS durN, dur_sum AS durSum, dur_max AS durMax';

const SUMS =
  'SUM(count) AS count, SUM(n_trace) AS trace, SUM(n_debug) AS debug, SUM(n_info) AS info, SUM(n_warn) AS warn, ' +
  'SUM(n_error) AS error, SUM(n_fatal) AS fatal, SUM(slow) AS slow, SUM(dur_n) AS durN, SUM(dur_sum) AS durSum, ' +
  'MAX(dur_max) AS durMax';

const statements = new WeakMap<Db, ReturnType<typeof prepare>>();

function prepare(db: Db) {
  return {
    upsert: db.prepare(
      `INSERT INTO template_buckets (template_id, minute, count, n_trace, n_debug, n_info, n_warn, n_error, n_fatal,
         slow, dur_n, dur_sum, dur_max)
       VALUES (@templateId, @minute, @count, @trace, @debug, @info, @warn, @error, @fatal, @slow, @durN, @durSum, @durMax)
       ON CONFLICT (template_id, minute) DO UPDATE SET
         count = count + excluded.count, n_trace = n_trace + excluded.n_trace, n_debug = n_debug + excluded.n_debug,
         n_info = n_info + excluded.n_info, n_warn = n_warn + excluded.n_warn, n_error = n_error + excluded.n_error,
         n_fatal = n_fatal + excluded.n_fatal, slow = slow + excluded.slow, dur_n = dur_n + excluded.dur_n,
         dur_sum = dur_sum + excluded.dur_sum,
         dur_max = CASE WHEN dur_max IS NULL THEN excluded.dur_max WHEN excluded.dur_max IS NULL THEN dur_max
                        ELSE max(dur_max, excluded.dur_max) END`,
    ),
    windowOne: db.prepare(`SELECT ${SUMS} FROM template_buckets WHERE template_id = ? AND minute BETWEEN ? AND ?`),
    windowAll: db.prepare(`SELECT ${SUMS} FROM template_buckets WHERE minute BETWEEN ? AND ?`),
    range: db.prepare(
      `SELECT template_id AS templateId, minute, ${COLUMNS} FROM template_buckets
       WHERE minute BETWEEN ? AND ? ORDER BY minute, template_id`,
    ),
    minMinute: db.prepare('SELECT MIN(minute) AS m FROM template_buckets'),
    series: db.prepare(
      'SELECT minute, count FROM template_buckets WHERE template_id = ? AND minute BETWEEN ? AND ? ORDER BY minute',
    ),
    perTemplate: db.prepare(
      `SELECT template_id AS templateId, ${SUMS} FROM template_buckets
       WHERE minute BETWEEN ? AND ? GROUP BY template_id`,
    ),
  };
}

function stmts(db: Db) {
  let s = statements.get(db);
  if (s === undefined) {
    s = prepare(db);
    statements.set(db, s);
  }
  return s;
}

function normalise(row: Record<string, unknown> | undefined): BucketCounts {
  const c = emptyCounts();
  if (row === undefined) return c;
  for (const k of ['count', 'trace', 'debug', 'info', 'warn', 'error', 'fatal', 'slow', 'durN', 'durSum'] as const) {
    c[k] = Number(row[k] ?? 0);
  }
  c.durMax = row.durMax === null || row.durMax === undefined ? null : Number(row.durMax);
  return c;
}

/** Add bucket increments (upserts). Call inside the ingest transaction. */
export function writeBuckets(db: Db, deltas: readonly BucketDelta[]): void {
  const { upsert } = stmts(db);
  for (const d of deltas) upsert.run({ templateId: d.templateId, minute: d.minute, ...d.counts });
}

/** Aggregate `records` and write their bucket increments. */
export function writeRecordBuckets(db: Db, records: Iterable<LogRecord>, slowMs: number): BucketDelta[] {
  const deltas = aggregateRecords(records, slowMs);
  writeBuckets(db, deltas);
  return deltas;
}

/** Sum of one template's buckets over minutes `from..to` (inclusive). */
export function templateWindow(db: Db, templateId: number, from: number, to: number): BucketCounts {
  return normalise(stmts(db).windowOne.get(templateId, from, to) as Record<string, unknown> | undefined);
}

/** Sum of every template's buckets over minutes `from..to` (inclusive). */
export function overallWindow(db: Db, from: number, to: number): BucketCounts {
  return normalise(stmts(db).windowAll.get(from, to) as Record<string, unknown> | undefined);
}

/** One stored bucket row. */
export interface BucketRow {
  templateId: number;
  minute: number;
  counts: BucketCounts;
}

/** Every bucket row with minute in `from..to`, ordered by minute. */
export function bucketRows(db: Db, from: number, to: number): BucketRow[] {
  const rows = stmts(db).range.all(from, to) as Array<Record<string, unknown>>;
  return rows.map((r) => ({ templateId: Number(r.templateId), minute: Number(r.minute), counts: normalise(r) }));
}

/** The oldest bucket minute, or undefined when there are none. */
export function firstBucketMinute(db: Db): number | undefined {
  const row = stmts(db).minMinute.get() as { m: number | null };
  return row.m === null ? undefined : row.m;
}

/** Per-minute counts of one template over `from..to`, with zeros for missing minutes. */
export function templateSeries(db: Db, templateId: number, from: number, to: number): number[] {
  const out = new Array<number>(Math.max(0, to - from + 1)).fill(0);
  for (const row of stmts(db).series.all(templateId, from, to) as Array<{ minute: number; count: number }>) {
    out[row.minute - from] = row.count;
  }
  return out;
}

/** Per-template sums over `from..to`. */
export function perTemplateWindow(db: Db, from: number, to: number): Map<number, BucketCounts> {
  const out = new Map<number, BucketCounts>();
  for (const row of stmts(db).perTemplate.all(from, to) as Array<Record<string, unknown>>) {
    out.set(Number(row.templateId), normalise(row));
  }
  return out;
}

/** Bucket rows of the given templates from minute `from` on. */
export function bucketRowsFor(db: Db, ids: readonly number[], from: number): BucketRow[] {
  const out: BucketRow[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = db
      .prepare(
        `SELECT template_id AS templateId, minute, ${COLUMNS} FROM template_buckets
         WHERE template_id IN (${chunk.map(() => '?').join(',')}) AND minute >= ?`,
      )
      .all(...chunk, from) as Array<Record<string, unknown>>;
    for (const r of rows)
      out.push({ templateId: Number(r.templateId), minute: Number(r.minute), counts: normalise(r) });
  }
  return out;
}

/** Per-minute sums over every template from minute `from` on. */
export function minuteTotals(db: Db, from: number): Array<{ minute: number; counts: BucketCounts }> {
  const rows = db
    .prepare(`SELECT minute, ${SUMS} FROM template_buckets WHERE minute >= ? GROUP BY minute`)
    .all(from) as Array<Record<string, unknown>>;
  return rows.map((r) => ({ minute: Number(r.minute), counts: normalise(r) }));
}
