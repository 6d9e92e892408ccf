import type Database from 'better-sqlite3';
import { DancerError, errorMessage } from '../errors.js';
import { createRedactor, type RedactOptions, type Redactor, redactIngestRecord } from '../redact/index.js';
import { sameRun } from './collapse.js';
import { recordDropped } from './dropped.js';
import { errorHash } from './error-hash.js';
import type { Db } from './open.js';
import { toStoreError } from './open.js';
import type { LogRecord } from './records.js';

/** One record as written by a batch: the row it went to, and whether it collapsed into a row. */
export interface WrittenRow {
  /** `logs.id` of the row holding this record. */
  id: number;
  /** The record (after every plugin's `prepare`). */
  record: LogRecord;
  /** True when the record was counted into an existing row (`count` + 1) instead of a new row. */
  collapsed: boolean;
}

/**
 * A hook into every batch the {@link LogWriter} commits. The patterns stage plugs the template
 * miner (`prepare`) and per-minute buckets (`inTransaction`) in through this.
 */
export interface BatchPlugin {
  /** Name used in error reports. */
  name: string;
  /** Called once per record before it is written, e.g. to set `templateId`. */
  prepare?(record: LogRecord): void;
  /**
   * Called inside the batch's transaction, after the rows are written, with one entry per record
   * in arrival order (collapsed records included). Runs in a savepoint: if it throws, only its
   * own changes are rolled back, the logs are kept and the failure is reported once.
   */
  inTransaction?(db: Db, rows: WrittenRow[]): void;
  /** Called after the batch committed (same `rows`). */
  afterCommit?(rows: WrittenRow[]): void;
}

/** Options for {@link LogWriter}. */
export interface LogWriterOptions {
  /** Flush when this many records are queued. Default 2000. */
  maxBatchRecords?: number;
  /** Flush queued records at least this often (an unref'd timer). Default 200 ms. */
  maxBatchDelayMs?: number;
  /** Batch plugins, called in order. */
  plugins?: BatchPlugin[];
  /**
   * Redact every record before the plugins and the database see it (`store.redactAtIngest`):
   * redaction options, or false to store records as they came. Default: the built-in rules.
   * Placeholders record the replaced length (`[REDACTED:secret 12 chars]`).
   */
  redact?: RedactOptions | false | undefined;
  /**
   * Told once per failure condition (not per record) when records are dropped or a plugin fails;
   * told again only after a batch succeeded in between. Default: `process.emitWarning`.
   */
  onError?: (error: DancerError) => void;
}

/** Counters of a {@link LogWriter}, since it was created. */
export interface LogWriterStats {
  /** Records handed to `write`. */
  accepted: number;
  /** Records committed (including collapsed ones). */
  records: number;
  /** New rows inserted. */
  rows: number;
  /** Records that collapsed into an existing row. */
  collapsed: number;
  /** Batches committed. */
  batches: number;
  /** Batches that failed (their records were dropped). */
  failedBatches: number;
  /** Records dropped by this writer, by reason. */
  dropped: Record<string, number>;
  /** Records waiting for the next flush. */
  queued: number;
  /** Drop counts not yet persisted to the `dropped` table. */
  pendingDropped: number;
}

/** The result of one {@link LogWriter.flush}. */
export interface FlushResult {
  /** New rows inserted. */
  rows: number;
  /** Records committed (rows + collapsed records). */
  records: number;
}

/**
 * The longest a collapsed run may span (`last_ts - ts`), in ms. A longer run of identical records
 * starts a new row each minute, so readers can find rows overlapping a time range with the index
 * on `ts` (`ts >= since - COLLAPSE_MAX_SPAN_MS AND last_ts >= since`).
 */
export const COLLAPSE_MAX_SPAN_MS = 60_000;

/** Distinct (pid, stream) runs remembered for collapsing; the oldest is forgotten beyond this. */
const MAX_RUNS = 1024;

/** The open run of identical records for one (pid, stream): the row it lives in. */
interface Run {
  id: number;
  record: LogRecord;
  extra: string | null;
  ts: number;
  lastTs: number;
  count: number;
  dirty: boolean;
  /** Batch number in which the row was last known to exist. */
  seenInBatch: number;
}

