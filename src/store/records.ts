/**
 * The shape of one log record as it flows from capture to the store. Capture (src/capture)
 * produces these; the store writer (src/store/log-writer.ts) persists them; patterns and consult
 * read them back as {@link StoredLog}.
 */

/** Numeric levels, pino's numbers. */
export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** A level name. */
export type LevelName = keyof typeof LEVELS;

/** Name of a numeric level (rounding down to the nearest known level). */
export function levelName(level: number): LevelName {
  if (level >= 60) return 'fatal';
  if (level >= 50) return 'error';
  if (level >= 40) return 'warn';
  if (level >= 30) return 'info';
  if (level >= 20) return 'debug';
  return 'trace';
}

/** Bits of {@link LogRecord.flags}. */
export const RECORD_FLAGS = {
  /** Longer than capture.maxRecordBytes: head and tail kept, `originalBytes` set. */
  truncated: 1,
  /** The input bytes were not valid UTF-8 (replaced with U+FFFD). */
  invalidUtf8: 2,
  /** NUL bytes were removed. */
  nulRemoved: 4,
  /** ANSI escape sequences were stripped. */
  ansiStripped: 8,
  /** The line was JSON but not an object (kept as text). */
  jsonNotObject: 16,
  /** JSON nested deeper than the limit; deep parts were flattened to text. */
  deepJson: 32,
  /** The last line of the input had no newline (stream ended mid-line). */
  partialLine: 64,
  /** Several physical lines grouped into one record (stack trace, traceback). */
  multiline: 128,
} as const;

/** One parsed log record, before it is stored. Only `ts`, `level` and `message` are required. */
export interface LogRecord {
  /** Milliseconds since the epoch. */
  ts: number;
  /** Pino level number (see {@link LEVELS}). */
  level: number;
  message: string;
  /** Module, logger name or component. */
  source?: string | undefined;
  errType?: string | undefined;
  errMessage?: string | undefined;
  errCode?: string | undefined;
  stack?: string | undefined;
  pid?: number | undefined;
  thread?: string | undefined;
  hostname?: string | undefined;
  requestId?: string | undefined;
  sessionId?: string | undefined;
  userId?: string | undefined;
  tenantId?: string | undefined;
  traceId?: string | undefined;
  spanId?: string | undefined;
  httpMethod?: string | undefined;
  httpRoute?: string | undefined;
  httpStatus?: number | undefined;
  durationMs?: number | undefined;
  memBytes?: number | undefined;
  file?: string | undefined;
  line?: number | undefined;
  func?: string | undefined;
  /** Where it came from: `stdout`, `stderr`, `pino`, `ingest`. */
  stream?: string | undefined;
  /** {@link RECORD_FLAGS} bits. */
  flags?: number | undefined;
  /** Size of the original input when truncated. */
  originalBytes?: number | undefined;
  /** Every other field of a JSON record. */
  extra?: Record<string, unknown> | undefined;
  /** Set by the template miner before the record is written (src/patterns). */
  templateId?: number | undefined;
}

/** A row of the `logs` table, read back. A row may stand for `count` identical consecutive records. */
export interface StoredLog extends LogRecord {
  id: number;
  /** Time of the last record of the run (equals `ts` when `count` is 1). */
  lastTs: number;
  count: number;
  /** Grouping hash of the error (type, code, top stack frames), computed by the writer. */
  errHash?: string | undefined;
}
