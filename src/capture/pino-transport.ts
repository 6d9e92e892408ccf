/**
 * `dancer/pino`: a pino transport. It runs in pino's worker thread, so the app's log calls cost
 * what pino costs; it composes with other targets:
 *
 * ```ts
 * const log = pino({
 *   transport: { targets: [
 *     { target: 'pino-pretty' },
 *     { target: 'dancer/pino', options: { db: '.dancer/dancer.db' } },
 *   ] },
 * });
 * ```
 *
 * Standalone it writes the store itself (`options.db`). Under `dancer run` (the supervisor sets
 * `DANCER_CAPTURE_SOCKET`) it sends the lines to the supervisor, the store's single writer.
 * Either way the app never waits: lines go through a bounded queue that drops the least important
 * first and counts what it dropped. If the store cannot be written, that is reported once on
 * stderr and the app keeps running.
 *
 * Standalone, the transport also assigns templates and records the detector's decisions, with
 * the default `patterns` settings (consultations need `dancer run`).
 *
 * App-side entry: loads pino-abstract-transport, better-sqlite3 and Dancer's capture and store
 * modules only (no CLI, HTTP server, Agent SDK or MCP SDK); the patterns stage is loaded in the
 * worker only when it writes the store itself.
 */
import { writeSync } from 'node:fs';
import build from 'pino-abstract-transport';
import { SocketForwarder } from './capture-client.js';
import { CAPTURE_SOCKET_ENV } from './capture-server.js';
import { detachString } from './detach.js';
import { parseLine } from './parse-line.js';
import { quickLevel } from './quick-level.js';
import { DEFAULT_MAX_RECORD_BYTES } from './raw-line.js';
import { StoreSink } from './store-sink.js';

/** Options of the `dancer/pino` target (`{ target: 'dancer/pino', options }`). */
export interface DancerPinoOptions {
  /** SQLite file to write when not under `dancer run`. Default `.dancer/dancer.db` (from the app's cwd). */
  db?: string | undefined;
  /** Capture socket; default `process.env.DANCER_CAPTURE_SOCKET`. When set, records go there instead of `db`. */
  socket?: string | undefined;
  /** Records longer than this keep head and tail. Default 1 MiB. */
  maxRecordBytes?: number | undefined;
  /** Bounded queue in the worker. Default 50 000 records. */
  queueMaxRecords?: number | undefined;
  /** Store batch size. Default 2000. */
  maxBatchRecords?: number | undefined;
  /** Store batch delay. Default 200 ms. */
  maxBatchDelayMs?: number | undefined;
  /** Wait this long on a locked store before counting records as dropped. Default 1000 ms. */
  busyTimeoutMs?: number | undefined;
  /** Try again to open a store that could not be opened this often. Default 5000 ms. */
  reopenIntervalMs?: number | undefined;
}

/** The pino transport factory (pino calls it in the worker with the target's `options`). */
export default async function dancerPinoTransport(options: DancerPinoOptions = {}) {
  const socketPath = options.socket ?? process.env[CAPTURE_SOCKET_ENV];
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const push = socketPath ? forwardTo(socketPath, options) : await storeTo(options, maxRecordBytes);
  // Under dancer run: announce this transport before any target handles a record (dedupe).
  await push.ready?.();
  return build(
    (source) => {
      source.on('data', (line: string) => {
        if (line.length > 0) push.line(line);
      });
    },
    {
      parse: 'lines',
      // Lines are parsed at write time (or by the supervisor), not here: dropping under overload stays cheap.
      parseLine: (line: string) => line,
      metadata: false,
      close: async () => push.close(),
    },
  );
}

/**
 * Report a condition on stderr. Written synchronously to fd 2: a worker's `process.stderr` is
 * relayed through the main thread, which is blocked (waiting for this worker) when the app exits.
 */
function report(message: string): void {
  try {
    writeSync(2, `dancer/pino: ${message}\n`);
  } catch {
    // stderr is closed: nowhere left to report to.
  }
}

interface LineTarget {
  line(line: string): void;
  ready?: () => Promise<void>;
  close(): Promise<void> | void;
}

async function storeTo(options: DancerPinoOptions, maxRecordBytes: number): Promise<LineTarget> {
  const parseOptions = { now: 0, stream: 'pino', maxRecordBytes };
  // Standalone, the transport is the store's writer: it mines templates and runs the detector as
  // `dancer run` does (default settings). Loaded here only: under `dancer run` the supervisor does it.
  const [{ ingestPatternsStages }, { patternsSchema }] = await Promise.all([
    import('../patterns/index.js'),
    import('../config/index.js'),
  ]);
  const patterns = patternsSchema.parse({});
  const sink = new StoreSink<string>({
    dbPath: options.db ?? '.dancer/dancer.db',
    toRecord: (line) => {
      parseOptions.now = Date.now();
      return parseLine(line, parseOptions)?.record ?? null;
    },
    levelOf: quickLevel,
    sizeOf: (line) => line.length * 2 + 32,
    queueMaxRecords: options.queueMaxRecords,
    maxBatchRecords: options.maxBatchRecords,
    maxBatchDelayMs: options.maxBatchDelayMs,
    busyTimeoutMs: options.busyTimeoutMs,
    reopenIntervalMs: options.reopenIntervalMs,
    onReport: (error) => report(`${error.code}: ${error.message}`),
    stages: (db) => ingestPatternsStages(db, { patterns }, (error) => report(`${error.code}: ${error.message}`)),
  });
  return {
    line(line) {
      const level = quickLevel(line);
      if (sink.wouldAccept(level)) sink.push(detachString(line));
      else sink.countDropped(level);
    },
    close() {
      sink.close();
    },
  };
}

function forwardTo(socketPath: string, options: DancerPinoOptions): LineTarget {
  const forwarder = new SocketForwarder({ socketPath, queueMaxRecords: options.queueMaxRecords, onReport: report });
  return {
    line: (line) => forwarder.push(line),
    ready: () => forwarder.ready(),
    close: () => forwarder.close(),
  };
}