const INSERT_SQL = `INSERT INTO logs (
  ts, last_ts, count, level, source, message, template_id, err_type, err_message, err_code, err_hash,
  stack, pid, thread, hostname, request_id, session_id, user_id, tenant_id, trace_id, span_id,
  http_method, http_route, http_status, duration_ms, mem_bytes, file, line, func, stream, flags,
  original_bytes, extra
) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** Placeholders in {@link INSERT_SQL}. */
const INSERT_PARAMS = 32;

const FTS_SQL = `INSERT INTO logs_fts (rowid, message, err, stack)
  SELECT id, message, concat_ws(' ', err_type, err_code, err_message), stack FROM logs WHERE id BETWEEN ? AND ?`;

/**
 * The single writer of the `logs` table. `write` only enqueues (it never throws and never waits
 * on the disk beyond a batch commit); a batch is committed when `maxBatchRecords` are queued or
 * `maxBatchDelayMs` after the first queued record, in one IMMEDIATE transaction: rows inserted
 * with a prepared statement, consecutive identical records collapsed (see docs/store.md), the new
 * rows indexed into `logs_fts` with one `INSERT ... SELECT`, then the plugins.
 *
 * When a batch cannot be written (disk full, read-only, locked past the busy timeout), its records
 * are counted in `dropped` under a reason, the condition is reported once through `onError`, and
 * the writer keeps going. The writer does not own `db`: close the database after {@link close}.
 */
export class LogWriter {
  readonly #db: Db;
  readonly #maxBatch: number;
  readonly #delayMs: number;
  readonly #plugins: BatchPlugin[];
  readonly #redactor: Redactor | undefined;
  readonly #onError: (error: DancerError) => void;
  readonly #insert: Database.Statement;
  readonly #fts: Database.Statement;
  readonly #update: Database.Statement;
  readonly #exists: Database.Statement;
  readonly #commit: (batch: LogRecord[]) => { written: WrittenRow[]; rows: number };

  /** Bind values of one row, reused for every insert (binding copies them synchronously). */
  readonly #params: unknown[] = new Array(INSERT_PARAMS).fill(null);
  #queue: LogRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #batchNo = 0;
  readonly #runs = new Map<string, Run>();
  /** Drop counts to persist with the next commit (when persisting them directly failed). */
  readonly #pendingDropped = new Map<string, number>();
  /** Conditions already reported through onError since the last successful batch. */
  readonly #reported = new Set<string>();
  readonly #stats = {
    accepted: 0,
    records: 0,
    rows: 0,
    collapsed: 0,
    batches: 0,
    failedBatches: 0,
    dropped: {} as Record<string, number>,
  };

  constructor(db: Db, options: LogWriterOptions = {}) {
    this.#db = db;
    this.#maxBatch = Math.max(1, options.maxBatchRecords ?? 2000);
    this.#delayMs = Math.max(1, options.maxBatchDelayMs ?? 200);
    this.#plugins = options.plugins ?? [];
    this.#redactor = options.redact === false ? undefined : createRedactor({ ...options.redact, lengths: true });
    this.#onError = options.onError ?? ((error) => process.emitWarning(`${error.code}: ${error.message}`));
    this.#insert = db.prepare(INSERT_SQL);
    this.#fts = db.prepare(FTS_SQL);
    this.#update = db.prepare('UPDATE logs SET count = ?, last_ts = ? WHERE id = ?');
    this.#exists = db.prepare('SELECT 1 FROM logs WHERE id = ?').pluck();
    const upsertDropped = db.prepare(
      `INSERT INTO dropped (reason, count, last_ts) VALUES (?, ?, ?)
       ON CONFLICT(reason) DO UPDATE SET count = count + excluded.count, last_ts = excluded.last_ts`,
    );
    const tx = db.transaction((batch: LogRecord[]) => {
      const result = this.#writeRows(batch);
      for (const [reason, n] of this.#pendingDropped) upsertDropped.run(reason, n, Date.now());
      for (const plugin of this.#plugins) {
        if (!plugin.inTransaction) continue;
        try {
          db.transaction(() => plugin.inTransaction?.(db, result.written))();
        } catch (error) {
          this.#report(`plugin:${plugin.name}:inTransaction`, pluginError(plugin, 'inTransaction', error));
        }
      }
      return result;
    });
    this.#commit = (batch) => tx.immediate(batch);
  }

  /**
   * Enqueue one record. Never throws: a record that cannot be queued (writer closed) or written
   * is counted as dropped. Flushes synchronously when the batch is full.
   */
  write(record: LogRecord): void {
    try {
      this.#stats.accepted++;
      if (this.#closed) {
        this.#drop('writer_closed', 1, new DancerError('DANCER_STORE_WRITE_FAILED', 'Log writer is closed'));
        return;
      }
      this.#queue.push(record);
      if (this.#queue.length >= this.#maxBatch) this.flush();
      else this.#arm(this.#delayMs);
    } catch (error) {
      this.#report(
        'internal',
        new DancerError('DANCER_INTERNAL', `Log writer failed: ${errorMessage(error)}`, { cause: error }),
      );
    }
  }

  /**
   * Count `n` records dropped upstream (e.g. by capture's bounded queue) under `reason`; persisted
   * to the `dropped` table with the next batch, without a write of its own. Never throws.
   */
  countDropped(reason: string, n: number): void {
    if (n <= 0) return;
    this.#pendingDropped.set(reason, (this.#pendingDropped.get(reason) ?? 0) + n);
    if (!this.#closed) this.#arm(this.#delayMs);
  }

  /**
   * Commit every queued record now, synchronously, in one IMMEDIATE transaction. Never throws:
   * on failure the batch is counted in `dropped` and `{ rows: 0, records: 0 }` is returned.
   */
  flush(): FlushResult {
    this.#disarm();
    if (this.#queue.length === 0 && this.#pendingDropped.size === 0) return { rows: 0, records: 0 };
    const batch = this.#queue;
    this.#queue = [];
    // Before the miner: a pattern is mined from redacted text, so no parameter holds a secret.
    const redactor = this.#redactor;
    if (redactor) for (const record of batch) redactIngestRecord(record, redactor);
    for (const plugin of this.#plugins) {
      if (!plugin.prepare) continue;
      for (const record of batch) {
        try {
          plugin.prepare(record);
        } catch (error) {
          this.#report(`plugin:${plugin.name}:prepare`, pluginError(plugin, 'prepare', error));
        }
      }
    }
    this.#batchNo++;
    let result: { written: WrittenRow[]; rows: number };
    try {
      result = this.#commit(batch);
    } catch (error) {
      this.#runs.clear();
      this.#stats.failedBatches++;
      if (batch.length > 0) this.#drop(dropReason(error), batch.length, toStoreError(error));
      if (this.#pendingDropped.size > 0) this.#arm(Math.max(1000, this.#delayMs));
      return { rows: 0, records: 0 };
    }
    this.#pendingDropped.clear();
    this.#reported.clear();
    this.#stats.batches++;
    this.#stats.records += batch.length;
    this.#stats.rows += result.rows;
    this.#stats.collapsed += batch.length - result.rows;
    for (const plugin of this.#plugins) {
      if (!plugin.afterCommit) continue;
      try {
        plugin.afterCommit(result.written);
      } catch (error) {
        this.#report(`plugin:${plugin.name}:afterCommit`, pluginError(plugin, 'afterCommit', error));
      }
    }
    return { rows: result.rows, records: batch.length };
  }

  /** Flush what is queued and stop; later writes are counted as dropped (`writer_closed`). */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#disarm();
  }

  /** Counters since the writer was created. */
  get stats(): LogWriterStats {
    let pending = 0;
    for (const n of this.#pendingDropped.values()) pending += n;
    return { ...this.#stats, dropped: { ...this.#stats.dropped }, queued: this.#queue.length, pendingDropped: pending };
  }

  #arm(delayMs: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, delayMs);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Count a drop (persist it, else keep it pending) and report the condition once. */
  #drop(reason: string, n: number, error: DancerError): void {
    this.#stats.dropped[reason] = (this.#stats.dropped[reason] ?? 0) + n;
    // A locked or read-only store would refuse the counter too (a locked one after another busy
    // timeout): keep those in memory straight away.
    let persisted = false;
    if (reason !== 'store_locked' && reason !== 'store_readonly' && reason !== 'writer_closed') {
      try {
        recordDropped(this.#db, reason, n);
        persisted = true;
      } catch {
        // The store refuses even the counter: persist it with the next good batch.
      }
    }
    if (!persisted) this.#pendingDropped.set(reason, (this.#pendingDropped.get(reason) ?? 0) + n);
    const report = new DancerError(
      error.code,
      `${error.message}; ${n} record(s) dropped (reason "${reason}"). Further drops for this reason are counted in the dropped table without another report until a batch succeeds.`,
      { cause: error, details: { ...error.details, reason, dropped: n } },
    );
    this.#report(`drop:${reason}`, report);
  }

  #report(condition: string, error: DancerError): void {
    if (this.#reported.has(condition)) return;
    this.#reported.add(condition);
    try {
      this.#onError(error);
    } catch (hookError) {
      process.emitWarning(`${error.code}: ${error.message} (onError threw: ${errorMessage(hookError)})`);
    }
  }

  /** Insert or collapse each record; index the new rows. Runs inside the batch transaction. */
  #writeRows(batch: LogRecord[]): { written: WrittenRow[]; rows: number } {
    const written: WrittenRow[] = new Array(batch.length);
    const dirty: Run[] = [];
    let firstId = 0;
    let lastId = 0;
    let rows = 0;
    for (let i = 0; i < batch.length; i++) {
      const record = batch[i] as LogRecord;
      const extra = extraJson(record.extra);
      const key = `${record.pid ?? ''}\u0000${record.stream ?? ''}`;
      const ts = finiteOr(record.ts, Date.now());
      const run = this.#runs.get(key);
      if (run !== undefined && this.#collapses(run, record, extra, ts)) {
        run.count++;
        if (ts > run.lastTs) run.lastTs = ts;
        if (!run.dirty) {
          run.dirty = true;
          dirty.push(run);
        }
        written[i] = { id: run.id, record, collapsed: true };
        continue;
      }
      const id = Number(this.#insert.run(insertParams(this.#params, record, ts, extra)).lastInsertRowid);
      rows++;
      if (firstId === 0) firstId = id;
      lastId = id;
      written[i] = { id, record, collapsed: false };
      if (record.requestId === undefined) {
        this.#runs.delete(key);
        this.#runs.set(key, {
          id,
          record,
          extra,
          ts,
          lastTs: ts,
          count: 1,
          dirty: false,
          seenInBatch: this.#batchNo,
        });
        if (this.#runs.size > MAX_RUNS) this.#runs.delete(this.#runs.keys().next().value as string);
      } else {
        this.#runs.delete(key);
      }
    }
    for (const run of dirty) {
      this.#update.run(run.count, run.lastTs, run.id);
      run.dirty = false;
    }
    if (firstId !== 0) this.#fts.run(firstId, lastId);
    return { written, rows };
  }

  #collapses(run: Run, record: LogRecord, extra: string | null, ts: number): boolean {
    if (ts - run.ts > COLLAPSE_MAX_SPAN_MS || ts < run.ts - COLLAPSE_MAX_SPAN_MS) return false;
    if (extra !== run.extra || !sameRun(run.record, record)) return false;
    if (run.seenInBatch !== this.#batchNo) {
      // The row was committed by an earlier batch: retention may have deleted it since.
      if (this.#exists.get(run.id) === undefined) return false;
      run.seenInBatch = this.#batchNo;
    }
    return true;
  }
}

function pluginError(plugin: BatchPlugin, phase: string, error: unknown): DancerError {
  return new DancerError(
    'DANCER_STORE_PLUGIN_FAILED',
    `Batch plugin "${plugin.name}" failed in ${phase}: ${errorMessage(error)} (logs are still written; reported once until a batch succeeds)`,
    { cause: error, details: { plugin: plugin.name, phase } },
  );
}

/** The `dropped.reason` for a failed batch, from the SQLite error code. */
export function dropReason(error: unknown): string {
  const code = (error as { code?: string }).code ?? '';
  if (code.startsWith('SQLITE_FULL')) return 'store_full';
  if (code.startsWith('SQLITE_READONLY')) return 'store_readonly';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'store_locked';
  if (code.startsWith('SQLITE_IOERR')) return 'store_io';
  return 'store_error';
}

function finiteOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function str(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : String(value);
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function int(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : null;
}

function extraJson(extra: Record<string, unknown> | undefined): string | null {
  if (extra === undefined || extra === null) return null;
  let empty = true;
  for (const _ in extra) {
    empty = false;
    break;
  }
  if (empty) return null;
  try {
    return JSON.stringify(extra);
  } catch (error) {
    return JSON.stringify({ dancerUnserializable: errorMessage(error) });
  }
}

/** Fill `p` with the bind values of {@link INSERT_SQL} for `r`; returns `p`. */
function insertParams(p: unknown[], r: LogRecord, ts: number, extra: string | null): unknown[] {
  p[0] = ts;
  p[1] = ts;
  p[2] = int(r.level) ?? 30;
  p[3] = str(r.source);
  p[4] = typeof r.message === 'string' ? r.message : String(r.message ?? '');
  p[5] = int(r.templateId);
  p[6] = str(r.errType);
  p[7] = str(r.errMessage);
  p[8] = str(r.errCode);
  p[9] = errorHash(r) ?? null;
  p[10] = str(r.stack);
  p[11] = int(r.pid);
  p[12] = str(r.thread);
  p[13] = str(r.hostname);
  p[14] = str(r.requestId);
  p[15] = str(r.sessionId);
  p[16] = str(r.userId);
  p[17] = str(r.tenantId);
  p[18] = str(r.traceId);
  p[19] = str(r.spanId);
  p[20] = str(r.httpMethod);
  p[21] = str(r.httpRoute);
  p[22] = int(r.httpStatus);
  p[23] = num(r.durationMs);
  p[24] = int(r.memBytes);
  p[25] = str(r.file);
  p[26] = int(r.line);
  p[27] = str(r.func);
  p[28] = str(r.stream);
  p[29] = int(r.flags) ?? 0;
  p[30] = int(r.originalBytes);
  p[31] = extra;
  return p;
}
