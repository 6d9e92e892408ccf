import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DancerError } from '../../src/errors.js';
import {
  errorGroups,
  followLogs,
  iterateLogs,
  lastLogId,
  listLogs,
  logStats,
  searchLogs,
} from '../../src/store/log-queries.js';
import { COLLAPSE_MAX_SPAN_MS, LogWriter } from '../../src/store/log-writer.js';
import { type Db, openStore } from '../../src/store/open.js';
import type { StoredLog } from '../../src/store/records.js';
import { rec, tempDbPath } from './helpers.js';

const T = Date.UTC(2026, 10, 25, 12, 0, 0);
let file: string;
let db: Db;
let writer: LogWriter;

beforeEach(() => {
  file = tempDbPath();
  db = openStore(file);
  writer = new LogWriter(db);
  const records = [
    rec({ ts: T, level: 30, message: 'server started', source: 'http' }),
    rec({ ts: T + 1000, level: 20, message: 'cache miss for user 1', source: 'cache' }),
    rec({
      ts: T + 2000,
      level: 50,
      message: 'connection refused',
      source: 'db',
      errType: 'Error',
      errMessage: 'connect ECONNREFUSED',
      errCode: 'ECONNREFUSED',
      stack: 'Error: connect ECONNREFUSED\n    at connect (/srv/db.js:3:9)',
    }),
    rec({
      ts: T + 2001,
      level: 50,
      message: 'connection refused',
      source: 'db',
      errType: 'Error',
      errMessage: 'connect ECONNREFUSED',
      errCode: 'ECONNREFUSED',
      stack: 'Error: connect ECONNREFUSED\n    at connect (/srv/db.js:3:9)',
    }),
    rec({ ts: T + 3000, level: 40, message: 'slow request', source: 'http', requestId: 'req-7', httpRoute: '/users' }),
    rec({ ts: T + 4000, level: 30, message: 'request completed', source: 'http', requestId: 'req-7', templateId: 9 }),
    rec({
      ts: T + 5000,
      level: 60,
      message: 'out of memory',
      source: 'worker.pool',
      errType: 'RangeError',
      errMessage: 'heap limit',
    }),
    rec({
      ts: T + 6000,
      level: 50,
      message: 'payment timeout',
      source: 'billing',
      errType: 'TimeoutError',
      errMessage: 'gateway',
    }),
  ];
  for (const r of records) writer.write(r);
  writer.flush();
});

afterEach(() => {
  writer.close();
  db.close();
});

const messages = (logs: StoredLog[]) => logs.map((l) => l.message);

describe('listLogs', () => {
  it('returns rows oldest first with collapsed counts, and the newest N with a limit', () => {
    const all = listLogs(db);
    expect(messages(all)).toEqual([
      'server started',
      'cache miss for user 1',
      'connection refused',
      'slow request',
      'request completed',
      'out of memory',
      'payment timeout',
    ]);
    expect(all[2]).toMatchObject({ count: 2, ts: T + 2000, lastTs: T + 2001, errCode: 'ECONNREFUSED', source: 'db' });
    expect(all[0]).not.toHaveProperty('errType');
    expect(messages(listLogs(db, { limit: 2 }))).toEqual(['out of memory', 'payment timeout']);
  });

  it('filters by time, level, source (exact and glob), request id and template id', () => {
    expect(messages(listLogs(db, { since: T + 3000 }))).toEqual([
      'slow request',
      'request completed',
      'out of memory',
      'payment timeout',
    ]);
    expect(messages(listLogs(db, { until: T + 1000 }))).toEqual(['server started', 'cache miss for user 1']);
    expect(messages(listLogs(db, { since: T + 2001, until: T + 2001 }))).toEqual(['connection refused']);
    expect(messages(listLogs(db, { minLevel: 50 }))).toEqual([
      'connection refused',
      'out of memory',
      'payment timeout',
    ]);
    expect(messages(listLogs(db, { minLevel: 60 }))).toEqual(['out of memory']);
    expect(messages(listLogs(db, { source: 'http', minLevel: 40 }))).toEqual(['slow request']);
    expect(messages(listLogs(db, { source: 'worker.*' }))).toEqual(['out of memory']);
    expect(messages(listLogs(db, { requestId: 'req-7' }))).toEqual(['slow request', 'request completed']);
    expect(messages(listLogs(db, { templateId: 9 }))).toEqual(['request completed']);
  });

  it('finds a collapsed run by its last record even when it started before `since`', () => {
    for (let i = 0; i < 3; i++) writer.write(rec({ ts: T + 10_000 + i * 20_000, message: 'tick', source: 'timer' }));
    writer.flush();
    const ticks = listLogs(db, { since: T + 45_000, source: 'timer' });
    expect(ticks).toHaveLength(1);
    expect(ticks[0]).toMatchObject({ count: 3, ts: T + 10_000, lastTs: T + 50_000 });
    expect(T + 50_000 - (T + 10_000)).toBeLessThanOrEqual(COLLAPSE_MAX_SPAN_MS);
  });

  it('iterates every row for exports', () => {
    expect([...iterateLogs(db, { minLevel: 50 })].map((l) => l.message)).toEqual([
      'connection refused',
      'out of memory',
      'payment timeout',
    ]);
  });
});

