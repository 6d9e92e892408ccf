import { DancerError, errorMessage } from '../errors.js';
import type { LogRecord } from '../store/index.js';
import {
  type BatchPlugin,
  type Db,
  LogWriter,
  type LogWriterOptions,
  type LogWriterStats,
  openStore,
} from '../store/index.js';
import { CaptureQueue } from './queue.js';

/** Options for {@link StoreSink}. */
export interface StoreSinkOptions<T> {
  /** SQLite file to write (opened, created and migrated on demand). */
  dbPath: string;
  /** Turn a queued item into a record at write time (null: skip it). */
  toRecord: (item: T) => LogRecord | null;
  /** Level of a queued item, for overload decisions. */
  levelOf: (item: T) => number;
  /** Estimated bytes of a queued item. */
  sizeOf: (item: T) => number;
  /** Bounded queue size (`capture.queueMaxRecords`). Default 50 000. */
  queueMaxRecords?: number | undefined;
  /** Bounded queue bytes. Default 64 MiB. */
  queueMaxBytes?: number | undefined;
  /** Store batch size (`store.batch.maxRecords`). Default 2000. */
  maxBatchRecords?: number | undefined;
  /** Store batch delay (`store.batch.maxDelayMs`). Default 200. */
  maxBatchDelayMs?: number | undefined;
  /** Redaction before storing (`store.redactAtIngest`; see `LogWriterOptions.redact`). Default on. */
  redact?: LogWriterOptions['redact'];
  /** Milliseconds to wait on a locked database when opening. Default 1000. */
  busyTimeoutMs?: number | undefined;
  /** How often to try again to open a store that could not be opened. Default 5000 ms. */
  reopenIntervalMs?: number | undefined;
  /**
   * For inputs that may wait (a file, not a live app): when the queue is full, `push` writes
   * the queued records synchronously instead of dropping any. Default false (drop, never wait).
   */
  backpressure?: boolean | undefined;
  /** Told once per condition (store cannot be opened, writes failing). Default: stderr. */
  onReport?: ((error: DancerError) => void) | undefined;
  /**
   * Called each time the store is opened: the writer plugins to run inside its transactions
   * (the patterns stage: miner, detector) and what to stop when the sink closes.
   */
  stages?: ((db: Db) => SinkStages) | undefined;
}

/** What {@link StoreSinkOptions.stages} returns. */
export interface SinkStages {
  plugins: BatchPlugin[];
  /** Called after the last batch was written, before the database is closed. */
  close?: () => void;
}

/** Counters of a {@link StoreSink}. */
export interface StoreSinkStats {
  /** Items pushed. */
  pushed: number;
  /** Records handed to the writer. */
  written: number;
  /** Items waiting in the queue. */
  queued: number;
  /** Drops by reason (queue overload, store unavailable, writer drops). */
  dropped: Record<string, number>;
  /** Rows and records committed by the writer. */
  rows: number;
  records: number;
}

/**
 * The store end of capture: a bounded {@link CaptureQueue} in front of a {@link LogWriter}.
 * `push` never blocks and never throws; a drain step on `setImmediate` moves items to the writer
 * in slices so input keeps being read. Overload drops are counted (reason `overload`) into the
 * `dropped` table with the next batch. When the store cannot be opened (read-only directory,
 * locked, corrupt) the condition is reported once, items are counted as dropped
 * (`store_unavailable`) and opening is retried every `reopenIntervalMs`.
 */
export class StoreSink<T> {
  private readonly options: StoreSinkOptions<T>;
  private readonly queue: CaptureQueue<T>;
  private db: Db | null = null;
  private writer: LogWriter | null = null;
  private scheduled = false;
  private closed = false;
  private lastOpenAttempt = Number.NEGATIVE_INFINITY;
  private reportedOpen = false;
  private persistedOverload = 0;
  private unavailable = 0;
  private pendingUnavailable = 0;
  private pushed = 0;
  private written = 0;
  private finalWriterStats: LogWriterStats | undefined;
  private stages: SinkStages | undefined;
  private readonly roomWaiters: Array<() => void> = [];
  private readonly report: (error: DancerError) => void;

  constructor(options: StoreSinkOptions<T>) {
    this.options = options;
    this.queue = new CaptureQueue<T>(
      { maxRecords: options.queueMaxRecords, maxBytes: options.queueMaxBytes },
      options.levelOf,
      options.sizeOf,
    );
    this.report = options.onReport ?? ((error) => process.stderr.write(`dancer: ${error.code}: ${error.message}\n`));
    this.tryOpen(Date.now());
  }

  /** True when the store is open. */
  get open(): boolean {
    return this.writer !== null;
  }

  /** Items waiting to be written. */
  get backlog(): number {
    return this.queue.size;
  }

  /** Whether an item of `level` would be kept right now (a producer may skip work when not). */
  wouldAccept(level: number): boolean {
    return this.queue.wouldAccept(level);
  }

  /** Count an item the producer dropped without pushing (after {@link wouldAccept} said no). */
  countDropped(level: number): void {
    this.pushed++;
    this.queue.countDropped(level);
    this.schedule();
  }

