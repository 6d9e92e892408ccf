import { LEVELS, type LogRecord, RECORD_FLAGS } from '../store/index.js';
import { type ErrorHead, parseErrorHead, parsePythonExceptionLine } from './error-head.js';
import type { ParsedLine } from './parse-line.js';
import { DEFAULT_MAX_RECORD_BYTES } from './raw-line.js';

/** Default idle time after which a pending multi-line record is emitted. */
export const DEFAULT_FLUSH_TIMEOUT_MS = 200;

/** Options for {@link Assembler}. */
export interface AssemblerOptions {
  /** A group never grows past this many bytes; the next line starts a new record. Default 1 MiB. */
  maxRecordBytes?: number | undefined;
  /** A pending record is emitted after this long without a new line. Default 200 ms. */
  flushTimeoutMs?: number | undefined;
}

type Mode = 'plain' | 'stack' | 'python' | 'go';
type PyState = 'frames' | 'afterException' | 'chain';

interface Group {
  head: LogRecord;
  headText: string;
  levelFromMarker: boolean;
  lines: string[];
  bytes: number;
  flags: number;
  mode: Mode;
  /** Python: the traceback began at `lines[pyStart]` (-1: the head line is the traceback). */
  pyStart: number;
  pyState: PyState;
  lastException?: ErrorHead | undefined;
  lastExceptionText?: string | undefined;
  lastAt: number;
}

const TRACEBACK = /^Traceback \(most recent call last\):\s*$/;
const PY_CHAIN =
  /^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)\s*$/;
const STACK_FRAME = /^\s+at\s|^\s+\.\.\. \d+ (?:more|common frames omitted|lines? matching)/;
const CAUSED_BY = /^\s*(?:Caused by:|Suppressed:|\[cause\]:|\[errors\]:)/;
const INDENTED = /^\s/;
const GO_PANIC = /^(?:panic: |fatal error: )/;
const GO_LINE = /^(?:goroutine \d+ \[|created by |\[recovered\]|[\w./*()-]+\(.*\)$|exit status \d+$)/;

/**
 * Groups physical lines into records: Node and Java stack traces (`    at ...`, `Caused by:`,
 * `... 5 more`), Python tracebacks (from `Traceback (most recent call last):` to the exception
 * line, with chained exceptions), Go panics, and indented continuation lines. JSON lines are
 * always records of their own. Pure: the caller passes the clock and calls {@link tick} to
 * release a record that waited {@link AssemblerOptions.flushTimeoutMs} for more lines.
 */
export class Assembler {
  private readonly max: number;
  private readonly timeout: number;
  private group: Group | null = null;

  constructor(options: AssemblerOptions = {}) {
    this.max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.timeout = options.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS;
  }

  /** When the pending record, if any, is due (ms); undefined when nothing is pending. */
  get dueAt(): number | undefined {
    return this.group === null ? undefined : this.group.lastAt + this.timeout;
  }

  /** Feed one parsed line; returns the records it completed (often none, sometimes two). */
  push(line: ParsedLine, now: number): LogRecord[] {
    const out: LogRecord[] = [];
    if (line.kind === 'json') {
      this.finishInto(out);
      out.push(line.record);
      return out;
    }
    const text = line.record.message;
    const g = this.group;
    if (g !== null && this.continues(g, text, line)) {
      g.lastAt = now;
      return out;
    }
    if (
      g !== null &&
      TRACEBACK.test(text) &&
      g.mode === 'plain' &&
      g.lines.length === 0 &&
      g.head.level >= LEVELS.error
    ) {
      // logging.exception(): "ERROR:root:failed" followed by its traceback.
      g.mode = 'python';
      g.pyStart = 0;
      g.pyState = 'frames';
      this.append(g, text, line);
      g.lastAt = now;
      return out;
    }
    this.finishInto(out);
    this.group = {
      head: line.record,
      headText: text,
      levelFromMarker: line.levelFromMarker,
      lines: [],
      bytes: Buffer.byteLength(text),
      flags: line.record.flags ?? 0,
      mode: TRACEBACK.test(text) ? 'python' : GO_PANIC.test(text) ? 'go' : 'plain',
      pyStart: -1,
      pyState: 'frames',
      lastAt: now,
    };
    return out;
  }

  /** Emit the pending record if it has waited long enough. */
  tick(now: number): LogRecord[] {
    const due = this.dueAt;
    if (due === undefined || now < due) return [];
    const out: LogRecord[] = [];
    this.finishInto(out);
    return out;
  }

  /** End of input: emit whatever is pending. */
  end(): LogRecord[] {
    const out: LogRecord[] = [];
    this.finishInto(out);
    return out;
  }

  private append(g: Group, text: string, line: ParsedLine): void {
    g.lines.push(text);
    g.bytes += Buffer.byteLength(text) + 1;
    g.flags |= line.record.flags ?? 0;
  }

  private continues(g: Group, text: string, line: ParsedLine): boolean {
    if (g.bytes + text.length + 1 > this.max) return false;
    if (g.mode === 'python') {
      if (g.pyState === 'frames') {
        if (INDENTED.test(text)) {
          this.append(g, text, line);
          return true;
        }
        this.append(g, text, line);
        g.lastException = parsePythonExceptionLine(text);
        g.lastExceptionText = text;
        g.pyState = 'afterException';
        return true;
      }
      if (g.pyState === 'afterException' && PY_CHAIN.test(text)) {
        this.append(g, text, line);
        g.pyState = 'chain';
        return true;
      }
      if (g.pyState === 'chain' && TRACEBACK.test(text)) {
        this.append(g, text, line);
        g.pyState = 'frames';
        return true;
      }
      return false;
    }
    if (g.mode === 'go') {
      if (INDENTED.test(text) || GO_LINE.test(text)) {
        this.append(g, text, line);
        return true;
      }
      return false;
    }
    if (STACK_FRAME.test(text) || CAUSED_BY.test(text)) {
      g.mode = 'stack';
      this.append(g, text, line);
      return true;
    }
    if (INDENTED.test(text) || (g.mode === 'stack' && /^\s*\}\s*$/.test(text))) {
      this.append(g, text, line);
      return true;
    }
    return false;
  }

  private finishInto(out: LogRecord[]): void {
    const g = this.group;
    if (g === null) return;
    this.group = null;
    if (g.lines.length === 0) {
      out.push(g.head);
      return;
    }
    const record: LogRecord = { ...g.head };
    record.flags = g.flags | RECORD_FLAGS.multiline;
    const all = [g.headText, ...g.lines].join('\n');
    if (g.mode === 'plain') {
      record.message = all;
    } else if (g.mode === 'python') {
      if (g.pyStart === -1) {
        record.message = g.lastExceptionText ?? g.headText;
        record.stack = all;
      } else {
        record.stack = g.lines.slice(g.pyStart).join('\n');
      }
      if (g.lastException) {
        record.errType = g.lastException.errType;
        record.errMessage = g.lastException.errMessage;
        if (record.errMessage === undefined) delete record.errMessage;
      }
      record.level = Math.max(record.level, LEVELS.error);
    } else {
      record.stack = all;
      if (record.errType === undefined) {
        const head = parseErrorHead(g.headText);
        if (head) {
          record.errType = head.errType;
          if (head.errMessage !== undefined) record.errMessage = head.errMessage;
        }
      }
      if (!g.levelFromMarker || g.mode === 'go') record.level = Math.max(record.level, LEVELS.error);
    }
    out.push(record);
  }
}
