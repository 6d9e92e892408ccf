import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';
import { type NewPattern, type PeriodStats, p95 } from './verdict.js';

/** What to measure for one period. */
export interface PeriodQuery {
  service: string;
  from: number;
  to: number;
  targetTemplateId?: number | null | undefined;
  /** Crashes the supervisor counted in the period. */
  crashes: number;
}

const ERROR_LEVEL = 50;

/**
 * Measure one period from the store: records and errors from `logs`, the target pattern's
 * count, p95 of logged durations, worker RSS and CPU from `metrics`.
 */
export function periodStats(db: Db, q: PeriodQuery): PeriodStats {
  const durationMs = Math.max(1, q.to - q.from);
  let records = 0;
  let errors = 0;
  let targetCount: number | undefined;
  let latency: number | undefined;
  if (tableExists(db, 'logs')) {
    // A row may stand for a run of identical records spread over [ts, last_ts] (the writer
    // collapses them): count the share of each run that falls inside the period.
    const share = `count * (CASE WHEN last_ts > ts
        THEN (MIN(last_ts, @to) - MAX(ts, @from)) * 1.0 / (last_ts - ts) ELSE 1.0 END)`;
    const overlap = 'ts >= @from - 60000 AND ts < @to AND last_ts >= @from';
    const row = db
      .prepare(
        `SELECT COALESCE(SUM(${share}),0) AS records,
                COALESCE(SUM(CASE WHEN level >= ${ERROR_LEVEL} THEN ${share} ELSE 0 END),0) AS errors
         FROM logs WHERE ${overlap}`,
      )
      .get({ from: q.from, to: q.to }) as { records: number; errors: number };
    records = Math.round(row.records);
    errors = Math.round(row.errors);
    if (q.targetTemplateId !== undefined && q.targetTemplateId !== null) {
      targetCount = Math.round(
        (
          db
            .prepare(`SELECT COALESCE(SUM(${share}),0) AS n FROM logs WHERE template_id = @t AND ${overlap}`)
            .get({ t: q.targetTemplateId, from: q.from, to: q.to }) as { n: number }
        ).n,
      );
    }
    const durations = (
      db
        .prepare('SELECT duration_ms AS d FROM logs WHERE duration_ms IS NOT NULL AND ts >= ? AND ts < ? LIMIT 50000')
        .all(q.from, q.to) as Array<{ d: number }>
    ).map((r) => r.d);
    latency = p95(durations);
  }
  let maxRssBytes: number | undefined;
  let meanRssBytes: number | undefined;
  let meanCpuPercent: number | undefined;
  if (tableExists(db, 'metrics')) {
    const rss = db
      .prepare(
        `SELECT MAX(value) AS max, AVG(value) AS mean FROM metrics
         WHERE service = ? AND scope = 'worker' AND name = 'rss_bytes' AND ts >= ? AND ts < ?`,
      )
      .get(q.service, q.from, q.to) as { max: number | null; mean: number | null };
    maxRssBytes = rss.max ?? undefined;
    meanRssBytes = rss.mean ?? undefined;
    const cpu = db
      .prepare(
        `SELECT AVG(value) AS mean FROM metrics
         WHERE service = ? AND scope = 'worker' AND name = 'cpu_percent' AND ts >= ? AND ts < ?`,
      )
      .get(q.service, q.from, q.to) as { mean: number | null };
    meanCpuPercent = cpu.mean ?? undefined;
  }
  return {
    durationMs,
    records,
    errors,
    targetCount,
    p95LatencyMs: latency,
    maxRssBytes,
    meanRssBytes,
    meanCpuPercent,
    crashes: q.crashes,
  };
}

/**
 * Error patterns seen in [from, to) that never appeared before `before` (default `from`; the
 * deploy's start, since a new worker takes traffic while it is probed): keyed by template id
 * when the miner set one, else by error hash, else by message.
 */
export function newErrorPatterns(db: Db, from: number, to: number, before = from): NewPattern[] {
  if (!tableExists(db, 'logs')) return [];
  const rows = db
    .prepare(
      `SELECT template_id AS t, err_hash AS h, message AS m, SUM(count) AS n FROM logs
       WHERE level >= ${ERROR_LEVEL} AND ts >= ? - 60000 AND ts < ? AND last_ts >= ?
       GROUP BY COALESCE(CAST(template_id AS TEXT), err_hash, message)`,
    )
    .all(from, to, from) as Array<{ t: number | null; h: string | null; m: string; n: number }>;
  const seen = {
    t: db.prepare(`SELECT 1 FROM logs WHERE template_id = ? AND ts < ? LIMIT 1`),
    h: db.prepare(`SELECT 1 FROM logs WHERE template_id IS NULL AND err_hash = ? AND ts < ? LIMIT 1`),
    m: db.prepare(
      `SELECT 1 FROM logs WHERE template_id IS NULL AND err_hash IS NULL AND message = ? AND ts < ? LIMIT 1`,
    ),
  };
  const out: NewPattern[] = [];
  for (const r of rows) {
    const known =
      r.t !== null ? seen.t.get(r.t, before) : r.h !== null ? seen.h.get(r.h, before) : seen.m.get(r.m, before);
    if (known) continue;
    const key = r.t !== null ? `template:${r.t}` : r.h !== null ? `error:${r.h}` : `message:${r.m.slice(0, 80)}`;
    out.push({ key, count: r.n, example: r.m.slice(0, 200) });
  }
  return out;
}

/**
 * When the release serving before `before` started serving: the latest handoff (deploy,
 * rollback, reload) ready before it, or the first record logged in the `lookbackMs` before it,
 * whichever is later. A baseline only counts time actually served.
 */
export function servedSince(db: Db, service: string, before: number, lookbackMs: number): number | undefined {
  const handoff = (
    db
      .prepare('SELECT MAX(ready_at) AS t FROM deploys WHERE service = ? AND ready_at IS NOT NULL AND ready_at < ?')
      .get(service, before) as { t: number | null }
  ).t;
  let first: number | null = null;
  if (tableExists(db, 'logs')) {
    first = (
      db.prepare('SELECT MIN(ts) AS t FROM logs WHERE ts >= ? AND ts < ?').get(before - lookbackMs, before) as {
        t: number | null;
      }
    ).t;
  }
  const candidates = [handoff, first].filter((t): t is number => t !== null);
  return candidates.length > 0 ? Math.max(...candidates) : undefined;
}

/** When template `templateId` was first seen (the bug's own onset), if known. */
export function templateOnset(db: Db, templateId: number): number | undefined {
  if (!tableExists(db, 'templates')) return undefined;
  const row = db.prepare('SELECT first_seen AS t FROM templates WHERE id = ?').get(templateId) as
    | { t: number | null }
    | undefined;
  return row?.t ?? undefined;
}
