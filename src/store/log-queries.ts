import { setTimeout as sleep } from 'node:timers/promises';
import { DancerError } from '../errors.js';
import { readDropped } from './dropped.js';
import { LOG_SELECT, rowToStoredLog } from './log-rows.js';
import { COLLAPSE_MAX_SPAN_MS } from './log-writer.js';
import type { Db } from './open.js';
import { toStoreError } from './open.js';
import { LEVELS, type LevelName, levelName, type StoredLog } from './records.js';

/** Filters shared by every log query. Times are ms since the epoch. */
export interface LogFilter {
  /** Rows whose run overlaps `[since, …)`: `last_ts >= since`. */
  since?: number | undefined;
  /** Rows that started at or before `until`: `ts <= until`. */
  until?: number | undefined;
  /** Minimum level (pino number), e.g. 40 for warn and above. */
  minLevel?: number | undefined;
  /** Exact source, or a glob with `*` (`api.*`). */
  source?: string | undefined;
  requestId?: string | undefined;
  templateId?: number | undefined;
  /** Only rows with `id > afterId` (followers). */
  afterId?: number | undefined;
  /** At most this many rows: the newest ones, still returned oldest first. Default: no limit. */
  limit?: number | undefined;
}

interface Where {
  sql: string;
  params: unknown[];
}

/** Build the WHERE clause for `filter` over the `logs` table (aliased `logs`). */
export function logWhere(filter: LogFilter): Where {
  const terms: string[] = [];
  const params: unknown[] = [];
  if (filter.since !== undefined) {
    // Runs span at most COLLAPSE_MAX_SPAN_MS, so the ts index bounds the scan.
    terms.push('logs.ts >= ?', 'logs.last_ts >= ?');
    params.push(filter.since - COLLAPSE_MAX_SPAN_MS, filter.since);
  }
  if (filter.until !== undefined) {
    terms.push('logs.ts <= ?');
    params.push(filter.until);
  }
  if (filter.minLevel !== undefined) {
    terms.push('logs.level >= ?');
    params.push(filter.minLevel);
    // Repeat the partial index's condition so SQLite may use logs_warn_ts.
    if (filter.minLevel >= 40) terms.push('logs.level >= 40');
  }
  if (filter.source !== undefined) {
    if (filter.source.includes('*')) terms.push('logs.source GLOB ?');
    else terms.push('logs.source = ?');
    params.push(filter.source);
  }
  if (filter.requestId !== undefined) {
    terms.push('logs.request_id = ?');
    params.push(filter.requestId);
  }
  if (filter.templateId !== undefined) {
    terms.push('logs.template_id = ?');
    params.push(filter.templateId);
  }
  if (filter.afterId !== undefined) {
    terms.push('logs.id > ?');
    params.push(filter.afterId);
  }
  return { sql: terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '', params };
}

function run<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw toStoreError(error);
  }
}

/**
 * Rows matching `filter`, oldest first (arrival order). With `limit`, the newest `limit` rows.
 *
 * @throws {DancerError} store errors (`DANCER_STORE_LOCKED`, ...).
 */
export function listLogs(db: Db, filter: LogFilter = {}): StoredLog[] {
  const where = logWhere(filter);
  return run(() => {
    if (filter.limit === undefined) {
      const rows = db.prepare(`SELECT ${LOG_SELECT} FROM logs ${where.sql} ORDER BY logs.id`).all(...where.params);
      return (rows as Record<string, unknown>[]).map(rowToStoredLog);
    }
    const rows = db
      .prepare(`SELECT ${LOG_SELECT} FROM logs ${where.sql} ORDER BY logs.id DESC LIMIT ?`)
      .all(...where.params, filter.limit) as Record<string, unknown>[];
    return rows.reverse().map(rowToStoredLog);
  });
}

/**
 * Every row matching `filter`, oldest first, one at a time (for exports of any size).
 *
 * @throws {DancerError} store errors.
 */
export function* iterateLogs(db: Db, filter: LogFilter = {}): Generator<StoredLog> {
  const where = logWhere({ ...filter, limit: undefined });
  const statement = run(() => db.prepare(`SELECT ${LOG_SELECT} FROM logs ${where.sql} ORDER BY logs.id`));
  const iterator = statement.iterate(...where.params) as IterableIterator<Record<string, unknown>>;
  try {
    for (;;) {
      const next = run(() => iterator.next());
      if (next.done) return;
      yield rowToStoredLog(next.value);
    }
  } finally {
    // Stopped early (the consumer broke off): release the statement so the db can close.
    iterator.return?.();
  }
}

/** How to phrase an FTS5 query, shown when one does not parse. */
export const SEARCH_HINT =
  'FTS5 syntax: words match stems (connect matches connection), "exact phrase", prefix*, AND / OR / NOT in capitals, ' +
  'parentheses, column filters message: err: stack:. Quote terms with punctuation, e.g. "127.0.0.1:5432" or "user-id".';

