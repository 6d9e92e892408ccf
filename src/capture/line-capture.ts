import type { LogRecord } from '../store/index.js';
import { Assembler } from './assembler.js';
import { parseLine } from './parse-line.js';
import { DEFAULT_MAX_RECORD_BYTES, LineSplitter, type RawLine } from './raw-line.js';

/** Options for {@link createLineCapture}. */
export interface LineCaptureOptions {
  /** Receives every record, in order. Must not throw (a throw is reported as a bug). */
  sink: (record: LogRecord) => void;
  /** Recorded as `LogRecord.stream`. */
  stream: 'stdout' | 'stderr' | 'ingest';
  /** Process id for records that carry none (the child's pid). */
  pid?: number | undefined;
  /** `capture.maxRecordBytes`: longer lines keep head and tail. Default 1 MiB. */
  maxRecordBytes?: number | undefined;
  /** A pending multi-line record is emitted after this long without a new line. Default 200 ms. */
  flushTimeoutMs?: number | undefined;
  /** Clock (ms). Default `Date.now`. */
  now?: (() => number) | undefined;
  /**
   * Release a pending multi-line record after `flushTimeoutMs` of silence (a live stream).
   * False for a finite input read at the store's pace (a file): grouping then depends only on the
   * bytes, not on how long the reader waited. Default true.
   */
  timer?: boolean | undefined;
}

/** Counters of a {@link LineCapture}. */
export interface LineCaptureStats {
  /** Physical lines seen (blank lines included). */
  lines: number;
  /** Blank lines (not stored). */
  blank: number;
  /** Records handed to the sink. */
  records: number;
  /** Bytes seen. */
  bytes: number;
}

/** Turns chunks of a byte stream (a child's stdout/stderr, a file, stdin) into records. */
export interface LineCapture {
  /** Feed a chunk; records are passed to the sink as soon as they are complete. */
  write(chunk: Buffer | string): void;
  /** Emit a pending multi-line record now (the unterminated last line stays until more input or end). */
  flush(): void;
  /** End of input: emits the unterminated last line (flagged `partialLine`) and anything pending. */
  end(): void;
  readonly stats: LineCaptureStats;
}

/**
 * Build a {@link LineCapture}: line splitting (bounded memory), parsing (JSON or text), and
 * multi-line grouping, with an unref'd timer that releases the last pending record after
 * `flushTimeoutMs` of silence. The supervisor uses one per child stream; `dancer ingest` one per
 * input.
 */
export function createLineCapture(options: LineCaptureOptions): LineCapture {
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const now = options.now ?? Date.now;
  const splitter = new LineSplitter(maxRecordBytes);
  const assembler = new Assembler({ maxRecordBytes, flushTimeoutMs: options.flushTimeoutMs });
  const parseOptions = { now: 0, stream: options.stream, pid: options.pid, maxRecordBytes };
  const stats: LineCaptureStats = { lines: 0, blank: 0, records: 0, bytes: 0 };
  let timer: NodeJS.Timeout | undefined;
  let ended = false;

  const emit = (records: LogRecord[]) => {
    for (const record of records) {
      stats.records++;
      options.sink(record);
    }
  };
  const onLine = (line: RawLine) => {
    stats.lines++;
    const t = now();
    parseOptions.now = t;
    const parsed = parseLine(line, parseOptions);
    if (parsed === null) {
      stats.blank++;
      return;
    }
    emit(assembler.push(parsed, t));
  };
  const arm = () => {
    const due = assembler.dueAt;
    if (due === undefined || ended || options.timer === false) {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      return;
    }
    if (timer !== undefined) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        emit(assembler.tick(now()));
        arm();
      },
      Math.max(1, due - now()),
    );
    timer.unref();
  };

  return {
    write(chunk) {
      if (ended) return;
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      stats.bytes += buf.length;
      splitter.push(buf, onLine);
      arm();
    },
    flush() {
      emit(assembler.end());
      arm();
    },
    end() {
      if (ended) return;
      splitter.end(onLine);
      ended = true;
      emit(assembler.end());
      arm();
    },
    get stats() {
      return { ...stats };
    },
  };
}
