import { createReadStream, existsSync, fstatSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { createLineCapture, estimateRecordBytes, followFile, StoreSink } from '../capture/index.js';
import { DancerError, errorMessage } from '../errors.js';
import { ingestPatternsStages } from '../patterns/index.js';
import type { LogRecord } from '../store/index.js';
import { configFor, dbPathFor, type GlobalOptions, withDbOption } from './common.js';
import { ThreadedIngest } from './ingest-threads.js';
import { printJson, progress } from './output.js';

interface IngestOptions extends GlobalOptions {
  follow?: boolean;
  quiet?: boolean;
  threads?: string;
}

/** The `--json` summary of `dancer ingest`. */
export interface IngestSummary {
  input: string;
  db: string;
  /** Physical lines read. */
  lines: number;
  bytes: number;
  /** Records committed to the store (a collapsed run counts each record). */
  records: number;
  /** Rows inserted (runs of identical records share a row). */
  rows: number;
  /** Records not stored, by reason. */
  dropped: Record<string, number>;
  /** 2 when a worker thread parsed, redacted and mined while this thread wrote; else 1. */
  threads: 1 | 2;
  durationMs: number;
}

/** Register `dancer ingest`. */
export function register(program: Command): void {
  const command = program
    .command('ingest')
    .description(
      'Read log lines (JSON or plain, any language) from FILE or stdin into the store: `myapp 2>&1 | dancer ingest -`',
    )
    .argument('[file]', 'file to read, or - for stdin', '-')
    .option('-f, --follow', 'keep reading as FILE grows; survives rotation (rename + new file) and truncation')
    .option('--json', 'print a JSON summary (records, rows, dropped by reason) on stdout')
    .option('-q, --quiet', 'no progress on stderr')
    .option(
      '--threads <n>',
      '1: parse, redact, mine and write on one thread; 2: parse, redact and mine on a worker thread while this one writes (default: 2 for a file of 4 MiB or more, or --follow, on 2+ cores)',
    )
    .addHelpText(
      'after',
      `
Stdin from a pipe is never slowed down: when the store cannot keep up, the least important records
are dropped first (debug, then info, then warn; errors last) and counted in the dropped table.
A file (or stdin redirected from a file) is read at the store's pace and nothing is dropped.
With --follow, stop with Ctrl-C (SIGINT) or SIGTERM; what was read is written before exit.
With two threads the stored rows and template ids are the same as with one; a pipe always uses one.`,
    );
  withDbOption(command);
  command.action(async (file: string, options: IngestOptions) => {
    const summary = await runIngest(file, options);
    if (options.json) printJson(summary);
    else if (!options.quiet) progress(formatSummary(summary));
  });
}

function formatSummary(s: IngestSummary): string {
  const dropped = Object.entries(s.dropped)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return `ingested ${s.records} records (${s.rows} rows) from ${s.input} in ${(s.durationMs / 1000).toFixed(1)} s${dropped ? `; dropped: ${dropped}` : ''}`;
}

/** Inputs of at least this size use the worker thread by default. */
const THREADS_MIN_BYTES = 4 * 1024 * 1024;

/** Run an ingest to the end of the input (or until SIGINT/SIGTERM with --follow). */
export async function runIngest(file: string, options: IngestOptions): Promise<IngestSummary> {
  if (options.follow && file === '-') {
    throw new DancerError('DANCER_USAGE', '--follow needs a FILE, not stdin');
  }
  const threadsAsked = parseThreads(options.threads);
  const started = Date.now();
  const loaded = configFor(options);
  const dbPath = dbPathFor(options, loaded);
  const fromStdin = file === '-';
  // A missing input fails before the store is created (no empty database left behind).
  if (!fromStdin && !options.follow && !existsSync(file)) {
    throw new DancerError('DANCER_CAPTURE_INPUT_FAILED', `Cannot read ${file}: no such file.`, { details: { file } });
  }
  // A pipe must never be slowed down; a file may wait for the store.
  const mayWait = !fromStdin || isRegularFile(0);
  if (threadsAsked === 2 && !mayWait && !options.follow) {
    throw new DancerError(
      'DANCER_USAGE',
      '--threads 2 needs a FILE or stdin redirected from a file: a pipe is never slowed down, so it is read on one thread',
    );
  }
  const threads =
    threadsAsked ??
    ((mayWait || options.follow) &&
    availableParallelism() >= 2 &&
    (options.follow || inputBytes(file) >= THREADS_MIN_BYTES)
      ? 2
      : 1);
  const ctx: IngestContext = {
    file,
    options,
    loaded,
    dbPath,
    mayWait,
    // A finite input read at the store's pace: grouping must not depend on how long reading waited.
    live: Boolean(options.follow) || !mayWait,
    input: fromStdin ? 'stdin' : path.resolve(file),
    started,
  };
  return threads === 2 ? runThreaded(ctx) : runSingle(ctx);
}

interface IngestContext {
  file: string;
  options: IngestOptions;
  loaded: ReturnType<typeof configFor>;
  dbPath: string;
  mayWait: boolean;
  live: boolean;
  input: string;
  started: number;
}

function parseThreads(value: string | undefined): 1 | 2 | undefined {
  if (value === undefined) return undefined;
  if (value === '1') return 1;
  if (value === '2') return 2;
  throw new DancerError('DANCER_USAGE', `--threads must be 1 or 2, not ${JSON.stringify(value)}`);
}

function inputBytes(file: string): number {
  try {
    return (file === '-' ? fstatSync(0) : statSync(file)).size;
  } catch {
    return 0;
  }
}

/** The single-thread path: parse, redact, mine and write on this thread. */
async function runSingle(ctx: IngestContext): Promise<IngestSummary> {
  const { options, loaded, dbPath, mayWait } = ctx;
  const { capture, store } = loaded.config;
  let reportedFailure: DancerError | undefined;
  let opened = false;
  const sink = new StoreSink<LogRecord>({
    dbPath,
    toRecord: (r) => r,
    levelOf: (r) => r.level,
    sizeOf: estimateRecordBytes,
    queueMaxRecords: capture.queueMaxRecords,
    backpressure: mayWait || Boolean(options.follow),
    maxBatchRecords: store.batch.maxRecords,
    maxBatchDelayMs: store.batch.maxDelayMs,
    stages: (db) =>
      ingestPatternsStages(db, loaded.config, (error) => progress(`dancer ingest: ${error.code}: ${error.message}`)),
    redact: store.redactAtIngest ? loaded.config.consult.redact : false,
    onReport: (error) => {
      // A store that cannot be opened at start fails the command (reported once, by main);
      // later conditions are reported here, once each.
      if (reportedFailure === undefined && !opened) reportedFailure = error;
      else progress(`dancer ingest: ${error.code}: ${error.message}`);
    },
  });
  if (!sink.open && reportedFailure) {
    sink.close();
    throw reportedFailure;
  }
  opened = true;
  const lineCapture = createLineCapture({
    stream: 'ingest',
    maxRecordBytes: capture.maxRecordBytes,
    timer: ctx.live,
    sink: (record) => sink.push(record),
  });
  const highWater = Math.max(1, Math.floor(capture.queueMaxRecords / 2));
  const ticker = startTicker(options, () => {
    const s = sink.stats;
    return `ingest: ${lineCapture.stats.lines} lines, ${s.records} records stored, ${s.queued} queued`;
  });
  try {
    await readInput(ctx, (chunk) => {
      lineCapture.write(chunk);
      if (!mayWait && !options.follow) return undefined;
      if (sink.backlog < highWater) return undefined;
      return (async () => {
        while (sink.backlog >= highWater) await sink.waitForRoom(highWater);
      })();
    });
  } finally {
    if (ticker) clearInterval(ticker);
    lineCapture.end();
    sink.close();
  }
  const s = sink.stats;
  return summary(ctx, 1, lineCapture.stats.lines, lineCapture.stats.bytes, s);
}

/** Two threads: parse, redact and mine on a worker; write here (ingest-threads.ts). */
async function runThreaded(ctx: IngestContext): Promise<IngestSummary> {
  const { options, loaded, dbPath } = ctx;
  const { capture, store } = loaded.config;
  const ingest = ThreadedIngest.open({
    dbPath,
    config: loaded.config,
    maxRecordBytes: capture.maxRecordBytes,
    maxBatchRecords: store.batch.maxRecords,
    maxBatchDelayMs: store.batch.maxDelayMs,
    redact: store.redactAtIngest ? loaded.config.consult.redact : false,
    live: ctx.live,
    onReport: (error) => progress(`dancer ingest: ${error.code}: ${error.message}`),
  });
  const ticker = startTicker(options, () => {
    const s = ingest.stats;
    return `ingest: ${s.lines} lines, ${s.records} records stored, ${Math.max(0, s.produced - s.records)} queued`;
  });
  try {
    await readInput(ctx, (chunk) => ingest.write(chunk));
    await ingest.end();
  } finally {
    if (ticker) clearInterval(ticker);
    ingest.close();
  }
  const s = ingest.stats;
  return summary(ctx, 2, s.lines, s.bytes, s);
}

function summary(
  ctx: IngestContext,
  threads: 1 | 2,
  lines: number,
  bytes: number,
  s: { records: number; rows: number; dropped: Record<string, number> },
): IngestSummary {
  return {
    input: ctx.input,
    db: ctx.dbPath,
    lines,
    bytes,
    records: s.records,
    rows: s.rows,
    dropped: s.dropped,
    threads,
    durationMs: Date.now() - ctx.started,
  };
}

function startTicker(options: IngestOptions, line: () => string): NodeJS.Timeout | undefined {
  if (options.quiet || options.json || !process.stderr.isTTY) return undefined;
  const ticker = setInterval(() => progress(line()), 1000);
  ticker.unref();
  return ticker;
}

/**
 * Read the input (file, stdin or `--follow`) to its end or until SIGINT/SIGTERM, handing each
 * chunk to `onChunk`; when that returns a promise, reading waits for it (a rejection ends the
 * read with that error).
 */
async function readInput(ctx: IngestContext, onChunk: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  const { file, options, input } = ctx;
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (options.follow) {
      for await (const chunk of followFile(file, {
        signal: abort.signal,
        onEvent: (e) => {
          if (!options.quiet) progress(`ingest: ${e.path} ${e.kind}`);
        },
      })) {
        await onChunk(chunk);
      }
      return;
    }
    const stream = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 256 * 1024 });
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      stream.on('data', (chunk: Buffer | string) => {
        if (failed) return;
        const wait = onChunk(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
        if (wait === undefined) return;
        stream.pause();
        wait.then(
          () => {
            if (!failed) stream.resume();
          },
          (error: unknown) => {
            failed = true;
            reject(error);
          },
        );
      });
      stream.once('end', resolve);
      stream.once('error', (error: Error) =>
        reject(
          new DancerError('DANCER_CAPTURE_INPUT_FAILED', `Cannot read ${input}: ${errorMessage(error)}`, {
            cause: error,
            details: { file: input },
          }),
        ),
      );
      abort.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}
