/**
 * Python's `logging` output (real CPython 3.11 stderr, fixtures/python-logging.stderr.txt:
 * INFO lines, `logging.exception` tracebacks, a chained exception, a warning with exc_info)
 * cut into chunks at every byte, with and without the flush timer firing at the cut. Whatever
 * the cut, no line is lost and the INFO line after a traceback is a record of its own.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLineCapture } from '../../src/capture/line-capture.js';
import { LEVELS, type LogRecord } from '../../src/store/records.js';

const TEXT = readFileSync(path.join(import.meta.dirname, 'fixtures/python-logging.stderr.txt'), 'utf8');
const BYTES = Buffer.from(TEXT);

/** Feed `chunks` to a fresh capture; `timerAfter` chunks are followed by the flush timer firing. */
function capture(chunks: Buffer[], timerAfter: Set<number> = new Set()): LogRecord[] {
  const out: LogRecord[] = [];
  let t = 1_000;
  const cap = createLineCapture({ stream: 'stderr', pid: 9, sink: (r) => out.push(r), now: () => t });
  chunks.forEach((chunk, i) => {
    cap.write(chunk);
    if (timerAfter.has(i)) {
      t += 1_000;
      cap.flush(); // what the timer does once flushTimeoutMs passed without a new line
    }
  });
  cap.end();
  return out;
}

/** Every text a record holds, line by line (message and stack). */
function linesOf(records: LogRecord[]): string[] {
  const lines: string[] = [];
  for (const r of records) {
    const stack = r.stack?.split('\n') ?? [];
    for (const line of r.message.split('\n')) if (!stack.includes(line)) lines.push(line);
    lines.push(...stack);
  }
  return lines;
}

const CALLS = [
  'invoices: invoice inv-1 totalled 10.00',
  'invoices: invoice inv-2 totalled 7.00',
  'invoices: invoice inv-4 totalled 15.00',
  'invoices: invoice inv-6 totalled 10.00',
  'invoices: invoice batch done',
];

function expectInfoLinesKept(records: LogRecord[]): void {
  for (const call of CALLS) {
    const own = records.filter((r) => r.message === call);
    expect({ call, n: own.length, level: own[0]?.level }).toEqual({ call, n: 1, level: LEVELS.info });
    expect(records.filter((r) => r.stack?.includes(call))).toEqual([]);
  }
}

describe('Python logging output cut at every byte', () => {
  const whole = capture([BYTES]);

  it('groups each logging.exception with its traceback and keeps the next INFO line apart', () => {
    expect(whole.map((r) => [r.level, r.message.split('\n')[0], r.errType ?? null])).toEqual([
      [LEVELS.info, 'invoices: invoice inv-1 totalled 10.00', null],
      [LEVELS.info, 'invoices: invoice inv-2 totalled 7.00', null],
      [LEVELS.error, 'invoices: invoice inv-3 failed', 'ZeroDivisionError'],
      [LEVELS.info, 'invoices: invoice inv-4 totalled 15.00', null],
      [LEVELS.error, 'invoices: invoice inv-5 rejected', 'ValueError'],
      [LEVELS.info, 'invoices: invoice inv-6 totalled 10.00', null],
      [LEVELS.warn, 'invoices: retrying inv-3', null],
      [LEVELS.error, 'ZeroDivisionError: division by zero', 'ZeroDivisionError'],
      [LEVELS.info, 'invoices: invoice batch done', null],
    ]);
    expect(whole[2]?.stack).toMatch(/^Traceback[\s\S]*\nZeroDivisionError: division by zero$/);
    expect(whole[4]?.stack).toMatch(
      /KeyError: 'parts'\nDuring handling[\s\S]*\nValueError: invoice inv-5 has no parts$/,
    );
    expectInfoLinesKept(whole);
  });

  it('gives the same records for two chunks cut anywhere', () => {
    for (let cut = 1; cut < BYTES.length; cut++) {
      const got = capture([BYTES.subarray(0, cut), BYTES.subarray(cut)]);
      if (JSON.stringify(got) !== JSON.stringify(whole)) expect({ cut, got }).toEqual({ cut, got: whole });
    }
  });

  it('loses no line when the flush timer fires at any cut (a slow writer), and keeps INFO lines apart', () => {
    const expected = TEXT.split('\n').filter((l) => l.trim() !== '');
    for (let cut = 1; cut < BYTES.length; cut++) {
      const got = capture([BYTES.subarray(0, cut), BYTES.subarray(cut)], new Set([0]));
      const lines = linesOf(got).map((l) => l.replace(/^2026-\S+ \S+ (?:INFO|ERROR|WARNING) /, ''));
      const want = expected.map((l) => l.replace(/^2026-\S+ \S+ (?:INFO|ERROR|WARNING) /, ''));
      if (JSON.stringify(lines) !== JSON.stringify(want)) expect({ cut, lines }).toEqual({ cut, lines: want });
      // A cut inside a line delays that line; it is never merged into the traceback before it.
      expectInfoLinesKept(got);
    }
  });

  it('line by line with the timer firing after every line: one record per line at worst, none lost', () => {
    const chunks = TEXT.split(/(?<=\n)/).map((l) => Buffer.from(l));
    const got = capture(chunks, new Set(chunks.map((_, i) => i)));
    expectInfoLinesKept(got);
    expect(got.length).toBe(TEXT.split('\n').filter((l) => l.trim() !== '').length);
  });
});
