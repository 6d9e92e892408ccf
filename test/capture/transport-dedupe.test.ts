import { describe, expect, it } from 'vitest';
import { outputKeys, TransportDedupe } from '../../src/capture/transport-dedupe.js';
import type { LogRecord } from '../../src/store/records.js';

const rec = (message: string, level = 30): LogRecord => ({ ts: 0, level, message });

function setup() {
  let now = 1000;
  const d = new TransportDedupe({ now: () => now, holdMs: 100, matchHoldMs: 500, windowMs: 5000 });
  const stored: string[] = [];
  const emit = (r: LogRecord) => stored.push(r.message);
  return { d, stored, emit, advance: (ms: number) => (now += ms) };
}

describe('TransportDedupe', () => {
  it('drops a pretty stdout line whose transport twin came first, and one whose twin came after', () => {
    const { d, stored, emit, advance } = setup();
    d.hello();
    d.transport(rec('order placed'));
    d.output(rec('order placed\n    orderId: 42'), emit); // pretty, prefix already split off
    d.output(rec('hello world'), emit); // its transport twin is still on its way
    advance(100);
    d.transport(rec('hello world'));
    advance(1000);
    d.tick();
    expect(stored).toEqual([]);
    expect(d.dropped).toBe(2);
  });

  it('one for one: two identical calls and three identical lines leave one line', () => {
    const { d, stored, emit, advance } = setup();
    d.transport(rec('tick'));
    d.transport(rec('tick'));
    for (let i = 0; i < 3; i++) d.output(rec('tick'), emit);
    advance(600);
    d.tick();
    expect(stored).toEqual(['tick']);
  });

  it('matches after an unknown prefix ending in ": ", and messages that contain ": "', () => {
    expect(outputKeys('web | INFO: failed: timeout')).toContain('failed: timeout');
    const { d, stored, emit, advance } = setup();
    d.transport(rec('failed: timeout'));
    d.output(rec('web | INFO: failed: timeout'), emit);
    advance(600);
    d.tick();
    expect(stored).toEqual([]);
  });

  it('keeps output that no transport record matches, in order, after its hold', () => {
    const { d, stored, emit, advance } = setup();
    d.output(rec('plain console.log 1'), emit);
    d.output(rec('plain console.log 2'), emit);
    advance(50);
    d.tick();
    expect(stored).toEqual([]);
    advance(60);
    d.tick();
    expect(stored).toEqual(['plain console.log 1', 'plain console.log 2']);
  });

  it('forgets transport records after the window; flush emits everything waiting', () => {
    const { d, stored, emit, advance } = setup();
    d.transport(rec('old'));
    advance(6000);
    d.output(rec('old'), emit);
    d.flush();
    expect(stored).toEqual(['old']);
    expect(d.waiting).toBe(0);
  });
});
