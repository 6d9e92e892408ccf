import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DancerError } from '../../src/errors.js';
import { sameRun } from '../../src/store/collapse.js';
import { buildClaudeDigest, estimateTokens, renderDigestRecord } from '../../src/store/digest.js';
import { errorHash } from '../../src/store/error-hash.js';
import { CSV_COLUMNS, csvField, csvHeader, logToCsv, logToJson } from '../../src/store/log-export.js';
import type { ErrorGroup } from '../../src/store/log-queries.js';
import type { StoredLog } from '../../src/store/records.js';
import { parseDuration, parseTimeArg } from '../../src/store/time.js';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

describe('parseTimeArg', () => {
  it('reads durations before now, now, and ISO times (UTC without a zone)', () => {
    expect(parseTimeArg('2h', NOW)).toBe(NOW - 2 * 3_600_000);
    expect(parseTimeArg('30m', NOW)).toBe(NOW - 30 * 60_000);
    expect(parseTimeArg('7d', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseTimeArg('45s', NOW)).toBe(NOW - 45_000);
    expect(parseTimeArg('1w', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseTimeArg('1.5h', NOW)).toBe(NOW - 5_400_000);
    expect(parseTimeArg('now', NOW)).toBe(NOW);
    expect(parseTimeArg('2026-11-25', NOW)).toBe(Date.UTC(2026, 10, 25));
    expect(parseTimeArg('2026-11-25T10:30', NOW)).toBe(Date.UTC(2026, 10, 25, 10, 30));
    expect(parseTimeArg('2026-11-25 10:30:05', NOW)).toBe(Date.UTC(2026, 10, 25, 10, 30, 5));
    expect(parseTimeArg('2026-11-25T10:30:05.250Z', NOW)).toBe(Date.UTC(2026, 10, 25, 10, 30, 5, 250));
    expect(parseTimeArg('2026-11-25T10:30:00+02:00', NOW)).toBe(Date.UTC(2026, 10, 25, 8, 30));
    expect(parseDuration('500ms')).toBe(500);
  });

  it('rejects anything else with DANCER_TIME_INVALID', () => {
    for (const bad of ['', '2', 'h', '2 hours', '-2h', 'yesterday', '2026-13-45', '25/11/2026', '2h30m']) {
      try {
        parseTimeArg(bad, NOW);
        expect.unreachable(bad);
      } catch (error) {
        expect((error as DancerError).code, bad).toBe('DANCER_TIME_INVALID');
      }
    }
  });
});

describe('collapse rule and error hash', () => {
  const base = { ts: 1, level: 50, message: 'm', pid: 1, stream: 'stdout' };
  it('needs every stored field equal and no request id', () => {
    expect(sameRun(base, { ...base, ts: 2 })).toBe(true);
    expect(sameRun(base, { ...base, source: undefined })).toBe(true);
    expect(sameRun({ ...base, source: undefined }, { ...base, source: null as unknown as undefined })).toBe(true);
    expect(sameRun(base, { ...base, level: 40 })).toBe(false);
    expect(sameRun(base, { ...base, errCode: 'E' })).toBe(false);
    expect(sameRun(base, { ...base, httpStatus: 500 })).toBe(false);
    expect(sameRun({ ...base, requestId: 'r' }, { ...base, requestId: 'r' })).toBe(false);
  });
  it('hashes errors by type, code and frames without line numbers', () => {
    const a = errorHash({ errType: 'TypeError', stack: 'TypeError: x\n    at f (/a.js:10:5)\n    at g (/b.js:1:1)' });
    const b = errorHash({ errType: 'TypeError', stack: 'TypeError: y\n    at f (/a.js:12:7)\n    at g (/b.js:3:1)' });
    const c = errorHash({ errType: 'TypeError', stack: 'TypeError: x\n    at h (/a.js:10:5)' });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(errorHash({ errType: 'E', errMessage: 'id 12 failed' })).toBe(
      errorHash({ errType: 'E', errMessage: 'id 345 failed' }),
    );
    expect(errorHash({})).toBeUndefined();
  });
});

function log(over: Partial<StoredLog>): StoredLog {
  return { id: 1, ts: NOW, lastTs: NOW, count: 1, level: 30, message: 'hello', ...over };
}

describe('export formats', () => {
  it('NDJSON records carry time and level name', () => {
    expect(logToJson(log({ id: 3, level: 50, source: 'x' }))).toEqual({
      id: 3,
      time: '2026-11-25T12:00:00.000Z',
      ts: NOW,
      lastTs: NOW,
      count: 1,
      level: 50,
      levelName: 'error',
      message: 'hello',
      source: 'x',
    });
  });
  it('CSV quotes commas, quotes and newlines (RFC 4180) and keeps extra as JSON', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(undefined)).toBe('');
    expect(csvHeader().startsWith('id,time,level_name,ts,last_ts,count,level,source,message')).toBe(true);
    const line = logToCsv(log({ message: 'a, "b"', extra: { k: [1, 2] }, stack: 'E\n  at f' }));
    expect(line.endsWith('\r\n')).toBe(true);
    const cells = line.slice(0, -2);
    expect(cells).toContain('"a, ""b"""');
    expect(cells).toContain('"{""k"":[1,2]}"');
    expect(CSV_COLUMNS.at(-1)).toBe('extra');
  });
});

