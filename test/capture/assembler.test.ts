import { describe, expect, it } from 'vitest';
import { Assembler } from '../../src/capture/assembler.js';
import { parseLine } from '../../src/capture/parse-line.js';
import { LEVELS, type LogRecord, RECORD_FLAGS } from '../../src/store/records.js';

/** Feed lines at time 0 and end the input: every record the assembler produced. */
function assemble(text: string, options: ConstructorParameters<typeof Assembler>[0] = {}): LogRecord[] {
  const a = new Assembler(options);
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    const parsed = parseLine(line, { now: 1000, stream: 'stderr' });
    if (parsed) out.push(...a.push(parsed, 0));
  }
  out.push(...a.end());
  return out;
}

describe('Assembler', () => {
  it('groups a Node stack trace with its cause into one error record', () => {
    const text = [
      'listening on 3000',
      'TypeError: Cannot read properties of undefined (reading "id")',
      '    at handler (/app/src/orders.js:42:17)',
      '    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)',
      '  [cause]: Error: db gone',
      '      at connect (/app/src/db.js:3:9)',
      '}',
      'next line',
    ].join('\n');
    const records = assemble(text);
    expect(records.map((r) => r.message)).toEqual([
      'listening on 3000',
      'TypeError: Cannot read properties of undefined (reading "id")',
      'next line',
    ]);
    const err = records[1] as LogRecord;
    expect(err.errType).toBe('TypeError');
    expect(err.errMessage).toBe('Cannot read properties of undefined (reading "id")');
    expect(err.level).toBe(LEVELS.error);
    expect(err.stack?.split('\n')).toHaveLength(6);
    expect(err.stack).toContain('at handler (/app/src/orders.js:42:17)');
    expect((err.flags ?? 0) & RECORD_FLAGS.multiline).toBeTruthy();
  });

  it('groups console.error("failed:", err) output and raises an unmarked line to error', () => {
    const records = assemble('request failed: Error: boom\n    at f (/a.js:1:1)\n    at g (/a.js:2:2)');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ message: 'request failed: Error: boom', errType: 'Error', errMessage: 'boom' });
    expect(records[0]?.level).toBe(LEVELS.error);
  });

  it('groups a Java stack with Caused by and "... n more"', () => {
    const text = [
      'Exception in thread "main" java.lang.IllegalStateException: bad state',
      '\tat com.acme.App.run(App.java:10)',
      '\tat com.acme.App.main(App.java:5)',
      'Caused by: java.io.IOException: disk',
      '\tat com.acme.Io.read(Io.java:7)',
      '\t... 2 more',
      'INFO after',
    ].join('\n');
    const records = assemble(text);
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ errType: 'java.lang.IllegalStateException', errMessage: 'bad state' });
    expect(records[0]?.stack?.split('\n')).toHaveLength(6);
    expect(records[1]?.message).toBe('after');
  });

  it('groups a Python traceback up to the exception line, with chained exceptions', () => {
    const text = [
      'Traceback (most recent call last):',
      '  File "app.py", line 3, in <module>',
      '    int("x")',
      "ValueError: invalid literal for int() with base 10: 'x'",
      '',
      'During handling of the above exception, another exception occurred:',
      '',
      'Traceback (most recent call last):',
      '  File "app.py", line 5, in <module>',
      '    raise RuntimeError("wrapped")',
      'RuntimeError: wrapped',
      'INFO:root:still running',
    ].join('\n');
    const records = assemble(text);
    expect(records).toHaveLength(2);
    const tb = records[0] as LogRecord;
    expect(tb.message).toBe('RuntimeError: wrapped');
    expect(tb.errType).toBe('RuntimeError');
    expect(tb.errMessage).toBe('wrapped');
    expect(tb.level).toBe(LEVELS.error);
    expect(tb.stack?.startsWith('Traceback (most recent call last):')).toBe(true);
    expect(tb.stack).toContain('ValueError: invalid literal');
    expect(records[1]).toMatchObject({ message: 'INFO:root:still running', level: LEVELS.info });
  });

  it('attaches logging.exception() tracebacks to the ERROR line before them', () => {
    const text = [
      'ERROR:root:payment failed',
      'Traceback (most recent call last):',
      '  File "pay.py", line 9, in charge',
      "KeyError: 'card'",
    ].join('\n');
    const records = assemble(text);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      message: 'ERROR:root:payment failed',
      errType: 'KeyError',
      errMessage: "'card'",
    });
    expect(records[0]?.stack?.split('\n')).toHaveLength(3);
  });

  it('groups a Go panic', () => {
    const text = [
      'panic: runtime error: index out of range [5] with length 3',
      '',
      'goroutine 1 [running]:',
      'main.main()',
      '\t/app/main.go:8 +0x1d',
      'exit status 2',
    ].join('\n');
    const records = assemble(text);
    expect(records).toHaveLength(1);
    expect(records[0]?.level).toBe(LEVELS.fatal);
    expect(records[0]?.stack).toContain('/app/main.go:8');
  });

  it('joins indented continuation lines into the message', () => {
    const records = assemble('config:\n  port: 3000\n  host: x\nready');
    expect(records.map((r) => r.message)).toEqual(['config:\n  port: 3000\n  host: x', 'ready']);
    expect(records[0]?.stack).toBeUndefined();
  });

  it('never groups JSON lines', () => {
    const records = assemble('{"level":50,"msg":"a"}\n    at x (/a.js:1:1)\n{"level":30,"msg":"b"}');
    expect(records.map((r) => r.message)).toEqual(['a', '    at x (/a.js:1:1)', 'b']);
  });

  it('starts a new record rather than grow past maxRecordBytes', () => {
    const frames = Array.from({ length: 50 }, (_, i) => `    at f${i} (/a.js:${i}:1)`);
    const records = assemble(`Error: big\n${frames.join('\n')}`, { maxRecordBytes: 400 });
    expect(records.length).toBeGreaterThan(1);
    const all = records.map((r) => r.stack ?? r.message).join('\n');
    for (const f of frames) expect(all).toContain(f.trim());
    for (const r of records) expect(Buffer.byteLength(r.stack ?? r.message)).toBeLessThanOrEqual(400);
  });

  it('releases a pending record after the flush timeout, not before', () => {
    const a = new Assembler({ flushTimeoutMs: 100 });
    const line = parseLine('Error: last words', { now: 0 });
    expect(a.push(line!, 1000)).toEqual([]);
    expect(a.dueAt).toBe(1100);
    expect(a.tick(1099)).toEqual([]);
    const frame = parseLine('    at x (/a.js:1:1)', { now: 0 });
    expect(a.push(frame!, 1050)).toEqual([]);
    expect(a.tick(1149)).toEqual([]);
    const out = a.tick(1150);
    expect(out).toHaveLength(1);
    expect(out[0]?.stack).toBe('Error: last words\n    at x (/a.js:1:1)');
    expect(a.dueAt).toBeUndefined();
    expect(a.end()).toEqual([]);
  });
});