/**
 * Full-text search (FTS5 syntax passed through: phrases, prefixes, boolean operators) over
 * message, error and stack, with `filter` applied; newest `limit` rows, oldest first.
 *
 * @throws {DancerError} `DANCER_QUERY_INVALID` (with `details.hint`) when the query does not parse.
 */
export function searchLogs(db: Db, query: string, filter: LogFilter = {}): StoredLog[] {
  if (query.trim() === '') {
    throw new DancerError('DANCER_QUERY_INVALID', 'Empty search query.', { details: { hint: SEARCH_HINT } });
  }
  const where = logWhere(filter);
  const sql = `SELECT ${LOG_SELECT} FROM logs JOIN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?) AS hit
    ON logs.id = hit.rowid ${where.sql} ORDER BY logs.id DESC${filter.limit === undefined ? '' : ' LIMIT ?'}`;
  const params: unknown[] = [query, ...where.params];
  if (filter.limit !== undefined) params.push(filter.limit);
  try {
    const rows = db.prepare(sql).all(...params) as Record<string, unknown>[];
    return rows.reverse().map(rowToStoredLog);
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (code === 'SQLITE_ERROR') {
      throw new DancerError(
        'DANCER_QUERY_INVALID',
        `Invalid search query ${JSON.stringify(query)}: ${(error as Error).message}. ${SEARCH_HINT}`,
        {
          cause: error,
          details: { query, hint: SEARCH_HINT },
        },
      );
    }
    throw toStoreError(error);
  }
}

/** The result of {@link searchLogsLenient}: the rows, and how the query was read. */
export interface LenientSearch {
  logs: StoredLog[];
  /** The FTS query that ran (the input, or the input quoted as one phrase). */
  query: string;
  /** True when the input was not valid FTS syntax and was searched as a literal phrase. */
  literal: boolean;
}

