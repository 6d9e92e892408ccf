import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CaptureQueue, levelClass } from '../../src/capture/queue.js';

interface Item {
  id: number;
  level: number;
  size: number;
}

const LEVEL_VALUES = [10, 20, 30, 40, 50, 60];
const op = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('push' as const),
      level: fc.constantFrom(...LEVEL_VALUES),
      size: fc.integer({ min: 1, max: 50 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drain' as const), max: fc.integer({ min: 0, max: 10 }) }) },
);

describe('CaptureQueue', () => {
  it('keeps its bounds, loses nothing uncounted, drops the least important first, keeps order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 50, max: 500 }),
        fc.array(op, { maxLength: 300 }),
        (maxRecords, maxBytes, ops) => {
          const q = new CaptureQueue<Item>(
            { maxRecords, maxBytes },
            (i) => i.level,
            (i) => i.size,
          );
          const held = new Map<number, Item>();
          const drained: Item[] = [];
          let nextId = 0;
          let pushed = 0;
          for (const o of ops) {
            if (o.kind === 'push') {
              const item = { id: nextId++, level: o.level, size: o.size };
              const before = [...held.values()];
              const droppedBefore = q.droppedTotal;
              const result = q.push(item);
              pushed++;
              held.set(item.id, item);
              // What left: the incoming item or evicted ones. Rebuild `held` from a full view.
              const lost = q.droppedTotal - droppedBefore;
              if (result === 'queued') expect(lost).toBe(0);
              if (result === 'dropped') {
                held.delete(item.id);
                expect(lost).toBe(1);
                expect(q.size).toBe(before.length);
                // Dropped only when evicting every lower-class record would not have made room.
                const lower = before.filter((h) => levelClass(h.level) < levelClass(item.level));
                const keptCount = before.length - lower.length;
                const keptBytes = before.reduce((a, h) => a + h.size, 0) - lower.reduce((a, h) => a + h.size, 0);
                expect(keptCount > 0 && (keptCount >= maxRecords || keptBytes + item.size > maxBytes)).toBe(true);
              }
              if (result === 'evicted') {
                // The evicted items were of a lower class than the incoming one, oldest of the lowest class first.
                const lowest = Math.min(...before.map((h) => levelClass(h.level)));
                expect(lowest).toBeLessThan(levelClass(item.level));
                const victims = before
                  .filter((h) => levelClass(h.level) < levelClass(item.level))
                  .sort((a, b) => levelClass(a.level) - levelClass(b.level) || a.id - b.id)
                  .slice(0, lost);
                for (const v of victims) held.delete(v.id);
              }
              expect(q.size).toBe(held.size);
              expect(q.size).toBeLessThanOrEqual(maxRecords);
              if (q.size > 1) expect(q.bytes).toBeLessThanOrEqual(maxBytes);
            } else {
              const out = q.drain(o.max);
              for (const item of out) {
                expect(held.has(item.id)).toBe(true);
                held.delete(item.id);
              }
              drained.push(...out);
            }
          }
          drained.push(...q.drain());
          // Conservation: every pushed record was drained or counted as dropped.
          expect(drained.length + q.droppedTotal).toBe(pushed);
          expect(q.dropped()).toEqual(q.droppedTotal === 0 ? {} : { overload: q.droppedTotal });
          // FIFO: records come out in the order they went in.
          for (let i = 1; i < drained.length; i++)
            expect((drained[i] as Item).id).toBeGreaterThan((drained[i - 1] as Item).id);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never drops anything while under its bounds', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...LEVEL_VALUES), { maxLength: 100 }), (levels) => {
        const q = new CaptureQueue<Item>(
          { maxRecords: 100, maxBytes: 1e9 },
          (i) => i.level,
          () => 1,
        );
        levels.forEach((level, id) => {
          expect(q.push({ id, level, size: 1 })).toBe('queued');
        });
        expect(q.drain().map((i) => i.id)).toEqual(levels.map((_, i) => i));
        expect(q.droppedTotal).toBe(0);
      }),
    );
  });

  it('under a flood keeps every error and drops debug before info before warn', () => {
    const q = new CaptureQueue<Item>(
      { maxRecords: 100 },
      (i) => i.level,
      () => 1,
    );
    let id = 0;
    // 1000 records: 10 errors, the rest spread over debug, info, warn.
    for (let i = 0; i < 1000; i++) {
      const level = i % 100 === 0 ? 50 : ([20, 30, 40][i % 3] as number);
      q.push({ id: id++, level, size: 1 });
    }
    const kept = q.drain();
    const byLevel = (l: number) => kept.filter((k) => k.level === l).length;
    expect(byLevel(50)).toBe(10);
    expect(byLevel(20)).toBe(0);
    expect(byLevel(30)).toBe(0);
    expect(byLevel(40)).toBe(90);
    const dropped = q.droppedByLevelClass();
    expect(dropped[4]).toBe(0);
    expect((dropped[1] ?? 0) + (dropped[2] ?? 0) + (dropped[3] ?? 0)).toBe(900);
  });

  it('wouldAccept answers what push would do for the incoming record', () => {
    const q = new CaptureQueue<Item>(
      { maxRecords: 2 },
      (i) => i.level,
      () => 1,
    );
    q.push({ id: 0, level: 40, size: 1 });
    q.push({ id: 1, level: 40, size: 1 });
    expect(q.wouldAccept(30)).toBe(false);
    expect(q.wouldAccept(40)).toBe(false);
    expect(q.wouldAccept(50)).toBe(true);
    q.countDropped(30, 5);
    expect(q.dropped()).toEqual({ overload: 5 });
  });
});

describe('quickLevel', () => {
  it('reads the level of a JSON line from its first bytes, 30 when there is none', async () => {
    const { quickLevel } = await import('../../src/capture/quick-level.js');
    expect(quickLevel('{"level":50,"time":1,"msg":"x"}')).toBe(50);
    expect(quickLevel('{"level": 20,"msg":"x"}')).toBe(20);
    expect(quickLevel('{"time":1,"level":"warn","msg":"x"}')).toBe(40);
    expect(quickLevel('{"level" : "FATAL"}')).toBe(60);
    expect(quickLevel('{"msg":"no level"}')).toBe(30);
    expect(quickLevel('plain text')).toBe(30);
    expect(quickLevel('{"level":"nonsense"}')).toBe(30);
  });
});
