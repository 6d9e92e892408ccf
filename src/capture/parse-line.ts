import { LEVELS, type LogRecord, RECORD_FLAGS } from '../store/records.js';
import { parseErrorHead } from './error-head.js';
import { inferLevel, levelFromValue } from './levels.js';
import { DEFAULT_MAX_RECORD_BYTES, decodeRawLine, type RawLine, stripAnsi, toRawLine } from './raw-line.js';

/** Default depth past which JSON values are flattened to text. */
export const DEFAULT_MAX_JSON_DEPTH = 16;

/** What {@link parseLine} needs besides the line. The clock is passed in. */
export interface ParseOptions {
  /** Current time (ms); used when the line carries no time. */
  now: number;
  /** `stdout`, `stderr`, `pino`, `ingest`. */
  stream?: string | undefined;
  /** Process id to record when the line has none. */
  pid?: number | undefined;
  /** Lines longer than this keep head and tail only. Default 1 MiB. */
  maxRecordBytes?: number | undefined;
  /** JSON nested deeper than this is flattened to text. Default 16. */
  maxDepth?: number | undefined;
}

/** A parsed line: the record, and what the multi-line assembler needs to know about it. */
export interface ParsedLine {
  record: LogRecord;
  /** `json` for a JSON object line, `text` for everything else. */
  kind: 'json' | 'text';
  /** For text lines: the level came from a marker (`ERROR`, ...), not from the default. */
  levelFromMarker: boolean;
}

/**
 * Parse one line into a {@link LogRecord}. JSON object lines (pino, bunyan and common shapes) map
 * to fields with everything unknown in `extra`; anything else is kept as text with a level read
 * from its markers. Never throws; whitespace-only lines give null. Repairs are recorded in
 * `record.flags` ({@link RECORD_FLAGS}).
 */
export function parseLine(input: RawLine | string, options: ParseOptions): ParsedLine | null {
  const max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  let text: string;
  let flags: number;
  let originalBytes: number | undefined;
  if (typeof input === 'string' && input.length * 3 <= max && !input.includes('\u0000')) {
    text = input;
    flags = 0;
    if (text.includes('\x1b')) {
      const stripped = stripAnsi(text);
      if (stripped !== text) {
        text = stripped;
        flags |= RECORD_FLAGS.ansiStripped;
      }
    }
  } else {
    const decoded = decodeRawLine(typeof input === 'string' ? toRawLine(input, max) : input);
    text = decoded.text;
    flags = decoded.flags;
    originalBytes = decoded.originalBytes;
  }
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if (text.trim().length === 0) return null;

  const first = firstNonSpace(text);
  if (first === '{' && (flags & RECORD_FLAGS.truncated) === 0) {
    const parsed = tryJson(text);
    if (parsed.ok && isPlainObject(parsed.value)) {
      const record = recordFromObject(parsed.value, options, flags, text);
      return { record, kind: 'json', levelFromMarker: true };
    }
    if (parsed.tooDeep) flags |= RECORD_FLAGS.deepJson;
  } else if (first === '[' || first === '"' || /^\s*(?:-?\d[\d.eE+-]*|true|false|null)\s*$/.test(text)) {
    const parsed = tryJson(text);
    if (parsed.ok) flags |= RECORD_FLAGS.jsonNotObject;
    else if (parsed.tooDeep) flags |= RECORD_FLAGS.deepJson;
  }
  return textRecord(text, options, flags, originalBytes);
}

function firstNonSpace(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c !== ' ' && c !== '\t') return c;
  }
  return '';
}

function tryJson(text: string): { ok: true; value: unknown; tooDeep?: false } | { ok: false; tooDeep: boolean } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, tooDeep: error instanceof RangeError };
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const LEADING_TIME = /^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s/;

function textRecord(text: string, options: ParseOptions, flags: number, originalBytes?: number): ParsedLine {
  let ts = options.now;
  const tm = LEADING_TIME.exec(text);
  if (tm?.[1] !== undefined) {
    const t = Date.parse(tm[1].replace(' ', 'T').replace(',', '.'));
    if (Number.isFinite(t)) ts = t;
  }
  let { level, fromMarker } = inferLevel(text);
  if ((flags & RECORD_FLAGS.truncated) !== 0 && text.startsWith('{')) {
    // A JSON line too long to keep whole: its level is usually near the start.
    const lm = /"(?:level|severity|lvl)"\s*:\s*("?)(\w+)\1/.exec(text.slice(0, 4096));
    const fromJson = lm?.[2] === undefined ? undefined : levelFromValue(lm[2]);
    if (fromJson !== undefined) {
      level = fromJson;
      fromMarker = true;
    }
  }
  const record: LogRecord = { ts, level, message: text };
  if (options.stream !== undefined) record.stream = options.stream;
  if (options.pid !== undefined) record.pid = options.pid;
  if (flags !== 0) record.flags = flags;
  if (originalBytes !== undefined) record.originalBytes = originalBytes;
  const head = parseErrorHead(text);
  if (head) {
    record.errType = head.errType;
    if (head.errMessage !== undefined) record.errMessage = head.errMessage;
  }
  return { record, kind: 'text', levelFromMarker: fromMarker };
}

/** Read a time value (ms, s, µs, ns since the epoch, or an ISO/RFC string) as ms; undefined if unreadable. */
export function timeFromValue(value: unknown): number | undefined {
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string') {
    const s = value.trim();
    if (/^\d+(\.\d+)?$/.test(s)) n = Number(s);
    else {
      const t = Date.parse(s);
      return Number.isFinite(t) ? t : undefined;
    }
  }
  if (n === undefined || !Number.isFinite(n) || n <= 0) return undefined;
  if (n >= 1e17) return Math.floor(n / 1e6); // ns
  if (n >= 1e14) return Math.floor(n / 1e3); // µs
  if (n >= 1e11) return Math.floor(n); // ms
  return Math.floor(n * 1000); // s
}

