/**
 * `dancer ingest` on two threads: a worker (ingest-worker.ts) splits, parses, groups, redacts and
 * mines; this thread writes the worker's batches to SQLite with the {@link LogWriter}, the
 * miner's template rows and the detector in each batch's transaction, in input order. Reading
 * waits while more than `maxInFlightBytes` of input has not been written yet, so memory stays
 * bounded on any input size. Only for inputs that may wait (a file, stdin redirected from a file,
 * `--follow`): a pipe keeps the single-thread path, which drops by level instead of waiting.
 */
import { Worker } from 'node:worker_threads';
import type { DancerConfig } from '../config/index.js';
import { DancerError, type DancerErrorCode, ERROR_CODES, errorMessage } from '../errors.js';
import {
  ingestPatternsStages,
  minerPlugin,
  type TemplateInfo,
  type TemplateMiner,
  TemplateStore,
} from '../patterns/index.js';
import type { RedactOptions } from '../redact/index.js';
import { type BatchPlugin, type Db, LogWriter, openStore } from '../store/index.js';
import type { FromWorker, IngestWorkerData, MinerSnapshot, ToWorker } from './ingest-worker.js';

/** Options of {@link ThreadedIngest.open}. */
export interface ThreadedIngestOptions {
  dbPath: string;
  config: Pick<DancerConfig, 'patterns'>;
  /** `capture.maxRecordBytes`. */
  maxRecordBytes: number;
  /** `store.batch.maxRecords`. */
  maxBatchRecords: number;
  /** `store.batch.maxDelayMs` (live inputs). */
  maxBatchDelayMs: number;
  /** Redaction at ingest (`consult.redact`), or false (`store.redactAtIngest: false`). */
  redact: RedactOptions | false;
  /** A live input (`--follow`): silence timers run as in the single-thread path. */
  live: boolean;
  /** Told once per condition (writer drops, plugin failures). */
  onReport: (error: DancerError) => void;
  /** Input bytes read but not yet written before reading waits. Default 16 MiB. */
  maxInFlightBytes?: number | undefined;
  /** The worker script (tests). Default: ingest-worker.js beside this file. */
  workerUrl?: URL | undefined;
  /** Milliseconds to wait on a locked database when opening. Default 1000. */
  busyTimeoutMs?: number | undefined;
}

/** Counters of a {@link ThreadedIngest}. */
export interface ThreadedIngestStats {
  lines: number;
  bytes: number;
  /** Records the worker produced so far. */
  produced: number;
  records: number;
  rows: number;
  dropped: Record<string, number>;
}

/**
 * Stands in for the worker's miner when the main thread saves templates: `TemplateStore.save`
 * and the miner plugin's `inTransaction` read only `takeDirty`, `raw`, `resolveId` and `takeEvicted`, answered
 * here from the snapshot the worker took right after mining the batch being written.
 */
class SnapshotMiner implements Pick<TemplateMiner, 'takeDirty' | 'raw' | 'resolveId' | 'takeEvicted'> {
  #dirty: TemplateInfo[] = [];
  #evicted = 0;
  #byId = new Map<number, TemplateInfo>();
  #resolve = new Map<number, number | undefined>();

  set(snapshot: MinerSnapshot): void {
    this.#dirty = snapshot.dirty;
    this.#byId = new Map(snapshot.dirty.map((t) => [t.id, t]));
    this.#resolve = new Map(snapshot.resolve);
    this.#evicted = snapshot.evicted;
  }

  takeEvicted(): number {
    const n = this.#evicted;
    this.#evicted = 0;
    return n;
  }

  takeDirty(): number[] {
    const ids = this.#dirty.map((t) => t.id);
    this.#dirty = [];
    return ids;
  }

  raw(id: number): TemplateInfo | undefined {
    return this.#byId.get(id);
  }

  resolveId(id: number): number | undefined {
    if (!this.#resolve.has(id)) {
      throw new DancerError('DANCER_INTERNAL', `The ingest worker sent no resolution for template ${id}`);
    }
    return this.#resolve.get(id);
  }
}

