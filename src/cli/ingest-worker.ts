/**
 * The worker thread of `dancer ingest --threads 2`: splits the input bytes into lines, parses and
 * groups them into records, redacts them (`store.redactAtIngest`) and mines their templates, then
 * sends them to the main thread in batches of `store.batch.maxRecords`, each with the miner's
 * state as it stood after the batch (the templates it changed and how ids resolve after merges).
 * The main thread writes the batches to SQLite in that order (see ingest-threads.ts). This is what
 * the single-thread path does in `LogWriter.flush` (redact, then the miner's `prepare`), moved off
 * the writer's thread; the miner is loaded from the store exactly as there.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLineCapture } from '../capture/index.js';
import type { DancerConfig } from '../config/index.js';
import { errorMessage, isDancerError } from '../errors.js';
import { minerOptionsFromConfig, minerPlugin, type TemplateInfo, TemplateStore } from '../patterns/index.js';
import { createRedactor, type RedactOptions, redactIngestRecord } from '../redact/index.js';
import { type LogRecord, openStore } from '../store/index.js';

/** What the main thread gives the worker (`workerData`). */
export interface IngestWorkerData {
  /** The store, already created and migrated by the main thread (read here to load the miner). */
  dbPath: string;
  stream: 'ingest';
  maxRecordBytes: number;
  /** A live input (`--follow`): the multi-line silence timer and the batch delay run. */
  live: boolean;
  /** `store.batch.maxRecords`. */
  maxBatchRecords: number;
  /** `store.batch.maxDelayMs` (live inputs only). */
  maxBatchDelayMs: number;
  /** A batch is sent early once this many input bytes arrived since the last one (bounds memory). */
  maxBatchBytes: number;
  /** `consult.redact` when `store.redactAtIngest` is on, else false. */
  redact: RedactOptions | false;
  patterns: DancerConfig['patterns'];
}

/** Main thread -> worker. */
export type ToWorker = { type: 'chunk'; data: Uint8Array } | { type: 'end' };

/** The miner's state after a batch: what `TemplateStore.save` reads from the miner. */
export interface MinerSnapshot {
  /** `takeDirty()`, each as `raw(id)` returned it. */
  dirty: TemplateInfo[];
  /** `resolveId(id)` for every id the save may ask about. */
  resolve: Array<[number, number | undefined]>;
  /** `takeEvicted()`: templates evicted from the worker's miner since the last batch. */
  evicted: number;
}

/** Worker -> main thread. */
export type FromWorker =
  | {
      type: 'batch';
      records: LogRecord[];
      miner: MinerSnapshot;
      /** Input bytes consumed since the previous batch (for the main thread's bound). */
      inputBytes: number;
      /** Physical lines read so far. */
      lines: number;
    }
  | { type: 'report'; code: string; message: string; details?: Record<string, unknown> }
  | { type: 'done'; lines: number; bytes: number; records: number }
  | { type: 'fatal'; code: string; message: string };

function main(): void {
  const port = parentPort;
  if (port === null) throw new Error('ingest-worker.js runs as a worker thread only');
  const data = workerData as IngestWorkerData;
  const post = (message: FromWorker) => port.postMessage(message);

  // The miner as the single-thread path loads it (ingestPatternsStages -> TemplateStore.loadMiner).
  const db = openStore(data.dbPath, { readonly: true });
  const templates = new TemplateStore(db);
  const miner = templates.loadMiner(minerOptionsFromConfig({ patterns: data.patterns }));
  const mine = minerPlugin(templates, miner).prepare;
  const redactor = data.redact === false ? undefined : createRedactor({ ...data.redact, lengths: true });
  const reported = new Set<string>();

  let batch: LogRecord[] = [];
  let unreported = 0;
  let delay: NodeJS.Timeout | undefined;

  const cut = () => {
    if (delay !== undefined) clearTimeout(delay);
    delay = undefined;
    const records = batch;
    batch = [];
    if (redactor) for (const record of records) redactIngestRecord(record, redactor);
    const ids = new Set<number>();
    if (mine) {
      for (const record of records) {
        try {
          mine(record);
        } catch (error) {
          if (!reported.has('prepare')) {
            reported.add('prepare');
            post({
              type: 'report',
              code: 'DANCER_STORE_PLUGIN_FAILED',
              message: `Batch plugin "patterns-miner" failed in prepare: ${errorMessage(error)} (logs are still written; reported once)`,
              details: { plugin: 'patterns-miner', phase: 'prepare' },
            });
          }
        }
        if (record.templateId !== undefined) ids.add(record.templateId);
      }
    }
    const dirtyIds = records.length > 0 ? miner.takeDirty() : [];
    const dirty: TemplateInfo[] = [];
    for (const id of dirtyIds) {
      ids.add(id);
      const t = miner.raw(id);
      if (t !== undefined) dirty.push(t);
    }
    const resolve: Array<[number, number | undefined]> = [];
    for (const id of ids) {
      const live = miner.resolveId(id);
      resolve.push([id, live]);
      if (live !== undefined && live !== id && !ids.has(live)) resolve.push([live, miner.resolveId(live)]);
    }
    post({
      type: 'batch',
      records,
      miner: { dirty, resolve, evicted: miner.takeEvicted() },
      inputBytes: unreported,
      lines: capture.stats.lines,
    });
    unreported = 0;
  };

  const capture = createLineCapture({
    stream: data.stream,
    maxRecordBytes: data.maxRecordBytes,
    timer: data.live,
    sink: (record) => {
      batch.push(record);
      if (batch.length >= data.maxBatchRecords) cut();
      else if (data.live && delay === undefined) {
        delay = setTimeout(() => {
          delay = undefined;
          if (batch.length > 0) cut();
        }, data.maxBatchDelayMs);
      }
    },
  });

  port.on('message', (message: ToWorker) => {
    try {
      if (message.type === 'chunk') {
        const bytes = message.data;
        unreported += bytes.byteLength;
        capture.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        // Many long lines: send what is there so the main thread's bound on bytes in flight holds.
        if (unreported >= data.maxBatchBytes) cut();
      } else {
        capture.end();
        if (batch.length > 0 || unreported > 0) cut();
        const stats = capture.stats;
        db.close();
        post({ type: 'done', lines: stats.lines, bytes: stats.bytes, records: stats.records });
        port.close();
      }
    } catch (error) {
      fatal(error);
    }
  });

  function fatal(error: unknown): void {
    post({
      type: 'fatal',
      code: isDancerError(error) ? error.code : 'DANCER_INGEST_WORKER_FAILED',
      message: errorMessage(error),
    });
    process.exit(1);
  }
}

try {
  main();
} catch (error) {
  parentPort?.postMessage({
    type: 'fatal',
    code: isDancerError(error) ? error.code : 'DANCER_INGEST_WORKER_FAILED',
    message: errorMessage(error),
  } satisfies FromWorker);
  process.exit(1);
}