function str(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function num(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  return undefined;
}

/** Take the first key of `keys` whose value `read` accepts; remove it from `obj`. */
function take<T>(
  obj: Record<string, unknown>,
  keys: readonly string[],
  read: (v: unknown) => T | undefined,
): T | undefined {
  for (const key of keys) {
    if (!(key in obj)) continue;
    const v = read(obj[key]);
    if (v !== undefined) {
      delete obj[key];
      return v;
    }
  }
  return undefined;
}

function routeFromUrl(url: string): string {
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Map a parsed JSON object to a {@link LogRecord}. Known fields (pino, bunyan, and common
 * shapes) become columns; every other field lands in `extra`, flattened to text past `maxDepth`.
 */
export function recordFromObject(
  source: Record<string, unknown>,
  options: ParseOptions,
  flags = 0,
  rawText?: string,
): LogRecord {
  const obj: Record<string, unknown> = { ...source };
  const now = options.now;
  const level = take(obj, ['level', 'severity', 'lvl', 'levelname', 'loglevel', 'log.level'], levelFromValue);
  const ts = take(obj, ['time', 'timestamp', 'ts', '@timestamp', 'date'], timeFromValue) ?? now;
  let message = take(obj, ['msg', 'message', '@message', '@m'], (v) => (typeof v === 'string' ? v : undefined));

  const record: LogRecord = { ts, level: level ?? LEVELS.info, message: '' };

  // Errors: pino's err, bunyan's err, `error`, `exception`.
  const errKey = ['err', 'error', 'exception'].find((k) => obj[k] !== undefined && obj[k] !== null);
  if (errKey !== undefined) {
    const e = obj[errKey];
    if (isPlainObject(e)) {
      const rest: Record<string, unknown> = { ...e };
      record.errType = take(rest, ['type', 'name', 'class'], str);
      record.errMessage = take(rest, ['message', 'msg'], str);
      record.errCode = take(rest, ['code', 'errno'], str);
      record.stack = take(rest, ['stack', 'stacktrace', 'stack_trace', 'backtrace'], (v) =>
        typeof v === 'string'
          ? v
          : Array.isArray(v) && v.every((x) => typeof x === 'string')
            ? v.join('\n')
            : undefined,
      );
      if (Object.keys(rest).length > 0) obj[errKey] = rest;
      else delete obj[errKey];
    } else if (typeof e === 'string') {
      delete obj[errKey];
      if (e.includes('\n')) {
        record.stack = e;
        const head = parseErrorHead(e.slice(0, e.indexOf('\n')));
        record.errType = head?.errType;
        record.errMessage = head?.errMessage ?? e.slice(0, e.indexOf('\n'));
      } else {
        const head = parseErrorHead(e);
        record.errType = head?.errType;
        record.errMessage = head?.errMessage ?? e;
      }
    }
  }
  record.stack ??= take(obj, ['stack', 'stack_trace', 'stacktrace', 'exc_info', 'exc_text', 'traceback'], (v) =>
    typeof v === 'string' && v.length > 0 ? v : undefined,
  );
  if (record.stack !== undefined && record.errType === undefined) {
    const firstLine = record.stack.split('\n', 1)[0] ?? '';
    const head = parseErrorHead(firstLine) ?? parseErrorHead(record.stack.trimEnd().split('\n').pop() ?? '');
    if (head) {
      record.errType = head.errType;
      record.errMessage ??= head.errMessage;
    }
  }
  record.errCode ??= take(obj, ['code', 'errorCode', 'error_code'], (v) =>
    typeof v === 'string' && v.length > 0 ? v : undefined,
  );

  // HTTP: pino-http / bunyan req and res, and flat access-log shapes.
  const req = obj.req ?? obj.request;
  if (isPlainObject(req)) {
    const key = obj.req !== undefined ? 'req' : 'request';
    const rest: Record<string, unknown> = { ...req };
    record.httpMethod = take(rest, ['method'], str);
    const route = take(rest, ['route', 'routerPath'], str);
    const url = take(rest, ['url', 'path', 'originalUrl'], str);
    record.httpRoute = route ?? (url === undefined ? undefined : routeFromUrl(url));
    record.requestId = take(rest, ['id', 'requestId', 'reqId'], str);
    if (url !== undefined && route !== undefined) rest.url = url;
    if (Object.keys(rest).length > 0) obj[key] = rest;
    else delete obj[key];
  }
  const res = obj.res ?? obj.response;
  if (isPlainObject(res)) {
    const key = obj.res !== undefined ? 'res' : 'response';
    const rest: Record<string, unknown> = { ...res };
    record.httpStatus = take(rest, ['statusCode', 'status', 'status_code'], num);
    if (Object.keys(rest).length > 0) obj[key] = rest;
    else delete obj[key];
  }
  record.httpMethod ??= take(obj, ['method', 'http_method', 'httpMethod'], (v) =>
    typeof v === 'string' && /^[A-Z]{3,7}$/.test(v) ? v : undefined,
  );
  if (record.httpRoute === undefined) {
    record.httpRoute = take(obj, ['route', 'http_route', 'httpRoute'], str);
    if (record.httpRoute === undefined) {
      const url = take(obj, ['url', 'path', 'uri'], (v) =>
        typeof v === 'string' && v.startsWith('/') ? v : undefined,
      );
      if (url !== undefined) record.httpRoute = routeFromUrl(url);
    }
  }
  record.httpStatus ??= take(obj, ['statusCode', 'status', 'status_code', 'http_status'], (v) => {
    const n = num(v);
    return n !== undefined && n >= 100 && n <= 599 ? n : undefined;
  });
  record.durationMs = take(
    obj,
    [
      'responseTime',
      'response_time',
      'durationMs',
      'duration_ms',
      'duration',
      'elapsed',
      'elapsedMs',
      'latency',
      'took',
    ],
    num,
  );

  // Process and source.
  record.pid = take(obj, ['pid'], num) ?? options.pid;
  record.hostname = take(obj, ['hostname', 'host'], str);
  record.source = take(obj, ['name', 'module', 'logger', 'logger_name', 'component', 'source'], str);
  record.thread = take(obj, ['thread', 'threadId', 'thread_id', 'threadName', 'worker'], str);
  record.memBytes = take(obj, ['memBytes', 'mem', 'rss'], num);
  const caller = take(obj, ['caller'], str);
  record.file = take(obj, ['file', 'filename', 'pathname'], str);
  record.line = take(obj, ['line', 'lineno', 'lineNumber'], num);
  record.func = take(obj, ['func', 'function', 'funcName'], str);
  if (caller !== undefined) {
    const m = /^(.*):(\d+)$/.exec(caller);
    if (m && record.file === undefined) {
      record.file = m[1];
      record.line = Number(m[2]);
    } else obj.caller = caller;
  }

  // Context (dancer/context's mixin and the usual spellings).
  record.requestId ??= take(obj, ['reqId', 'requestId', 'request_id', 'req_id', 'x-request-id'], str);
  record.sessionId = take(obj, ['sessionId', 'session_id'], str);
  record.userId = take(obj, ['userId', 'user_id'], str);
  record.tenantId = take(obj, ['tenantId', 'tenant_id'], str);
  record.traceId = take(obj, ['traceId', 'trace_id', 'trace.id'], str);
  record.spanId = take(obj, ['spanId', 'span_id', 'span.id'], str);

  if (message === undefined) {
    const m = obj.msg ?? obj.message;
    if (m !== undefined && m !== null) {
      // A non-string message: keep it as text, the original stays in extra.
      message = safeStringify(m) ?? String(m);
    }
  }
  record.message = message ?? record.errMessage ?? '';
  if (level === undefined) {
    record.level =
      record.errType !== undefined || record.errMessage !== undefined || record.stack !== undefined
        ? LEVELS.error
        : inferLevel(record.message).level;
  }
  if (options.stream !== undefined) record.stream = options.stream;

  if (Object.keys(obj).length > 0) {
    const limited = limitDepth(obj, options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH);
    record.extra = limited.value as Record<string, unknown>;
    if (limited.deep) {
      flags |= RECORD_FLAGS.deepJson;
      if (limited.lost && rawText !== undefined) record.extra._raw = rawText;
    }
  }
  if (flags !== 0) record.flags = flags;
  for (const key of Object.keys(record) as Array<keyof LogRecord>) {
    if (record[key] === undefined) delete record[key];
  }
  return record;
}

function safeStringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/**
 * Copy `value`, replacing anything nested deeper than `maxDepth` by its JSON text. `lost` is
 * set when even that failed (the caller then keeps the raw line).
 */
export function limitDepth(value: unknown, maxDepth: number): { value: unknown; deep: boolean; lost: boolean } {
  const state = { deep: false, lost: false };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (depth >= maxDepth) {
      state.deep = true;
      const text = safeStringify(v);
      if (text === undefined) {
        state.lost = true;
        return '[dancer: too deep]';
      }
      return text;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = walk(x, depth + 1);
    return out;
  };
  const out = walk(value, 0);
  return { value: out, deep: state.deep, lost: state.lost };
}
