/**
 * Log queries other stages ask of the `logs` table, one question each: the brief and the store
 * tools (a pattern's records and minutes, a request's size), the observation window (period
 * counts, new errors), the healing loop and the gate (a pattern's own error), the miner
 * (relinking merged templates), smoke proposals. Every SQL text that names `logs` lives in this
 * folder; the table may be missing in a database another command created (read as empty).
 */
import { LOG_SELECT, rowToStoredLog } from './log-rows.js';
import type { Db } from './open.js';
import type { StoredLog } from './records.js';
import { tableExists } from './tables.js';

const MINUTE = 60_000;

/** Whether any record carries template id `templateId`. */
export function templateHasLogs(db: Db, templateId: number): boolean {
  return db.prepare('SELECT 1 FROM logs WHERE template_id = ? LIMIT 1').get(templateId) !== undefined;
}

/** Whether request `requestId` has a record of template `templateId`. */
export function requestHasTemplate(db: Db, requestId: string, templateId: number): boolean {
  return (
    db.prepare('SELECT 1 FROM logs WHERE request_id = ? AND template_id = ? LIMIT 1').get(requestId, templateId) !==
    undefined
  );
}

/** How many rows request `requestId` has (a collapsed run counts once). */
export function requestRowCount(db: Db, requestId: string): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM logs WHERE request_id = ?').get(requestId) as { n: number }).n;
}

/** The first `limit` rows of template `templateId` in insertion order (its oldest records). */
export function oldestLogsOfTemplate(db: Db, templateId: number, limit = 20): StoredLog[] {
  return (
    db
      .prepare(`SELECT ${LOG_SELECT} FROM logs WHERE template_id = ? ORDER BY id LIMIT ?`)
      .all(templateId, limit) as Array<Record<string, unknown>>
  ).map(rowToStoredLog);
}

/** A row of a template's records, newest first, as `dancer patterns show` lists them. */
export interface TemplateLogRow {
  id: number;
  ts: number;
  level: number;
  count: number;
  message: string;
}

/** The newest `limit` rows of template `templateId` (by time, then id). */
export function newestLogsOfTemplate(db: Db, templateId: number, limit: number): TemplateLogRow[] {
  return db
    .prepare('SELECT id, ts, level, count, message FROM logs WHERE template_id = ? ORDER BY ts DESC, id DESC LIMIT ?')
    .all(templateId, limit) as TemplateLogRow[];
}

/**
 * Records of template `templateId` per minute (`minute` = ms / 60000) with `ts` in [from, to]
 * (ms, inclusive), minutes without records left out, oldest first: the timeline when the
 * detector's buckets have none.
 */
export function logMinuteCounts(
  db: Db,
  templateId: number,
  from: number,
  to: number,
): Array<{ minute: number; n: number }> {
  return db
    .prepare(
      `SELECT ts / ${MINUTE} AS minute, SUM(count) AS n FROM logs WHERE template_id = ? AND ts BETWEEN ? AND ?
       GROUP BY minute ORDER BY minute`,
    )
    .all(templateId, from, to) as Array<{ minute: number; n: number }>;
}

/** A pattern described from its records alone (before the miner has stored it). */
export interface LoggedPattern {
  id: number;
  /** The greatest message (a stand-in for the template's text). */
  text: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
  maxLevel: number;
}

const LOGGED_PATTERN =
  'SELECT template_id AS id, MAX(message) AS text, MIN(ts) AS firstSeen, MAX(last_ts) AS lastSeen, SUM(count) AS count, MAX(level) AS maxLevel FROM logs';

/** Template `templateId` described from its records, or undefined when it has none. */
export function loggedPattern(db: Db, templateId: number): LoggedPattern | undefined {
  const row = db.prepare(`${LOGGED_PATTERN} WHERE template_id = ?`).get(templateId) as
    | (Omit<LoggedPattern, 'id'> & { id: number | null })
    | undefined;
  return row?.id === null || row?.id === undefined ? undefined : (row as LoggedPattern);
}

/** Templates described from their records: level at least `minLevel`, seen since `since`, most records first. */
export function loggedPatterns(db: Db, filter: { minLevel: number; since: number; limit: number }): LoggedPattern[] {
  return db
    .prepare(
      `${LOGGED_PATTERN} WHERE template_id IS NOT NULL AND level >= ? AND ts >= ? GROUP BY template_id
       ORDER BY count DESC LIMIT ?`,
    )
    .all(filter.minLevel, filter.since, filter.limit) as LoggedPattern[];
}

/** Type and message of the error of template `templateId`'s newest record that has one, or undefined. */
export function latestErrorOfTemplate(
  db: Db,
  templateId: number,
  require: 'message' | 'type-or-message' = 'type-or-message',
): { type: string | null; message: string | null } | undefined {
  const where = require === 'message' ? 'err_message IS NOT NULL' : '(err_type IS NOT NULL OR err_message IS NOT NULL)';
  return db
    .prepare(
      `SELECT err_type AS type, err_message AS message FROM logs WHERE template_id = ? AND ${where} ORDER BY id DESC LIMIT 1`,
    )
    .get(templateId) as { type: string | null; message: string | null } | undefined;
}

/**
 * A statement that moves every record of one template to another (the miner merged them):
 * `relink(into, from)`.
 */
