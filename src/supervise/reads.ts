/**
 * Reads of the supervisor's tables (`deploys`, `releases`, `supervisor_state`, `metrics`) for the
 * other stages: the dashboard, the bot's feed and store watcher, the changelog (through the CLI),
 * the healing loop, the demo and the consultation's metrics (injected by the caller). Each answers
 * one question; a table an older or fresh store does not have yet reads as empty.
 */
import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';
import { type DeployRow, type ReleaseRow, toDeploy, toRelease } from './state-store.js';

const deployRows = (rows: unknown[]): DeployRow[] => (rows as Array<Record<string, unknown>>).map(toDeploy);

/** The newest `limit` deploys of `service`, newest first. */
export function recentDeploys(db: Db, service: string, limit = 10): DeployRow[] {
  if (!tableExists(db, 'deploys')) return [];
  return deployRows(db.prepare('SELECT * FROM deploys WHERE service = ? ORDER BY id DESC LIMIT ?').all(service, limit));
}

/** The newest `limit` deploys of any service, newest first. */
export function latestDeploys(db: Db, limit: number): DeployRow[] {
  if (!tableExists(db, 'deploys')) return [];
  return deployRows(db.prepare('SELECT * FROM deploys ORDER BY id DESC LIMIT ?').all(limit));
}

/** Every deploy, oldest first. */
export function allDeploys(db: Db): DeployRow[] {
  if (!tableExists(db, 'deploys')) return [];
  return deployRows(db.prepare('SELECT * FROM deploys ORDER BY id').all());
}

/** Deploys of fix `fixId` or to one of `releases` (its merge or rollback commit), oldest first. */
export function deploysOfFixOrReleases(db: Db, fixId: number, releases: readonly string[]): DeployRow[] {
  if (!tableExists(db, 'deploys')) return [];
  const marks = releases.map(() => '?').join(', ');
  return deployRows(
    db
      .prepare(
        `SELECT * FROM deploys WHERE fix_id = ? ${releases.length ? `OR to_release IN (${marks})` : ''} ORDER BY id`,
      )
      .all(fixId, ...releases),
  );
}

/**
 * Verdicts of the `kind = 'deploy'` deploys of fix `fixId` that have one (parsed JSON; null for
 * one that is not JSON), oldest first, or the newest `newest` of them newest first.
 */
export function fixDeployVerdicts(db: Db, fixId: number, newest?: number): unknown[] {
  if (!tableExists(db, 'deploys')) return [];
  const order = newest === undefined ? 'ORDER BY id' : 'ORDER BY id DESC LIMIT ?';
  const rows = db
    .prepare(`SELECT verdict FROM deploys WHERE fix_id = ? AND kind = 'deploy' AND verdict IS NOT NULL ${order}`)
    .all(...(newest === undefined ? [fixId] : [fixId, newest])) as Array<{ verdict: string }>;
  return rows.map((r) => parseVerdict(r.verdict));
}

/** A stored verdict parsed; null for one that is not JSON (it says nothing). */
function parseVerdict(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** The fix deploy `deployId` belongs to, or undefined (no such deploy, or not a fix's). */
export function fixOfDeploy(db: Db, deployId: number): number | undefined {
  if (!tableExists(db, 'deploys')) return undefined;
  const row = db.prepare('SELECT fix_id AS fixId FROM deploys WHERE id = ?').get(deployId) as
    | { fixId: number | null }
    | undefined;
  return row?.fixId ?? undefined;
}

/** The fix of the newest deploy to a release whose id starts with `prefix` (a commit prefix). */
export function fixOfReleasePrefix(db: Db, prefix: string): number | undefined {
  if (!tableExists(db, 'deploys')) return undefined;
  const like = `${prefix.replace(/[\\%_]/g, '')}%`;
  const row = db
    .prepare('SELECT fix_id FROM deploys WHERE to_release LIKE ? AND fix_id IS NOT NULL ORDER BY id DESC LIMIT 1')
    .get(like) as { fix_id: number } | undefined;
  return row?.fix_id;
}

/** The fix of the newest `kind = 'deploy'` deploy to one of `releases`, or undefined. */
export function fixDeployedTo(db: Db, releases: readonly string[]): number | undefined {
  if (releases.length === 0 || !tableExists(db, 'deploys')) return undefined;
  const marks = releases.map(() => '?').join(',');
  const row = db
    .prepare(
      `SELECT fix_id AS f FROM deploys WHERE kind = 'deploy' AND fix_id IS NOT NULL AND to_release IN (${marks})
       ORDER BY id DESC LIMIT 1`,
    )
    .get(...releases) as { f: number } | undefined;
  return row?.f;
}

/** The newest `limit` releases of `service`, newest first. */
export function recentReleases(db: Db, service: string, limit = 10): ReleaseRow[] {
  if (!tableExists(db, 'releases')) return [];
  return (
    db
      .prepare('SELECT * FROM releases WHERE service = ? ORDER BY created_at DESC LIMIT ?')
      .all(service, limit) as Array<Record<string, unknown>>
  ).map(toRelease);
}

/** The service whose supervisor state changed last (the one that ran here), or undefined. */
export function latestServiceName(db: Db): string | undefined {
  if (!tableExists(db, 'supervisor_state')) return undefined;
  const row = db.prepare('SELECT service FROM supervisor_state ORDER BY updated_at DESC LIMIT 1').get() as
    | { service: string }
    | undefined;
  return row?.service;
}

/** One metric sample. */
export interface MetricSample {
  ts: number;
  name: string;
  value: number;
  pid: number | null;
}

/** The workers' `rss_bytes` and `cpu_percent` samples of `service` since `since`, oldest first. */
export function workerMetricsSince(db: Db, service: string, since: number): MetricSample[] {
  if (!tableExists(db, 'metrics')) return [];
  return db
    .prepare(
      "SELECT ts, name, value, pid FROM metrics WHERE service = ? AND scope = 'worker' AND name IN ('rss_bytes', 'cpu_percent') AND ts >= ? ORDER BY ts",
    )
    .all(service, since) as MetricSample[];
}

/** A metric's figures over a span. */
export interface MetricSummary {
  name: string;
  samples: number;
  min: number;
  avg: number;
  max: number;
}

/** Per metric name, its figures between `from` and `to` (inclusive), by name; at most `limit` names. */
export function metricSummaries(db: Db, from: number, to: number, limit = 500): MetricSummary[] {
  if (!tableExists(db, 'metrics')) return [];
  return db
    .prepare(
      `SELECT name, COUNT(*) AS samples, MIN(value) AS min, AVG(value) AS avg, MAX(value) AS max FROM metrics
       WHERE ts BETWEEN ? AND ? GROUP BY name ORDER BY name LIMIT ?`,
    )
    .all(from, to, limit) as MetricSummary[];
}

/** One bucket of a metric: `start` is `from + bucket * width`. */
export interface MetricBucket {
  bucket: number;
  min: number;
  avg: number;
  max: number;
  samples: number;
}

/** Metric `name` between `from` and `to` in buckets of `widthMs` from `from` (at most 500). */
export function metricBuckets(db: Db, name: string, from: number, to: number, widthMs: number): MetricBucket[] {
  if (!tableExists(db, 'metrics')) return [];
  return db
    .prepare(
      `SELECT (ts - ?) / ? AS bucket, MIN(value) AS min, AVG(value) AS avg, MAX(value) AS max, COUNT(*) AS samples
       FROM metrics WHERE name = ? AND ts BETWEEN ? AND ? GROUP BY bucket ORDER BY bucket LIMIT 500`,
    )
    .all(from, widthMs, name, from, to) as MetricBucket[];
}