/** `text` as one FTS5 phrase: `"..."` with inner quotes doubled. */
export function ftsPhrase(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/**
 * {@link searchLogs} for what people paste (identifiers, addresses, error text): FTS5 syntax when
 * the query parses, else the whole query as a literal phrase.
 *
 * @throws {DancerError} `DANCER_QUERY_INVALID` for an empty query.
 */
export function searchLogsLenient(db: Db, query: string, filter: LogFilter = {}): LenientSearch {
  try {
    return { logs: searchLogs(db, query, filter), query, literal: false };
  } catch (error) {
    if (!(error instanceof DancerError) || error.code !== 'DANCER_QUERY_INVALID' || query.trim() === '') throw error;
    const phrase = ftsPhrase(query.trim());
    return { logs: searchLogs(db, phrase, filter), query: phrase, literal: true };
  }
}

/** One group of error records (same template, else same error hash, else same message). */
export interface ErrorGroup {
  /** `t:<template id>`, `e:<error hash>` or `m:<message>`. */
  key: string;
  /** Records in the group (sum of counts). */
  records: number;
  /** Rows in the group. */
  rows: number;
  firstTs: number;
  lastTs: number;
  /** Highest level in the group. */
  level: number;
  /** The group's most recent row. */
  sample: StoredLog;
}

/** Options for {@link errorGroups}. */
export interface ErrorGroupOptions {
  /** `count`: most records first; `recent`: most recently seen last (newest last). Default `count`. */
  order?: 'count' | 'recent';
}

/**
 * Error records (level >= error unless `filter.minLevel` says otherwise) grouped by template id,
 * else error hash, else message. `filter.limit` bounds the number of groups (the first by `order`).
 *
 * @throws {DancerError} store errors.
 */
export function errorGroups(db: Db, filter: LogFilter = {}, options: ErrorGroupOptions = {}): ErrorGroup[] {
  const where = logWhere({ ...filter, minLevel: filter.minLevel ?? LEVELS.error, limit: undefined });
  const order = options.order ?? 'count';
  const orderSql = order === 'count' ? 'records DESC, last_ts DESC' : 'last_ts DESC';
  return run(() => {
    const groups = db
      .prepare(
        `SELECT COALESCE('t:' || template_id, 'e:' || err_hash, 'm:' || message) AS key,
           sum(count) AS records, count(*) AS rows, min(ts) AS first_ts, max(last_ts) AS last_ts,
           max(level) AS level, max(id) AS last_id
         FROM logs ${where.sql} GROUP BY key ORDER BY ${orderSql}${filter.limit === undefined ? '' : ' LIMIT ?'}`,
      )
      .all(...where.params, ...(filter.limit === undefined ? [] : [filter.limit])) as Array<{
      key: string;
      records: number;
      rows: number;
      first_ts: number;
      last_ts: number;
      level: number;
      last_id: number;
    }>;
    const sample = db.prepare(`SELECT ${LOG_SELECT} FROM logs WHERE id = ?`);
    const out = groups.map((g) => ({
      key: g.key,
      records: g.records,
      rows: g.rows,
      firstTs: g.first_ts,
      lastTs: g.last_ts,
      level: g.level,
      sample: rowToStoredLog(sample.get(g.last_id) as Record<string, unknown>),
    }));
    return order === 'recent' ? out.reverse() : out;
  });
}

/** What `dancer logs stats --json` prints. */
export interface LogStats {
  /** Rows in `logs`. */
  rows: number;
  /** Records (sum of counts). */
  records: number;
  /** Records per level name. */
  levels: Record<LevelName, number>;
  /** Records not stored, by reason (the `dropped` table). */
  dropped: Record<string, number>;
  /** Size of the database (page_count × page_size). */
  dbBytes: number;
  /** ISO time of the oldest record, or null when empty. */
  oldest: string | null;
  /** ISO time of the newest record, or null when empty. */
  newest: string | null;
}

/**
 * Counts over the rows matching `filter` (one scan), the drop counters and the database size.
 *
 * @throws {DancerError} store errors.
 */
export function logStats(db: Db, filter: LogFilter = {}): LogStats {
  const where = logWhere({ ...filter, limit: undefined });
  return run(() => {
    const perLevel = db
      .prepare(
        `SELECT level, count(*) AS rows, sum(count) AS records, min(ts) AS oldest, max(last_ts) AS newest
         FROM logs ${where.sql} GROUP BY level`,
      )
      .all(...where.params) as Array<{ level: number; rows: number; records: number; oldest: number; newest: number }>;
    const levels = { trace: 0, debug: 0, info: 0, warn: 0, error: 0, fatal: 0 } as Record<LevelName, number>;
    let rows = 0;
    let records = 0;
    let oldest: number | undefined;
    let newest: number | undefined;
    for (const l of perLevel) {
      rows += l.rows;
      records += l.records;
      levels[levelName(l.level)] += l.records;
      if (oldest === undefined || l.oldest < oldest) oldest = l.oldest;
      if (newest === undefined || l.newest > newest) newest = l.newest;
    }
    const pageCount = db.pragma('page_count', { simple: true }) as number;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    return {
      rows,
      records,
      levels,
      dropped: readDropped(db),
      dbBytes: pageCount * pageSize,
      oldest: oldest === undefined ? null : new Date(oldest).toISOString(),
      newest: newest === undefined ? null : new Date(newest).toISOString(),
    };
  });
}

/** The highest `logs.id` (0 when empty). */
export function lastLogId(db: Db): number {
  return run(() => (db.prepare('SELECT coalesce(max(id), 0) FROM logs').pluck().get() as number) ?? 0);
}

/** Options for {@link followLogs}. */
export interface FollowOptions {
  /** Poll interval. Default 250 ms. */
  intervalMs?: number;
  /** Start after this id. Default: the current last id (only new rows). */
  afterId?: number;
  /** Stop following (the iterator ends). */
  signal?: AbortSignal;
  /** Rows fetched per poll. Default 1000. */
  pageSize?: number;
}

/**
 * New rows matching `filter` as they arrive (polls `id > last` every `intervalMs`), oldest first,
 * until `signal` aborts. A collapsed row is yielded once, with the count it had when read.
 *
 * @throws {DancerError} store errors (from the iterator's `next`).
 */
export async function* followLogs(
  db: Db,
  filter: LogFilter = {},
  options: FollowOptions = {},
): AsyncGenerator<StoredLog> {
  const interval = options.intervalMs ?? 250;
  const pageSize = options.pageSize ?? 1000;
  let last = options.afterId ?? lastLogId(db);
  const where = logWhere({ ...filter, afterId: undefined, limit: undefined });
  const extra = where.sql === '' ? 'WHERE logs.id > ?' : `${where.sql} AND logs.id > ?`;
  const statement = run(() => db.prepare(`SELECT ${LOG_SELECT} FROM logs ${extra} ORDER BY logs.id LIMIT ?`));
  // Rows that do not match the filter still advance `last`, so each poll only reads new rows.
  const maxId = db.prepare('SELECT coalesce(max(id), 0) FROM logs').pluck();
  while (!options.signal?.aborted) {
    const top = run(() => maxId.get() as number);
    if (top > last) {
      for (;;) {
        const rows = run(() => statement.all(...where.params, last, pageSize) as Record<string, unknown>[]);
        for (const row of rows) {
          last = row.id as number;
          yield rowToStoredLog(row);
          if (options.signal?.aborted) return;
        }
        if (rows.length < pageSize) break;
      }
      last = Math.max(last, top);
      continue;
    }
    try {
      await sleep(interval, undefined, options.signal ? { signal: options.signal } : undefined);
    } catch {
      return; // aborted
    }
  }
}