/** One ingest run on two threads. Create with {@link ThreadedIngest.open}. */
export class ThreadedIngest {
  readonly #db: Db;
  readonly #writer: LogWriter;
  readonly #closeStages: () => void;
  readonly #snapshot = new SnapshotMiner();
  readonly #worker: Worker;
  readonly #maxInFlight: number;
  readonly #onReport: (error: DancerError) => void;
  #sent = 0;
  #written = 0;
  #lines = 0;
  #bytes = 0;
  #produced = 0;
  #failure: DancerError | undefined;
  #done = false;
  #closed = false;
  #roomWaiters: Array<() => void> = [];
  #finish: { resolve: () => void; reject: (error: DancerError) => void } | undefined;

  private constructor(db: Db, options: ThreadedIngestOptions) {
    this.#db = db;
    this.#maxInFlight = options.maxInFlightBytes ?? 16 * 1024 * 1024;
    this.#onReport = options.onReport;
    const stages = ingestPatternsStages(db, options.config, options.onReport);
    this.#closeStages = stages.close;
    const templates = new TemplateStore(db);
    const saveSnapshot = minerPlugin(templates, this.#snapshot as unknown as TemplateMiner).inTransaction;
    let replaced = false;
    const plugins: BatchPlugin[] = stages.plugins.map((plugin) => {
      if (plugin.name !== 'patterns-miner') return plugin;
      replaced = true;
      // Mining happened on the worker (the plugin's `prepare`); its save runs here, in the batch.
      return saveSnapshot ? { name: plugin.name, inTransaction: saveSnapshot } : { name: plugin.name };
    });
    if (!replaced) {
      stages.close();
      throw new DancerError('DANCER_INTERNAL', 'The patterns stage has no "patterns-miner" plugin to run on a worker');
    }
    this.#writer = new LogWriter(db, {
      maxBatchRecords: options.maxBatchRecords,
      // Every batch is flushed as it arrives; the timer would only ever see an empty queue.
      maxBatchDelayMs: 3_600_000,
      plugins,
      redact: false, // redacted on the worker, before mining (as LogWriter.flush does)
      onError: options.onReport,
    });
    const data: IngestWorkerData = {
      dbPath: options.dbPath,
      stream: 'ingest',
      maxRecordBytes: options.maxRecordBytes,
      live: options.live,
      maxBatchRecords: options.maxBatchRecords,
      maxBatchDelayMs: options.maxBatchDelayMs,
      maxBatchBytes: Math.max(1, Math.floor(this.#maxInFlight / 2)),
      redact: options.redact,
      patterns: options.config.patterns,
    };
    this.#worker = new Worker(options.workerUrl ?? new URL('./ingest-worker.js', import.meta.url), {
      workerData: data,
    });
    this.#worker.on('message', (message: FromWorker) => this.#onMessage(message));
    this.#worker.on('error', (error) => this.#fail('DANCER_INGEST_WORKER_FAILED', errorMessage(error), error));
    this.#worker.on('messageerror', (error) =>
      this.#fail('DANCER_INGEST_WORKER_FAILED', `a message could not be read: ${errorMessage(error)}`, error),
    );
    this.#worker.on('exit', (code) => {
      if (!this.#done) this.#fail('DANCER_INGEST_WORKER_FAILED', `the worker thread exited (code ${code})`);
    });
  }

  /**
   * Open the store (created and migrated as needed), the patterns stage and the worker.
   *
   * @throws {DancerError} `DANCER_STORE_OPEN_FAILED` (or the store's own code) when the store
   *   cannot be opened; `DANCER_MINER_STATE_INVALID` when the templates cannot be loaded.
   */
  static open(options: ThreadedIngestOptions): ThreadedIngest {
    let db: Db | undefined;
    try {
      db = openStore(options.dbPath, { busyTimeoutMs: options.busyTimeoutMs ?? 1000 });
      return new ThreadedIngest(db, options);
    } catch (error) {
      try {
        db?.close();
      } catch {
        // Reported below: the open failed part-way and the handle is unusable either way.
      }
      if (error instanceof DancerError) throw error;
      throw new DancerError(
        'DANCER_STORE_OPEN_FAILED',
        `Cannot write the store ${options.dbPath}: ${errorMessage(error)}`,
        {
          cause: error,
          details: { file: options.dbPath },
        },
      );
    }
  }

  /** Bytes read but not yet written. */
  get inFlightBytes(): number {
    return this.#sent - this.#written;
  }

  /** Counters so far. */
  get stats(): ThreadedIngestStats {
    const w = this.#writer.stats;
    return {
      lines: this.#lines,
      bytes: this.#bytes,
      produced: this.#produced,
      records: w.records,
      rows: w.rows,
      dropped: { ...w.dropped },
    };
  }

  /**
   * Hand a chunk of input to the worker. Resolves at once while under the in-flight bound, else
   * when enough was written; rejects with the worker's failure.
   */
  write(chunk: Buffer | string): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    const copy = typeof chunk === 'string' ? new Uint8Array(Buffer.from(chunk)) : new Uint8Array(chunk);
    this.#sent += copy.byteLength;
    this.#bytes += copy.byteLength;
    this.#worker.postMessage({ type: 'chunk', data: copy } satisfies ToWorker, [copy.buffer]);
    return this.waitForRoom();
  }

  /** Resolves when fewer than the bound's bytes are in flight (or the run failed/ended). */
  waitForRoom(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.inFlightBytes < this.#maxInFlight || this.#done) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#roomWaiters.push(() => (this.#failure ? reject(this.#failure) : resolve()));
    });
  }

  /**
   * End of input: wait until the worker sent its last batch and it was written, then close the
   * writer and the store. Rejects with `DANCER_INGEST_WORKER_FAILED` when the worker failed;
   * what was written before stays committed.
   */
  async end(): Promise<void> {
    if (!this.#failure && !this.#done) {
      const finished = new Promise<void>((resolve, reject) => {
        this.#finish = { resolve, reject };
      });
      this.#worker.postMessage({ type: 'end' } satisfies ToWorker);
      try {
        await finished;
      } catch {
        // #failure is set: thrown below after closing.
      }
    }
    this.close();
    if (this.#failure) throw this.#failure;
  }

  /** Stop the worker (if running), flush and close the store. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#done) {
      this.#done = true;
      void this.#worker.terminate();
    }
    try {
      this.#writer.close();
      this.#closeStages();
    } finally {
      this.#db.close();
      this.#wake();
    }
  }

  #onMessage(message: FromWorker): void {
    if (this.#closed) return;
    switch (message.type) {
      case 'batch': {
        this.#lines = message.lines;
        this.#produced += message.records.length;
        if (message.records.length > 0) {
          this.#snapshot.set(message.miner);
          for (const record of message.records) this.#writer.write(record);
          this.#writer.flush();
        }
        this.#written += message.inputBytes;
        if (this.inFlightBytes < this.#maxInFlight) this.#wake();
        return;
      }
      case 'report':
        this.#report(message.code, message.message, message.details);
        return;
      case 'done':
        this.#done = true;
        this.#lines = message.lines;
        this.#written = this.#sent;
        this.#wake();
        this.#finish?.resolve();
        return;
      case 'fatal':
        this.#fail(message.code, message.message);
        return;
    }
  }

  #report(code: string, message: string, details?: Record<string, unknown>): void {
    const error = new DancerError(knownCode(code), message, details ? { details } : {});
    try {
      this.#onReport(error);
    } catch (hookError) {
      process.emitWarning(`${error.code}: ${error.message} (onReport threw: ${errorMessage(hookError)})`);
    }
  }

  #fail(code: string, message: string, cause?: unknown): void {
    if (this.#failure || this.#done) return;
    const stats = this.stats;
    this.#failure = new DancerError(
      knownCode(code) === 'DANCER_INTERNAL' ? 'DANCER_INGEST_WORKER_FAILED' : knownCode(code),
      `The ingest worker thread failed: ${message}. ${stats.lines} lines were read and ${stats.records} records stored before it stopped; the rest of the input was not stored.`,
      {
        cause,
        details: { lines: stats.lines, records: stats.records, bytesRead: this.#sent },
      },
    );
    this.#done = true;
    void this.#worker.terminate();
    this.#wake();
    this.#finish?.reject(this.#failure);
  }

  #wake(): void {
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }
}

function knownCode(code: string): DancerErrorCode {
  return Object.hasOwn(ERROR_CODES, code) ? (code as DancerErrorCode) : 'DANCER_INTERNAL';
}