describe('buildClaudeDigest', () => {
  const stack = Array.from({ length: 40 }, (_, i) => `    at frame${i} (/srv/app.js:${i}:1)`).join('\n');
  const records: StoredLog[] = [];
  for (let i = 0; i < 300; i++) {
    records.push(
      log({
        id: i + 1,
        ts: NOW + i * 1000,
        lastTs: NOW + i * 1000,
        level: i % 10 === 0 ? 50 : 30,
        message: i % 10 === 0 ? `failed to charge card ${i}` : `request ${i} completed`,
        errType: i % 10 === 0 ? 'TimeoutError' : undefined,
        errMessage: i % 10 === 0 ? 'gateway timed out' : undefined,
        errHash: i % 10 === 0 ? 'aaaa' : undefined,
        stack: i % 10 === 0 ? `TimeoutError: gateway timed out\n${stack}` : undefined,
      }),
    );
  }
  const groups: ErrorGroup[] = [
    {
      key: 'e:aaaa',
      records: 30,
      rows: 30,
      firstTs: NOW,
      lastTs: NOW + 290_000,
      level: 50,
      sample: records[290] as StoredLog,
    },
    {
      key: 'm:x',
      records: 2,
      rows: 1,
      firstTs: NOW,
      lastTs: NOW,
      level: 60,
      sample: log({ level: 60, message: 'oom ```' }),
    },
  ];

  it('stays within the token budget, summary first, whole records only', () => {
    for (const maxTokens of [200, 800, 3000, 20_000]) {
      const text = buildClaudeDigest({ groups, records, maxTokens });
      expect(estimateTokens(text), `budget ${maxTokens}`).toBeLessThanOrEqual(maxTokens);
      const rendered = records.map((r) => renderDigestRecord(r));
      // Every record line present belongs to a record rendered whole.
      for (const [i, r] of rendered.entries()) {
        const first = r.split('\n')[0] as string;
        if (text.includes(`${first}\n`) || text.endsWith(first)) expect(text, `record ${i}`).toContain(r);
      }
    }
    const text = buildClaudeDigest({ groups, records, maxTokens: 3000 });
    expect(text.indexOf('## Errors')).toBeLessThan(text.indexOf('## Recent records'));
    expect(text).toContain('- 30× error failed to charge card 290 | TimeoutError: gateway timed out');
    expect(text).toContain('more lines'); // long stacks are summarised inside the record block
    // Quoted log text cannot close the fence: the fence is longer than any backtick run in it.
    expect(text).toContain('````\n- 30×');
  });

  it('prefers errors and drops third copies of the same error', () => {
    const text = buildClaudeDigest({ groups: [], records, maxTokens: 4000 });
    const errors = text.match(/ERROR/g) ?? [];
    expect(errors.length).toBe(2);
    expect(text).toContain('failed to charge card 290');
    expect(text).toContain('failed to charge card 280');
  });

  it('never exceeds the budget for arbitrary records (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ message: fc.string({ maxLength: 400 }), level: fc.constantFrom(20, 30, 40, 50, 60) }), {
          maxLength: 60,
        }),
        fc.integer({ min: 100, max: 5000 }),
        (items, maxTokens) => {
          const rs = items.map((it, i) => log({ id: i + 1, ...it }));
          const text = buildClaudeDigest({ groups: [], records: rs, maxTokens });
          return estimateTokens(text) <= maxTokens;
        },
      ),
    );
  });
});
