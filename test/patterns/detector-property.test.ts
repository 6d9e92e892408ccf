import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { triggersSchema } from '../../src/config/schema/patterns.js';
import { Detector, type TriggerEvent } from '../../src/patterns/detector.js';
import { MINUTE_MS, minuteOf } from '../../src/patterns/windows.js';
import { LogWriter } from '../../src/store/log-writer.js';
import { openStore } from '../../src/store/open.js';
import { simpleTemplatesPlugin } from './helpers.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('detector, model-checked on a fake clock (real SQLite)', () => {
  it('property: a new error pattern fires at the first batch where its 5-minute window holds more than 10, within its first hour', () => {
    const step = fc.record({
      advanceMs: fc.integer({ min: 0, max: 8 * MINUTE_MS }),
      n: fc.integer({ min: 0, max: 6 }),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const db = openStore(':memory:');
        try {
          let now = T0;
          const detector = new Detector({ db, config: triggersSchema.parse({}), now: () => now });
          const writer = new LogWriter(db, { plugins: [simpleTemplatesPlugin(), detector.plugin()] });
          const fired: Array<{ step: number; t: TriggerEvent }> = [];
          let current = -1;
          detector.on('trigger', (t) => fired.push({ step: current, t }));
          const times: number[] = [];
          let expected: number | undefined;
          steps.forEach((s, i) => {
            current = i;
            now += s.advanceMs;
            for (let k = 0; k < s.n; k++) {
              writer.write({ ts: now, level: 50, message: `job ${k} failed`, pid: k });
              times.push(now);
            }
            writer.flush();
            if (expected === undefined && s.n > 0) {
              const from = minuteOf(now) - 4;
              const inWindow = times.filter((t) => minuteOf(t) >= from && t <= now).length;
              const young = now - (times[0] ?? now) <= 60 * MINUTE_MS;
              if (inWindow > 10 && young) expected = i;
            }
          });
          writer.close();
          if (expected === undefined) {
            expect(fired).toEqual([]);
          } else {
            expect(fired).toHaveLength(1);
            expect(fired[0]?.step).toBe(expected);
            expect(fired[0]?.t).toMatchObject({ kind: 'new_pattern', templateId: 1 });
          }
        } finally {
          db.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
