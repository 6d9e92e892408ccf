import { LEVELS, type LogRecord, RECORD_FLAGS } from '../store/index.js';
import { parseErrorHead } from './error-head.js';
import { inferLevel, levelFromValue } from './levels.js';
import { splitLinePrefix } from './line-prefix.js';
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

function textRecord(text: string, options: ParseOptions, flags: number, originalBytes?: number): ParsedLine {
  let ts = options.now;
  // A truncated line keeps its raw head and tail.
  const prefix = (flags & RECORD_FLAGS.truncated) === 0 ? splitLinePrefix(text) : { message: text };
  if (prefix.ts !== undefined) ts = prefix.ts;
  let { level, fromMarker } = inferLevel(text);
  if (prefix.level !== undefined) {
    level = prefix.level;
    fromMarker = true;
  }
  if ((flags & RECORD_FLAGS.truncated) !== 0 && text.startsWith('{')) {
    // A JSON line too long to keep whole: its level is usually near the start.
    const lm = /"(?:level|severity|lvl)"\s*:\s*("?)(\w+)\1/.exec(text.slice(0, 4096));
    const fromJson = lm?.[2] === undefined ? undefined : levelFromValue(lm[2]);
    if (fromJson !== undefined) {
      level = fromJson;
      fromMarker = true;
    }
  }
  text = prefix.message;
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

/**
 * A view of a JSON object that hands out fields by priority and remembers which were used, so
 * the rest can go to `extra`. The parsed object is never mutated (no `delete`: it would turn
 * V8's fast object into a slow dictionary).
 */
class Fields {
  readonly obj: Record<string, unknown>;
  /** Keys taken so far: a few per object, so a plain array beats a Set (no per-record hash table). */
  readonly used: string[] = [];
  constructor(obj: Record<string, unknown>) {
    this.obj = obj;
  }
  /** Mark `key` as taken. */
  add(key: string): void {
    this.used.push(key);
  }
  /** Whether `key` was taken. */
  has(key: string): boolean {
    return this.used.includes(key);
  }
  /** The first of `keys` whose value `read` accepts (marked used), or undefined. */
  take<T>(keys: readonly string[], read: (v: unknown) => T | undefined): T | undefined {
    for (const key of keys) {
      const raw = this.obj[key];
      if (raw === undefined || this.used.includes(key)) continue;
      const v = read(raw);
      if (v !== undefined) {
        this.used.push(key);
        return v;
      }
    }
    return undefined;
  }
  /** The fields not taken, or undefined when none are left. */
  rest(): Record<string, unknown> | undefined {
    let out: Record<string, unknown> | undefined;
    for (const key in this.obj) {
      if (this.used.includes(key)) continue;
      out ??= {};
      setOwn(out, key, this.obj[key]);
    }
    return out;
  }
}

/** Set a field, `__proto__` included, as an own data property (never the prototype). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function routeFromUrl(url: string): string {
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

const asString = (v: unknown) => (typeof v === 'string' ? v : undefined);
const nonEmpty = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
const stackValue = (v: unknown) =>
  typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join('\n') : undefined;
const httpStatus = (v: unknown) => {
  const n = num(v);
  return n !== undefined && n >= 100 && n <= 599 ? n : undefined;
};
const httpMethod = (v: unknown) => (typeof v === 'string' && /^[A-Z]{3,7}$/.test(v) ? v : undefined);
const pathValue = (v: unknown) => (typeof v === 'string' && v.startsWith('/') ? v : undefined);

/**
 * Map a parsed JSON object to a {@link LogRecord}. Known fields (pino, bunyan, and common
 * shapes) become columns; every other field lands in `extra`, flattened to text past `maxDepth`.
 */

/** Field names by priority, hoisted so no array is allocated per record. */
const LEVEL_KEYS = ['level', 'severity', 'lvl', 'levelname', 'loglevel', 'log.level'] as const;
const TIME_KEYS = ['time', 'timestamp', 'ts', '@timestamp', 'date'] as const;
const MSG_KEYS = ['msg', 'message', '@message', '@m'] as const;
const ERR_KEYS = ['err', 'error', 'exception'] as const;
const ERR_TYPE_KEYS = ['type', 'name', 'class'] as const;
const ERR_MSG_KEYS = ['message', 'msg'] as const;
const ERR_CODE_KEYS = ['code', 'errno'] as const;
const ERR_STACK_KEYS = ['stack', 'stacktrace', 'stack_trace', 'backtrace'] as const;
const STACK_KEYS = ['stack', 'stack_trace', 'stacktrace', 'exc_info', 'exc_text', 'traceback'] as const;
const CODE_KEYS = ['code', 'errorCode', 'error_code'] as const;
const REQ_METHOD_KEYS = ['method'] as const;
const REQ_ROUTE_KEYS = ['route', 'routerPath'] as const;
const REQ_URL_KEYS = ['url', 'path', 'originalUrl'] as const;
const REQ_ID_KEYS = ['id', 'requestId', 'reqId'] as const;
const RES_STATUS_KEYS = ['statusCode', 'status', 'status_code'] as const;
const METHOD_KEYS = ['method', 'http_method', 'httpMethod'] as const;
const ROUTE_KEYS = ['route', 'http_route', 'httpRoute'] as const;
const URL_KEYS = ['url', 'path', 'uri'] as const;
const STATUS_KEYS = ['statusCode', 'status', 'status_code', 'http_status'] as const;
const DURATION_KEYS = [
  'responseTime',
  'response_time',
  'durationMs',
  'duration_ms',
  'duration',
  'elapsed',
  'elapsedMs',
  'latency',
  'took',
] as const;
const PID_KEYS = ['pid'] as const;
const HOST_KEYS = ['hostname', 'host'] as const;
const SOURCE_KEYS = ['name', 'module', 'logger', 'logger_name', 'component', 'source'] as const;
const THREAD_KEYS = ['thread', 'threadId', 'thread_id', 'threadName', 'worker'] as const;
const MEM_KEYS = ['memBytes', 'mem', 'rss'] as const;
const FILE_KEYS = ['file', 'filename', 'pathname'] as const;
const LINE_KEYS = ['line', 'lineno', 'lineNumber'] as const;
const FUNC_KEYS = ['func', 'function', 'funcName'] as const;
const REQUEST_ID_KEYS = ['reqId', 'requestId', 'request_id', 'req_id', 'x-request-id'] as const;
const SESSION_KEYS = ['sessionId', 'session_id'] as const;
const USER_KEYS = ['userId', 'user_id'] as const;
const TENANT_KEYS = ['tenantId', 'tenant_id'] as const;
const TRACE_KEYS = ['traceId', 'trace_id', 'trace.id'] as const;
const SPAN_KEYS = ['spanId', 'span_id', 'span.id'] as const;

export function recordFromObject(
  source: Record<string, unknown>,
  options: ParseOptions,
  flags = 0,
  rawText?: string,
): LogRecord {
  const f = new Fields(source);
  /** Nested objects (err, req, res) with their mapped fields removed. */
  let leftovers: Map<string, Record<string, unknown> | undefined> | undefined;
  const level = f.take(LEVEL_KEYS, levelFromValue);
  const ts = f.take(TIME_KEYS, timeFromValue) ?? options.now;
  let message = f.take(MSG_KEYS, asString);
  const record: LogRecord = { ts, level: level ?? LEVELS.info, message: '' };

  // Errors: pino's err, bunyan's err, `error`, `exception`.
  let errType: string | undefined;
  let errMessage: string | undefined;
  let errCode: string | undefined;
  let stack: string | undefined;
  let errKey: string | undefined;
  for (const k of ERR_KEYS) {
    if (source[k] !== undefined && source[k] !== null) {
      errKey = k;
      break;
    }
  }
  if (errKey !== undefined) {
    const e = source[errKey];
    if (isPlainObject(e)) {
      const ef = new Fields(e);
      errType = ef.take(ERR_TYPE_KEYS, str);
      errMessage = ef.take(ERR_MSG_KEYS, str);
      errCode = ef.take(ERR_CODE_KEYS, str);
      stack = ef.take(ERR_STACK_KEYS, stackValue);
      leftovers = withLeftover(leftovers, errKey, ef.rest());
    } else if (typeof e === 'string') {
      f.add(errKey);
      const nl = e.indexOf('\n');
      const first = nl === -1 ? e : e.slice(0, nl);
      if (nl !== -1) stack = e;
      const head = parseErrorHead(first);
      errType = head?.errType;
      errMessage = head?.errMessage ?? first;
    }
  }
  stack ??= f.take(STACK_KEYS, nonEmpty);
  if (stack !== undefined && errType === undefined) {
    const nl = stack.indexOf('\n');
    const head =
      parseErrorHead(nl === -1 ? stack : stack.slice(0, nl)) ?? parseErrorHead(stack.trimEnd().split('\n').pop() ?? '');
    if (head) {
      errType = head.errType;
      errMessage ??= head.errMessage;
    }
  }
  errCode ??= f.take(CODE_KEYS, nonEmpty);

  // HTTP: pino-http / bunyan req and res, and flat access-log shapes.
  let method: string | undefined;
  let route: string | undefined;
  let status: number | undefined;
  let requestId: string | undefined;
  const reqKey = isPlainObject(source.req) ? 'req' : isPlainObject(source.request) ? 'request' : undefined;
  if (reqKey !== undefined) {
    const rf = new Fields(source[reqKey] as Record<string, unknown>);
    method = rf.take(REQ_METHOD_KEYS, str);
    route = rf.take(REQ_ROUTE_KEYS, str);
    if (route === undefined) {
      const url = rf.take(REQ_URL_KEYS, str);
      if (url !== undefined) route = routeFromUrl(url);
    }
    requestId = rf.take(REQ_ID_KEYS, str);
    leftovers = withLeftover(leftovers, reqKey, rf.rest());
  }
  const resKey = isPlainObject(source.res) ? 'res' : isPlainObject(source.response) ? 'response' : undefined;
  if (resKey !== undefined) {
    const sf = new Fields(source[resKey] as Record<string, unknown>);
    status = sf.take(RES_STATUS_KEYS, num);
    leftovers = withLeftover(leftovers, resKey, sf.rest());
  }
  method ??= f.take(METHOD_KEYS, httpMethod);
  if (route === undefined) {
    route = f.take(ROUTE_KEYS, str);
    if (route === undefined) {
      const url = f.take(URL_KEYS, pathValue);
      if (url !== undefined) route = routeFromUrl(url);
    }
  }
  status ??= f.take(STATUS_KEYS, httpStatus);
  const durationMs = f.take(DURATION_KEYS, num);

  // Process and source.
  const pid = f.take(PID_KEYS, num) ?? options.pid;
  const hostname = f.take(HOST_KEYS, str);
  const src = f.take(SOURCE_KEYS, str);
  const thread = f.take(THREAD_KEYS, str);
  const memBytes = f.take(MEM_KEYS, num);
  let file = f.take(FILE_KEYS, str);
  let line = f.take(LINE_KEYS, num);
  const func = f.take(FUNC_KEYS, str);
  if (file === undefined && typeof source.caller === 'string') {
    const m = /^(.*):(\d+)$/.exec(source.caller);
    if (m) {
      f.add('caller');
      file = m[1];
      line = Number(m[2]);
    }
  }

  // Context (dancer/context's mixin and the usual spellings).
  requestId ??= f.take(REQUEST_ID_KEYS, str);
  const sessionId = f.take(SESSION_KEYS, str);
  const userId = f.take(USER_KEYS, str);
  const tenantId = f.take(TENANT_KEYS, str);
  const traceId = f.take(TRACE_KEYS, str);
  const spanId = f.take(SPAN_KEYS, str);

  if (message === undefined) {
    const m = source.msg ?? source.message;
    if (m !== undefined && m !== null) {
      // A non-string message: keep it as text; the original stays in extra.
      message = safeStringify(m) ?? String(m);
    }
  }
  record.message = message ?? errMessage ?? '';
  if (level === undefined) {
    record.level =
      errType !== undefined || errMessage !== undefined || stack !== undefined
        ? LEVELS.error
        : inferLevel(record.message).level;
  }
  if (src !== undefined) record.source = src;
  if (errType !== undefined) record.errType = errType;
  if (errMessage !== undefined) record.errMessage = errMessage;
  if (errCode !== undefined) record.errCode = errCode;
  if (stack !== undefined) record.stack = stack;
  if (pid !== undefined) record.pid = pid;
  if (thread !== undefined) record.thread = thread;
  if (hostname !== undefined) record.hostname = hostname;
  if (requestId !== undefined) record.requestId = requestId;
  if (sessionId !== undefined) record.sessionId = sessionId;
  if (userId !== undefined) record.userId = userId;
  if (tenantId !== undefined) record.tenantId = tenantId;
  if (traceId !== undefined) record.traceId = traceId;
  if (spanId !== undefined) record.spanId = spanId;
  if (method !== undefined) record.httpMethod = method;
  if (route !== undefined) record.httpRoute = route;
  if (status !== undefined) record.httpStatus = status;
  if (durationMs !== undefined) record.durationMs = durationMs;
  if (memBytes !== undefined) record.memBytes = memBytes;
  if (file !== undefined) record.file = file;
  if (line !== undefined) record.line = line;
  if (func !== undefined) record.func = func;
  if (options.stream !== undefined) record.stream = options.stream;

  let extra: Record<string, unknown> | undefined;
  for (const key in source) {
    if (f.has(key)) continue;
    let value = source[key];
    if (leftovers?.has(key)) {
      value = leftovers.get(key);
      if (value === undefined) continue;
    }
    extra ??= {};
    setOwn(extra, key, value);
  }
  if (extra !== undefined) {
    const limited = limitDepth(extra, options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH);
    record.extra = limited.value as Record<string, unknown>;
    if (limited.deep) {
      flags |= RECORD_FLAGS.deepJson;
      if (limited.lost && rawText !== undefined) record.extra._raw = rawText;
    }
  }
  if (flags !== 0) record.flags = flags;
  return record;
}

/** `map` (created on first use) with `key` set to `rest`: most records never need the map. */
function withLeftover(
  map: Map<string, Record<string, unknown> | undefined> | undefined,
  key: string,
  rest: Record<string, unknown> | undefined,
): Map<string, Record<string, unknown> | undefined> {
  const out = map ?? new Map<string, Record<string, unknown> | undefined>();
  out.set(key, rest);
  return out;
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
    // Copy only what changes: most records have nothing deep and are returned as they are.
    if (Array.isArray(v)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < v.length; i++) {
        const x = walk(v[i], depth + 1);
        if (x !== v[i]) {
          copy ??= v.slice();
          copy[i] = x;
        }
      }
      return copy ?? v;
    }
    let copy: Record<string, unknown> | undefined;
    const obj = v as Record<string, unknown>;
    for (const k in obj) {
      const x = walk(obj[k], depth + 1);
      if (x !== obj[k]) {
        copy ??= { ...obj };
        copy[k] = x;
      }
    }
    return copy ?? obj;
  };
  const out = walk(value, 0);
  return { value: out, deep: state.deep, lost: state.lost };
}
