import { describe, expect, it } from 'vitest';
import { createLineCapture } from '../../src/capture/line-capture.js';
import type { LogRecord } from '../../src/store/records.js';
import { waitFor } from './helpers.js';

describe('createLineCapture', () => {
  it('turns chunks split anywhere into the same records as whole lines', () => {
    const text = '{"level":30,"msg":"a"}\nError: boom\n    at f (/a.js:1:1)\nWARN slow\n';
    const whole: LogRecord[] = [];
    const cap1 = createLineCapture({ stream: 'stdout', pid: 7, sink: (r) => whole.push(r), now: () => 5 });
    cap1.write(text);
    cap1.end();
    for (let cut = 1; cut < text.length; cut += 3) {
      const parts: LogRecord[] = [];
      const cap = createLineCapture({ stream: 'stdout', pid: 7, sink: (r) => parts.push(r), now: () => 5 });
      cap.write(Buffer.from(text.slice(0, cut)));
      cap.write(Buffer.from(text.slice(cut)));
      cap.end();
      expect(parts).toEqual(whole);
    }
    expect(whole.map((r) => [r.message, r.level, r.pid, r.stream])).toEqual([
      ['a', 30, 7, 'stdout'],
      ['Error: boom', 50, 7, 'stdout'],
      ['slow', 40, 7, 'stdout'],
    ]);
    expect(whole[1]?.stack).toBe('Error: boom\n    at f (/a.js:1:1)');
  });

  it('releases the last pending record after the flush timeout without more input', async () => {
    const out: LogRecord[] = [];
    const cap = createLineCapture({ stream: 'stderr', flushTimeoutMs: 30, sink: (r) => out.push(r) });
    cap.write('TypeError: late\n    at g (/b.js:2:2)\n');
    expect(out).toEqual([]);
    await waitFor(() => (out.length === 1 ? true : undefined), 2000, 'timeout flush');
    expect(out[0]).toMatchObject({ message: 'TypeError: late', errType: 'TypeError', stream: 'stderr' });
    expect(cap.stats).toMatchObject({ lines: 2, records: 1 });
    cap.end();
    expect(out).toHaveLength(1);
  });

  it('flags a truncated last line at end of input', () => {
    const out: LogRecord[] = [];
    const cap = createLineCapture({ stream: 'stdout', sink: (r) => out.push(r) });
    cap.write('complete\n{"level":50,"msg":"cut');
    cap.end();
    expect(out.map((r) => [r.message, r.flags ?? 0])).toEqual([
      ['complete', 0],
      ['{"level":50,"msg":"cut', 64],
    ]);
  });
});
