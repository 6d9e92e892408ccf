import { describe, expect, it } from 'vitest';
import { inferLevel, levelFromValue } from '../../src/capture/levels.js';
import { parseLine, timeFromValue } from '../../src/capture/parse-line.js';
import { decodeRawLine, LineSplitter, type RawLine, toRawLine } from '../../src/capture/raw-line.js';
import { LEVELS, type LogRecord, RECORD_FLAGS } from '../../src/store/records.js';

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const parse = (line: string | RawLine, extra: Partial<Parameters<typeof parseLine>[1]> = {}): LogRecord => {
  const parsed = parseLine(line, { now: NOW, ...extra });
  if (!parsed) throw new Error('expected a record');
  return parsed.record;
};
const hasFlag = (r: LogRecord, flag: number) => ((r.flags ?? 0) & flag) !== 0;

describe('parseLine: JSON shapes', () => {
  it('maps a pino line with err, req, res, context and keeps the rest in extra', () => {
    const line = JSON.stringify({
      level: 50,
      time: 1767323045123,
      pid: 4242,
      hostname: 'web-1',
      name: 'orders',
      reqId: 'r-17',
      userId: 'u-9',
      tenantId: 't-1',
      traceId: 'abc',
      spanId: 'def',
      tags: ['checkout'],
      req: { method: 'POST', url: '/orders/17?debug=1', remoteAddress: '127.0.0.1' },
      res: { statusCode: 500 },
      responseTime: 12.5,
      err: {
        type: 'TypeError',
        message: 'x is undefined',
        stack: 'TypeError: x is undefined\n    at f (/a.js:1:2)',
        code: 'E_X',
        extraProp: 1,
      },
      msg: 'request failed',
      orderId: 17,
    });
    const r = parse(line, { stream: 'pino' });
    expect(r).toMatchObject({
      ts: 1767323045123,
      level: 50,
      message: 'request failed',
      pid: 4242,
      hostname: 'web-1',
      source: 'orders',
      requestId: 'r-17',
      userId: 'u-9',
      tenantId: 't-1',
      traceId: 'abc',
      spanId: 'def',
      httpMethod: 'POST',
      httpRoute: '/orders/17',
      httpStatus: 500,
      durationMs: 12.5,
      errType: 'TypeError',
      errMessage: 'x is undefined',
      errCode: 'E_X',
      stack: 'TypeError: x is undefined\n    at f (/a.js:1:2)',
      stream: 'pino',
    });
    expect(r.extra).toEqual({
      tags: ['checkout'],
      req: { remoteAddress: '127.0.0.1' },
      err: { extraProp: 1 },
      orderId: 17,
    });
    expect(r.flags).toBeUndefined();
  });

  it('maps bunyan (name, v, err.name, ISO time) and level names', () => {
    const r = parse(
      '{"name":"api","hostname":"h","pid":7,"level":40,"msg":"slow","time":"2026-01-02T03:04:05.678Z","v":0}',
    );
    expect(r).toMatchObject({ level: 40, source: 'api', ts: Date.parse('2026-01-02T03:04:05.678Z'), message: 'slow' });
    expect(r.extra).toEqual({ v: 0 });
    const e = parse('{"level":"ERROR","message":"m","error":{"name":"RangeError","message":"too big"}}');
    expect(e).toMatchObject({ level: 50, message: 'm', errType: 'RangeError', errMessage: 'too big' });
    expect(parse('{"severity":"warning","msg":"w"}').level).toBe(40);
    expect(parse('{"levelname":"CRITICAL","message":"c"}').level).toBe(60);
  });

  it('reads times in s, ms, µs, ns and ISO; keeps now for garbage', () => {
    expect(timeFromValue(1767323045)).toBe(1767323045000);
    expect(timeFromValue(1767323045.5)).toBe(1767323045500);
    expect(timeFromValue(1767323045123)).toBe(1767323045123);
    expect(timeFromValue(1767323045123456)).toBe(1767323045123);
    expect(timeFromValue(1767323045123456800)).toBe(1767323045123);
    expect(timeFromValue('2026-01-02T03:04:05Z')).toBe(Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(timeFromValue('not a time')).toBeUndefined();
    const r = parse('{"time":"not a time","msg":"x"}');
    expect(r.ts).toBe(NOW);
    expect(r.extra).toEqual({ time: 'not a time' });
  });

  it('infers the level of a JSON line without one, from err or message', () => {
    expect(parse('{"msg":"boom","err":{"message":"m"}}').level).toBe(LEVELS.error);
    expect(parse('{"msg":"WARN disk low"}').level).toBe(LEVELS.warn);
    expect(parse('{"msg":"hello"}').level).toBe(LEVELS.info);
  });

  it('maps flat access-log shapes and python logging fields', () => {
    const r = parse(
      '{"level":"info","method":"GET","url":"/health?x=1","status":200,"duration":3,"request_id":"q","filename":"app.py","lineno":12,"funcName":"handle","logger":"web"}',
    );
    expect(r).toMatchObject({
      httpMethod: 'GET',
      httpRoute: '/health',
      httpStatus: 200,
      durationMs: 3,
      requestId: 'q',
      file: 'app.py',
      line: 12,
      func: 'handle',
      source: 'web',
    });
    expect(r.extra).toBeUndefined();
  });

  it('takes a string error with a stack apart', () => {
    const r = parse(JSON.stringify({ level: 50, msg: 'x', error: 'Error: boom\n    at a (/x.js:1:1)' }));
    expect(r).toMatchObject({ errType: 'Error', errMessage: 'boom', stack: 'Error: boom\n    at a (/x.js:1:1)' });
  });

  it('keeps JSON that is valid but not an object as text, flagged', () => {
    for (const line of ['[1,2,3]', '"just a string"', '42', 'null', 'true']) {
      const r = parse(line);
      expect(r.message).toBe(line);
      expect(hasFlag(r, RECORD_FLAGS.jsonNotObject)).toBe(true);
    }
  });

  it('flattens deeply nested JSON past the depth limit and flags it', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const r = parse(JSON.stringify({ level: 30, msg: 'deep', payload: deep }));
    expect(r.message).toBe('deep');
    expect(hasFlag(r, RECORD_FLAGS.deepJson)).toBe(true);
    // The deep part is kept as JSON text, so nothing is lost.
    let node = r.extra?.payload as Record<string, unknown> | string;
    let depth = 0;
    while (typeof node === 'object') {
      node = node.d as Record<string, unknown> | string;
      depth++;
    }
    expect(depth).toBeLessThan(20);
    expect(node).toContain('bottom');
  });

  it('survives absurdly deep JSON (100k levels) without crashing and keeps the raw text', () => {
    const line = `{"level":30,"msg":"x","a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const r = parse(line);
    expect(r.message === 'x' || r.message === line).toBe(true);
    expect(hasFlag(r, RECORD_FLAGS.deepJson)).toBe(true);
    expect(JSON.stringify(r).length).toBeGreaterThan(100_000);
  });

  it('keeps a non-string msg as text', () => {
    const r = parse('{"level":30,"msg":{"a":1}}');
    expect(r.message).toBe('{"a":1}');
  });
});

describe('parseLine: plain text', () => {
  it('infers the level from markers and keeps the message without its time and level prefix', () => {
    const cases: Array<[string, number, string]> = [
      ['2026-01-02 03:04:05 ERROR db down', LEVELS.error, 'db down'],
      ['WARN: disk at 91%', LEVELS.warn, 'disk at 91%'],
      ['[error] upstream timed out', LEVELS.error, 'upstream timed out'],
      ['time=1 level=error msg="x"', LEVELS.error, 'time=1 level=error msg="x"'],
      ['level=warning msg=slow', LEVELS.warn, 'level=warning msg=slow'],
      ['FATAL: cannot bind', LEVELS.fatal, 'cannot bind'],
      ['fatal: boom', LEVELS.fatal, 'boom'],
      ['error: connection lost', LEVELS.error, 'connection lost'],
      ['panic: runtime error: index out of range', LEVELS.fatal, 'panic: runtime error: index out of range'],
      ['Traceback (most recent call last):', LEVELS.error, 'Traceback (most recent call last):'],
      ['TypeError: x is not a function', LEVELS.error, 'TypeError: x is not a function'],
      ['Error: boom', LEVELS.error, 'Error: boom'],
      ['java.lang.IllegalStateException: bad', LEVELS.error, 'java.lang.IllegalStateException: bad'],
      ['INFO starting; previous run had ERROR', LEVELS.info, 'starting; previous run had ERROR'],
      ['DEBUG cache miss', LEVELS.debug, 'cache miss'],
      ['no error found, all good', LEVELS.info, 'no error found, all good'],
      ['info about the cache', LEVELS.info, 'info about the cache'],
      ['listening on :8080', LEVELS.info, 'listening on :8080'],
      ['WARNING:root:deprecated', LEVELS.warn, 'WARNING:root:deprecated'],
      ['[17:27:45.764] INFO (4380): hello world', LEVELS.info, 'hello world'],
      ['[17:27:45.782] ERROR (4380 on web-1): failed to charge', LEVELS.error, 'failed to charge'],
      ['2026-12-06 17:27:45,123 ERROR invoices: invoice 7 failed', LEVELS.error, 'invoices: invoice 7 failed'],
      ['ERROR', LEVELS.error, 'ERROR'],
    ];
    for (const [line, level, message] of cases) {
      const r = parse(line, { stream: 'stderr', pid: 9 });
      expect({ line, level: r.level, message: r.message }).toEqual({ line, level, message });
      expect(r.stream).toBe('stderr');
      expect(r.pid).toBe(9);
    }
    expect(parse('2026-12-06 17:27:45,123 INFO x').ts).toBe(Date.parse('2026-12-06T17:27:45.123'));
    expect(inferLevel('nothing here', 40)).toEqual({ level: 40, fromMarker: false });
    expect(levelFromValue('notice')).toBe(30);
    expect(levelFromValue('nope')).toBeUndefined();
  });

  it('reads a leading timestamp and an error head', () => {
    const r = parse('2026-01-02T03:04:05.250Z TypeError: boom');
    expect(r.ts).toBe(Date.parse('2026-01-02T03:04:05.250Z'));
    expect(r).toMatchObject({ errType: 'TypeError', errMessage: 'boom', level: 50 });
  });

  it('returns null for blank lines', () => {
    expect(parseLine('   ', { now: NOW })).toBeNull();
    expect(parseLine('\r', { now: NOW })).toBeNull();
  });
});

describe('bad input', () => {
  it('replaces invalid UTF-8 and flags it', () => {
    const raw = toRawLine(Buffer.from([0x6f, 0x6b, 0x20, 0xff, 0xfe, 0x21]));
    const r = parse(raw);
    expect(r.message).toBe('ok \ufffd\ufffd!');
    expect(hasFlag(r, RECORD_FLAGS.invalidUtf8)).toBe(true);
  });

  it('removes NUL bytes and flags it (bytes and strings)', () => {
    const r = parse(toRawLine(Buffer.from('a\u0000b\u0000c')));
    expect(r.message).toBe('abc');
    expect(hasFlag(r, RECORD_FLAGS.nulRemoved)).toBe(true);
    expect(parse('x\u0000y').message).toBe('xy');
  });

  it('strips ANSI colour codes before parsing and flags it', () => {
    const r = parse('\x1b[31mERROR\x1b[39m \x1b]0;title\x07failed');
    expect(r.message).toBe('failed');
    expect(r.level).toBe(LEVELS.error);
    expect(hasFlag(r, RECORD_FLAGS.ansiStripped)).toBe(true);
    const j = parse('\x1b[2m{"level":40,"msg":"coloured json"}\x1b[0m');
    expect(j).toMatchObject({ level: 40, message: 'coloured json' });
  });

  it('keeps head and tail of a line longer than maxRecordBytes, with its length and a flag', () => {
    const max = 1000;
    const line = `ERROR ${'a'.repeat(5000)}THE-END`;
    const r = parse(line, { maxRecordBytes: max });
    expect(hasFlag(r, RECORD_FLAGS.truncated)).toBe(true);
    expect(r.originalBytes).toBe(Buffer.byteLength(line));
    expect(r.message.startsWith('ERROR aaa')).toBe(true);
    expect(r.message.endsWith('aaaTHE-END')).toBe(true);
    expect(r.message).toContain('[dancer: truncated, 5013 bytes]');
    expect(Buffer.byteLength(r.message)).toBeLessThanOrEqual(max);
    expect(r.level).toBe(LEVELS.error);
  });

  it('keeps a too-long JSON line as text with its level', () => {
    const line = JSON.stringify({ level: 50, msg: 'x'.repeat(3000) });
    const r = parse(line, { maxRecordBytes: 500 });
    expect(r.level).toBe(50);
    expect(hasFlag(r, RECORD_FLAGS.truncated)).toBe(true);
    expect(r.originalBytes).toBe(line.length);
  });

  it('never cuts a multi-byte character when truncating', () => {
    const line = 'é'.repeat(3000); // 2 bytes each
    for (const max of [101, 102, 103, 104]) {
      const r = parse(toRawLine(Buffer.from(line), max), { maxRecordBytes: max });
      expect(r.message).not.toContain('\ufffd');
      expect(hasFlag(r, RECORD_FLAGS.invalidUtf8)).toBe(false);
    }
  });
});

describe('LineSplitter', () => {
  const split = (chunks: Array<string | Buffer>, max = 1024 * 1024): RawLine[] => {
    const out: RawLine[] = [];
    const s = new LineSplitter(max);
    for (const c of chunks) s.push(Buffer.isBuffer(c) ? c : Buffer.from(c), (l) => out.push(l));
    s.end((l) => out.push(l));
    return out;
  };

  it('cuts on newlines across chunks, strips CR, marks a truncated last line at EOF', () => {
    const lines = split(['a\r\nb', 'c\n', '\nlast']);
    expect(lines.map((l) => decodeRawLine(l).text)).toEqual(['a', 'bc', '', 'last']);
    expect(lines.map((l) => l.partial)).toEqual([false, false, false, true]);
    const r = parse(lines[3] as RawLine);
    expect(hasFlag(r, RECORD_FLAGS.partialLine)).toBe(true);
  });

  it('keeps a partial JSON line at EOF as flagged text', () => {
    const lines = split(['{"level":30,"msg":"ok"}\n{"level":50,"msg":"cut of']);
    const records = lines.map((l) => parse(l));
    expect(records[0]).toMatchObject({ message: 'ok' });
    expect(records[1]?.message).toBe('{"level":50,"msg":"cut of');
    expect(hasFlag(records[1] as LogRecord, RECORD_FLAGS.partialLine)).toBe(true);
  });

  it('holds bounded memory for a huge line fed in small chunks, keeping head and tail', () => {
    const max = 4096;
    const s = new LineSplitter(max);
    const out: RawLine[] = [];
    s.push(Buffer.from('HEAD'), (l) => out.push(l));
    let peak = 0;
    for (let i = 0; i < 2000; i++) {
      s.push(Buffer.alloc(1000, 0x78), (l) => out.push(l));
      peak = Math.max(peak, s.pendingBytes);
    }
    s.push(Buffer.from('TAIL\nnext\n'), (l) => out.push(l));
    expect(peak).toBeLessThan(2 * max + 1000);
    expect(out).toHaveLength(2);
    const first = out[0] as RawLine;
    expect(first.originalBytes).toBe(4 + 2_000_000 + 4);
    const d = decodeRawLine(first);
    expect(d.text.startsWith('HEADxxx')).toBe(true);
    expect(d.text.endsWith('xxxTAIL')).toBe(true);
    expect(Buffer.byteLength(d.text)).toBeLessThanOrEqual(max);
    expect(decodeRawLine(out[1] as RawLine).text).toBe('next');
  });

  it('truncates one huge chunk the same way', () => {
    const lines = split([Buffer.concat([Buffer.from('H'), Buffer.alloc(100_000, 0x79), Buffer.from('T\n')])], 1000);
    expect(lines[0]?.originalBytes).toBe(100_002);
    const d = decodeRawLine(lines[0] as RawLine);
    expect(d.text.startsWith('Hy')).toBe(true);
    expect(d.text.endsWith('yT')).toBe(true);
  });
});

describe('parseLine: hostile JSON', () => {
  it('keeps a "__proto__" field as data, without touching any prototype', () => {
    const r = parse('{"level":30,"msg":"x","__proto__":{"polluted":true},"constructor":1}');
    expect(Object.getPrototypeOf(r.extra)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(r.extra))).toEqual({ ['__proto__']: { polluted: true }, constructor: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