describe('searchLogs', () => {
  it('supports words (stemmed), phrases, prefixes, boolean operators and column filters', () => {
    expect(messages(searchLogs(db, 'refused'))).toEqual(['connection refused']);
    expect(messages(searchLogs(db, 'refuse'))).toEqual(['connection refused']); // porter
    expect(messages(searchLogs(db, '"payment timeout"'))).toEqual(['payment timeout']);
    expect(messages(searchLogs(db, 'timeout NOT gateway'))).toEqual([]);
    expect(messages(searchLogs(db, 'memo* OR cache'))).toEqual(['cache miss for user 1', 'out of memory']);
    expect(messages(searchLogs(db, 'err:ECONNREFUSED'))).toEqual(['connection refused']);
    expect(messages(searchLogs(db, 'stack:connect'))).toEqual(['connection refused']);
    expect(messages(searchLogs(db, 'request', { requestId: 'req-7', limit: 1 }))).toEqual(['request completed']);
  });

  it('turns an FTS syntax error into DANCER_QUERY_INVALID with a hint', () => {
    for (const bad of ['127.0.0.1:5432', '"unterminated', 'nosuchcolumn:x', 'AND', '   ']) {
      try {
        searchLogs(db, bad);
        expect.unreachable(bad);
      } catch (error) {
        expect((error as DancerError).code, bad).toBe('DANCER_QUERY_INVALID');
        expect((error as DancerError).details.hint).toContain('phrase');
      }
    }
    expect(messages(searchLogs(db, '"127.0.0.1:5432" OR refused'))).toEqual(['connection refused']);
  });
});

describe('errorGroups', () => {
  it('groups error records and counts collapsed rows', () => {
    writer.write(
      rec({
        ts: T + 7000,
        level: 50,
        message: 'payment timeout',
        source: 'billing',
        errType: 'TimeoutError',
        errMessage: 'gateway',
      }),
    );
    writer.write(rec({ ts: T + 7500, level: 30, message: 'in between' }));
    writer.write(
      rec({
        ts: T + 8000,
        level: 50,
        message: 'payment timeout',
        source: 'billing',
        errType: 'TimeoutError',
        errMessage: 'gateway',
      }),
    );
    writer.flush();
    const groups = errorGroups(db);
    expect(groups.map((g) => [g.sample.message, g.records, g.rows])).toEqual([
      ['payment timeout', 3, 2], // T+6000 and T+7000 collapsed
      ['connection refused', 2, 1],
      ['out of memory', 1, 1],
    ]);
    expect(groups[0]).toMatchObject({ firstTs: T + 6000, lastTs: T + 8000, level: 50 });
    expect(groups[0]?.key).toMatch(/^e:[0-9a-f]{16}$/);
    const recent = errorGroups(db, { limit: 2 }, { order: 'recent' });
    expect(recent.map((g) => g.sample.message)).toEqual(['out of memory', 'payment timeout']);
    expect(errorGroups(db, { minLevel: 60 }).map((g) => g.sample.message)).toEqual(['out of memory']);
  });
});

describe('logStats', () => {
  it('counts rows, records, levels, drops, bytes and the time range', () => {
    writer.countDropped('queue_overflow', 4);
    writer.write(rec({ ts: T + 9000, level: 10, message: 'trace' }));
    writer.flush();
    const stats = logStats(db);
    expect(stats).toEqual({
      rows: 8,
      records: 9,
      levels: { trace: 1, debug: 1, info: 2, warn: 1, error: 3, fatal: 1 },
      dropped: { queue_overflow: 4 },
      dbBytes: expect.any(Number),
      oldest: new Date(T).toISOString(),
      newest: new Date(T + 9000).toISOString(),
    });
    expect(Object.keys(stats)).toEqual(['rows', 'records', 'levels', 'dropped', 'dbBytes', 'oldest', 'newest']);
    expect(stats.dbBytes).toBeGreaterThan(4096);
    expect(logStats(db, { minLevel: 50 })).toMatchObject({ rows: 3, records: 4 });
  });

  it('is empty-safe', () => {
    const empty = openStore(tempDbPath());
    expect(logStats(empty)).toMatchObject({ rows: 0, records: 0, oldest: null, newest: null, dropped: {} });
    expect(lastLogId(empty)).toBe(0);
    empty.close();
  });
});

describe('followLogs', () => {
  it('yields rows written after it started, from a read-only connection while the writer runs, until aborted', async () => {
    const reader = openStore(file, { readonly: true });
    const controller = new AbortController();
    const seen: StoredLog[] = [];
    const follow = (async () => {
      for await (const log of followLogs(reader, { minLevel: 40 }, { intervalMs: 10, signal: controller.signal })) {
        seen.push(log);
        if (seen.length === 1) {
          // More rows arrive while the follower is running.
          writer.write(rec({ ts: T + 20_000, level: 30, message: 'ignored by the filter' }));
          writer.write(rec({ ts: T + 21_000, level: 50, message: 'second' }));
          writer.flush();
        }
        if (seen.length === 2) controller.abort();
      }
    })();
    writer.write(rec({ ts: T + 19_000, level: 40, message: 'first' }));
    writer.flush();
    await follow;
    reader.close();
    expect(messages(seen)).toEqual(['first', 'second']);
  });
});