export function prepareTemplateRelink(db: Db): (into: number, from: number) => void {
  const stmt = db.prepare('UPDATE logs SET template_id = ? WHERE template_id = ?');
  return (into, from) => {
    stmt.run(into, from);
  };
}

/** What the service answered, as logged: HTTP method, route, status and how many records. */
export interface LoggedAnswer {
  method: string;
  path: string;
  status: number;
  count: number;
}

/** Every (method, route, status) the records carry, with their counts. */
export function loggedAnswers(db: Db): LoggedAnswer[] {
  return db
    .prepare(
      `SELECT http_method AS method, http_route AS path, http_status AS status, SUM(count) AS count FROM logs
       WHERE http_method IS NOT NULL AND http_route IS NOT NULL AND http_status IS NOT NULL
       GROUP BY http_method, http_route, http_status`,
    )
    .all() as LoggedAnswer[];
}

/**
 * Records in the period [from, to) and those at `errorLevel` or above, and, with `templateId`,
 * that template's. A row may stand for a run of identical records spread over [ts, last_ts]
 * (the writer collapses them): the share of each run inside the period counts. Zero without a
 * logs table; not rounded.
 */
export function periodLogCounts(
  db: Db,
  q: { from: number; to: number; errorLevel: number; templateId?: number | null | undefined },
): { records: number; errors: number; template: number | undefined } {
  if (!tableExists(db, 'logs')) return { records: 0, errors: 0, template: undefined };
  const share = `count * (CASE WHEN last_ts > ts
      THEN (MIN(last_ts, @to) - MAX(ts, @from)) * 1.0 / (last_ts - ts) ELSE 1.0 END)`;
  const overlap = 'ts >= @from - 60000 AND ts < @to AND last_ts >= @from';
  const row = db
    .prepare(
      `SELECT COALESCE(SUM(${share}),0) AS records,
              COALESCE(SUM(CASE WHEN level >= @level THEN ${share} ELSE 0 END),0) AS errors
       FROM logs WHERE ${overlap}`,
    )
    .get({ from: q.from, to: q.to, level: q.errorLevel }) as { records: number; errors: number };
  let template: number | undefined;
  if (q.templateId !== undefined && q.templateId !== null) {
    template = (
      db
        .prepare(`SELECT COALESCE(SUM(${share}),0) AS n FROM logs WHERE template_id = @t AND ${overlap}`)
        .get({ t: q.templateId, from: q.from, to: q.to }) as { n: number }
    ).n;
  }
  return { records: row.records, errors: row.errors, template };
}

/** Logged durations (ms) of records with `ts` in [from, to), at most `limit`. */
export function durationsBetween(db: Db, from: number, to: number, limit = 50_000): number[] {
  if (!tableExists(db, 'logs')) return [];
  return (
    db
      .prepare('SELECT duration_ms AS d FROM logs WHERE duration_ms IS NOT NULL AND ts >= ? AND ts < ? LIMIT ?')
      .all(from, to, limit) as Array<{ d: number }>
  ).map((r) => r.d);
}

/** The time of the first record with `ts` in [from, to), or null. */
export function firstLogTsBetween(db: Db, from: number, to: number): number | null {
  if (!tableExists(db, 'logs')) return null;
  return (db.prepare('SELECT MIN(ts) AS t FROM logs WHERE ts >= ? AND ts < ?').get(from, to) as { t: number | null }).t;
}

/** One kind of error in a period: by template id, else error hash, else message. */
export interface ErrorKind {
  templateId: number | null;
  errHash: string | null;
  message: string;
  count: number;
}

/**
 * The kinds of error (records at `minLevel` or above) whose runs overlap [from, to), grouped by
 * template id, else error hash, else message; `seenBefore(kind, at)` tells whether a record of
 * the same kind was logged before `at`.
 */
export function errorKindsBetween(
  db: Db,
  from: number,
  to: number,
  minLevel: number,
): { kinds: ErrorKind[]; seenBefore: (kind: ErrorKind, at: number) => boolean } {
  if (!tableExists(db, 'logs')) return { kinds: [], seenBefore: () => false };
  const kinds = db
    .prepare(
      `SELECT template_id AS templateId, err_hash AS errHash, message, SUM(count) AS count FROM logs
       WHERE level >= ? AND ts >= ? - 60000 AND ts < ? AND last_ts >= ?
       GROUP BY COALESCE(CAST(template_id AS TEXT), err_hash, message)`,
    )
    .all(minLevel, from, to, from) as ErrorKind[];
  const seen = {
    t: db.prepare('SELECT 1 FROM logs WHERE template_id = ? AND ts < ? LIMIT 1'),
    h: db.prepare('SELECT 1 FROM logs WHERE template_id IS NULL AND err_hash = ? AND ts < ? LIMIT 1'),
    m: db.prepare(
      'SELECT 1 FROM logs WHERE template_id IS NULL AND err_hash IS NULL AND message = ? AND ts < ? LIMIT 1',
    ),
  };
  const seenBefore = (k: ErrorKind, at: number): boolean =>
    (k.templateId !== null
      ? seen.t.get(k.templateId, at)
      : k.errHash !== null
        ? seen.h.get(k.errHash, at)
        : seen.m.get(k.message, at)) !== undefined;
  return { kinds, seenBefore };
}
