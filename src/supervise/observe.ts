import { hasTemplatesTable, templateById } from '../patterns/index.js';
import type { Db } from '../store/index.js';
import {
  durationsBetween,
  errorKindsBetween,
  firstLogTsBetween,
  periodLogCounts,
  tableExists,
} from '../store/index.js';
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
    const counts = periodLogCounts(db, {
      from: q.from,
      to: q.to,
      errorLevel: ERROR_LEVEL,
      templateId: q.targetTemplateId,
    });
    records = Math.round(counts.records);
    errors = Math.round(counts.errors);
    if (counts.template !== undefined) targetCount = Math.round(counts.template);
    latency = p95(durationsBetween(db, q.from, q.to));
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
  const { kinds, seenBefore } = errorKindsBetween(db, from, to, ERROR_LEVEL);
  const out: NewPattern[] = [];
  for (const k of kinds) {
    if (seenBefore(k, before)) continue;
    const key =
      k.templateId !== null
        ? `template:${k.templateId}`
        : k.errHash !== null
          ? `error:${k.errHash}`
          : `message:${k.message.slice(0, 80)}`;
    out.push({ key, count: k.count, example: k.message.slice(0, 200) });
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
  const first = firstLogTsBetween(db, before - lookbackMs, before);
  const candidates = [handoff, first].filter((t): t is number => t !== null);
  return candidates.length > 0 ? Math.max(...candidates) : undefined;
}

/** When template `templateId` was first seen (the bug's own onset), if known. */
export function templateOnset(db: Db, templateId: number): number | undefined {
  if (!hasTemplatesTable(db)) return undefined;
  return templateById(db, templateId)?.firstSeen ?? undefined;
}