  /** Queue an item for the store. Never blocks, never throws. */
  push(item: T): void {
    this.pushed++;
    if (this.closed) {
      this.queue.countDropped(this.options.levelOf(item));
      return;
    }
    if (this.options.backpressure && this.queue.size >= this.queue.maxRecords) this.drain(this.queue.size);
    this.queue.push(item);
    this.schedule();
  }

  /** Resolves when the backlog is below `limit` (for inputs that may wait, e.g. a file). */
  waitForRoom(limit: number): Promise<void> {
    if (this.queue.size < limit) return Promise.resolve();
    return new Promise((resolve) => {
      this.roomWaiters.push(resolve);
      this.schedule();
    });
  }

  /** Counters so far. */
  get stats(): StoreSinkStats {
    const w = this.writer?.stats ?? this.finalWriterStats;
    const dropped: Record<string, number> = { ...(w?.dropped ?? {}) };
    const overload = this.queue.droppedTotal;
    if (overload > 0) dropped.overload = overload;
    if (this.unavailable > 0) dropped.store_unavailable = this.unavailable;
    return {
      pushed: this.pushed,
      written: this.written,
      queued: this.queue.size,
      dropped,
      rows: w?.rows ?? 0,
      records: w?.records ?? 0,
    };
  }

  /** Write everything queued, flush the writer and close the database. */
  close(): void {
    if (this.closed) return;
    this.drain(Number.POSITIVE_INFINITY);
    this.closed = true;
    this.countDrops();
    if (this.writer === null && this.pendingUnavailable > 0) {
      this.report(
        new DancerError(
          'DANCER_STORE_WRITE_FAILED',
          `${this.pendingUnavailable} record(s) were dropped because the store ${this.options.dbPath} could not be opened.`,
          { details: { file: this.options.dbPath, dropped: this.pendingUnavailable, reason: 'store_unavailable' } },
        ),
      );
    }
    try {
      this.writer?.close();
      this.stages?.close?.();
    } finally {
      this.finalWriterStats = this.writer?.stats;
      this.writer = null;
      const db = this.db;
      this.db = null;
      try {
        db?.close();
      } catch (error) {
        this.report(new DancerError('DANCER_STORE_WRITE_FAILED', `Closing the store failed: ${errorMessage(error)}`));
      }
      for (const wake of this.roomWaiters.splice(0)) wake();
    }
  }

  private tryOpen(now: number): void {
    if (this.writer !== null || this.closed) return;
    if (now - this.lastOpenAttempt < (this.options.reopenIntervalMs ?? 5000)) return;
    this.lastOpenAttempt = now;
    try {
      this.db = openStore(this.options.dbPath, { busyTimeoutMs: this.options.busyTimeoutMs ?? 1000 });
      this.stages = this.options.stages?.(this.db);
      this.writer = new LogWriter(this.db, {
        maxBatchRecords: this.options.maxBatchRecords,
        maxBatchDelayMs: this.options.maxBatchDelayMs,
        plugins: this.stages?.plugins ?? [],
        redact: this.options.redact,
        onError: (error) => this.report(error),
      });
      if (this.pendingUnavailable > 0) {
        this.writer.countDropped('store_unavailable', this.pendingUnavailable);
        this.pendingUnavailable = 0;
      }
      this.reportedOpen = false;
    } catch (error) {
      try {
        this.db?.close();
      } catch {
        // The open failed part-way; the handle is unusable either way and the failure is reported below.
      }
      this.db = null;
      this.stages?.close?.();
      this.stages = undefined;
      if (!this.reportedOpen) {
        this.reportedOpen = true;
        const cause = error instanceof DancerError ? error : undefined;
        this.report(
          new DancerError(
            cause?.code ?? 'DANCER_STORE_OPEN_FAILED',
            `Cannot write the store ${this.options.dbPath}: ${errorMessage(error)}. Records are counted as dropped (reason "store_unavailable") until it can be opened; retrying every ${this.options.reopenIntervalMs ?? 5000} ms.`,
            { cause: error, details: { file: this.options.dbPath } },
          ),
        );
      }
    }
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain(this.options.maxBatchRecords ?? 2000);
      if (this.queue.size > 0) this.schedule();
    });
  }

  /** Move up to `max` items from the queue to the writer. */
  private drain(max: number): void {
    this.tryOpen(Date.now());
    const items = this.queue.drain(max);
    const writer = this.writer;
    if (writer === null) {
      this.unavailable += items.length;
      this.pendingUnavailable += items.length;
    } else {
      for (const item of items) {
        let record: LogRecord | null;
        try {
          record = this.options.toRecord(item);
        } catch (error) {
          this.report(new DancerError('DANCER_INTERNAL', `Capture failed to convert a record: ${errorMessage(error)}`));
          record = null;
        }
        if (record === null) continue;
        this.written++;
        writer.write(record);
      }
    }
    this.countDrops();
    if (this.roomWaiters.length > 0) {
      for (const wake of this.roomWaiters.splice(0)) wake();
    }
  }

  private countDrops(): void {
    const overload = this.queue.droppedTotal;
    if (overload > this.persistedOverload && this.writer !== null) {
      this.writer.countDropped('overload', overload - this.persistedOverload);
      this.persistedOverload = overload;
    }
  }
}
