import { createReadStream, existsSync, fstatSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { createLineCapture, estimateRecordBytes, followFile, StoreSink } from '../capture/index.js';
import { DancerError, errorMessage } from '../errors.js';
import { ingestPatternsStages } from '../patterns/index.js';
import type { LogRecord } from '../store/index.js';
import { configFor, dbPathFor, type GlobalOptions, withDbOption } from './common.js';
import { printJson, progress } from './output.js';

interface IngestOptions extends GlobalOptions {
  follow?: boolean;
  quiet?: boolean;
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
    .addHelpText(
      'after',
      `
Stdin from a pipe is never slowed down: when the store cannot keep up, the least important records
are dropped first (debug, then info, then warn; errors last) and counted in the dropped table.
A file (or stdin redirected from a file) is read at the store's pace and nothing is dropped.
With --follow, stop with Ctrl-C (SIGINT) or SIGTERM; what was read is written before exit.`,
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

/** Run an ingest to the end of the input (or until SIGINT/SIGTERM with --follow). */
export async function runIngest(file: string, options: IngestOptions): Promise<IngestSummary> {
  if (options.follow && file === '-') {
    throw new DancerError('DANCER_USAGE', '--follow needs a FILE, not stdin');
  }
  const started = Date.now();
  const loaded = configFor(options);
  const dbPath = dbPathFor(options, loaded);
  const { capture, store } = loaded.config;
  const fromStdin = file === '-';
  // A missing input fails before the store is created (no empty database left behind).
  if (!fromStdin && !options.follow && !existsSync(file)) {
    throw new DancerError('DANCER_CAPTURE_INPUT_FAILED', `Cannot read ${file}: no such file.`, { details: { file } });
  }
  // A pipe must never be slowed down; a file may wait for the store.
  const mayWait = !fromStdin || isRegularFile(0);

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
    sink: (record) => sink.push(record),
  });
  const highWater = Math.max(1, Math.floor(capture.queueMaxRecords / 2));
  const input = fromStdin ? 'stdin' : path.resolve(file);

  const ticker =
    !options.quiet && !options.json && process.stderr.isTTY
      ? setInterval(() => {
          const s = sink.stats;
          progress(`ingest: ${lineCapture.stats.lines} lines, ${s.records} records stored, ${s.queued} queued`);
        }, 1000)
      : undefined;
  ticker?.unref();

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
        lineCapture.write(chunk);
        while (sink.backlog >= highWater) await sink.waitForRoom(highWater);
      }
    } else {
      const stream = fromStdin ? process.stdin : createReadStream(file, { highWaterMark: 256 * 1024 });
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (chunk: Buffer | string) => {
          lineCapture.write(chunk);
          if (mayWait && sink.backlog >= highWater) {
            stream.pause();
            void (async () => {
              while (sink.backlog >= highWater) await sink.waitForRoom(highWater);
              stream.resume();
            })();
          }
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
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (ticker) clearInterval(ticker);
    lineCapture.end();
    sink.close();
  }
  const s = sink.stats;
  return {
    input,
    db: dbPath,
    lines: lineCapture.stats.lines,
    bytes: lineCapture.stats.bytes,
    records: s.records,
    rows: s.rows,
    dropped: s.dropped,
    durationMs: Date.now() - started,
  };
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}
