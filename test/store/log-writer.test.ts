import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { DancerError } from '../../src/errors.js';
import { readDropped, recordDropped } from '../../src/store/dropped.js';
import { errorHash } from '../../src/store/error-hash.js';
import { COLLAPSE_MAX_SPAN_MS, LogWriter, type WrittenRow } from '../../src/store/log-writer.js';
import { type Db, openStore } from '../../src/store/open.js';
import { rec, tempDbPath, waitFor } from './helpers.js';

const open: Db[] = [];
function db(file = tempDbPath()): Db {
  const handle = openStore(file);
  open.push(handle);
  return handle;
}
afterEach(() => {
  for (const handle of open.splice(0)) if (handle.open) handle.close();
});

function rows(handle: Db): Array<Record<string, unknown>> {
  return handle
    .prepare('SELECT id, ts, last_ts, first_ts, count, message, request_id FROM logs ORDER BY id')
    .all() as Array<Record<string, unknown>>;
}

function fts(handle: Db, query: string): number[] {
  return handle
    .prepare('SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? ORDER BY rowid')
    .pluck()
    .all(query) as number[];
}

describe('LogWriter', () => {
  it('writes every column and indexes message, error and stack in FTS', () => {
    const handle = db();
    const writer = new LogWriter(handle);
    writer.write(
      rec({
        level: 50,
        message: 'payment failed',
        source: 'billing',
        errType: 'TimeoutError',
        errMessage: 'gateway timed out',
        errCode: 'ETIMEDOUT',
        stack: 'TimeoutError: gateway timed out\n    at charge (/srv/billing.js:10:5)',
        hostname: 'web-1',
        requestId: 'r-1',
        sessionId: 's',
        userId: 'u',
        tenantId: 't',
        traceId: 'tr',
        spanId: 'sp',
        httpMethod: 'POST',
        httpRoute: '/pay',
        httpStatus: 502,
        durationMs: 30000.5,
        memBytes: 123,
        file: 'billing.js',
        line: 10,
        func: 'charge',
        thread: 'worker-1',
        flags: 128,
        originalBytes: 99,
        extra: { amount: 5, tags: ['a'] },
      }),
    );
    expect(writer.flush()).toEqual({ rows: 1, records: 1 });
    const row = handle.prepare('SELECT * FROM logs').get() as Record<string, unknown>;
    expect(row).toMatchObject({
      level: 50,
      source: 'billing',
      message: 'payment failed',
      err_type: 'TimeoutError',
      err_code: 'ETIMEDOUT',
      http_status: 502,
      duration_ms: 30000.5,
      flags: 128,
      original_bytes: 99,
      extra: '{"amount":5,"tags":["a"]}',
      count: 1,
      first_ts: 1_700_000_000_000,
    });
    expect(row.err_hash).toBe(
      errorHash({ errType: 'TimeoutError', errCode: 'ETIMEDOUT', stack: row.stack as string, errMessage: 'x' }),
    );
    expect(fts(handle, 'payment')).toEqual([row.id]);
    expect(fts(handle, 'err:ETIMEDOUT')).toEqual([row.id]);
    expect(fts(handle, 'stack:charge')).toEqual([row.id]);
    expect(fts(handle, '"gateway timed out"')).toEqual([row.id]);
    expect(fts(handle, 'gatew*')).toEqual([row.id]);
    expect(fts(handle, 'fail')).toEqual([row.id]); // porter: failed -> fail
  });

  it('collapses consecutive identical records into one row, per (pid, stream)', () => {
    const handle = db();
    const writer = new LogWriter(handle);
    const t = 1_700_000_000_000;
    writer.write(rec({ ts: t, message: 'retrying' }));
    writer.write(rec({ ts: t + 1, message: 'retrying', pid: 2 })); // other process interleaved
    writer.write(rec({ ts: t + 2, message: 'retrying' }));
    writer.write(rec({ ts: t + 3, message: 'retrying', stream: 'stderr' })); // other stream
    writer.write(rec({ ts: t + 4, message: 'retrying' }));
    writer.write(rec({ ts: t + 5, message: 'done' })); // breaks the run
    writer.write(rec({ ts: t + 6, message: 'retrying' })); // a new run
    expect(writer.flush()).toEqual({ rows: 5, records: 7 });
    expect(rows(handle).map((r) => [r.message, r.count, r.ts, r.last_ts])).toEqual([
      ['retrying', 3, t, t + 4],
      ['retrying', 1, t + 1, t + 1],
      ['retrying', 1, t + 3, t + 3],
      ['done', 1, t + 5, t + 5],
      ['retrying', 1, t + 6, t + 6],
    ]);
    expect(handle.prepare('SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?').pluck().get('retrying')).toBe(4);
    expect(writer.stats).toMatchObject({ accepted: 7, records: 7, rows: 5, collapsed: 2, batches: 1 });
  });

  it('does not collapse records with a request id, different fields, different extra, or beyond the span', () => {
    const handle = db();
    const writer = new LogWriter(handle);
    const t = 1_700_000_000_000;
    writer.write(rec({ ts: t, requestId: 'a' }));
    writer.write(rec({ ts: t + 1, requestId: 'a' }));
    writer.write(rec({ ts: t + 2, extra: { user: 1 } }));
    writer.write(rec({ ts: t + 3, extra: { user: 2 } }));
    writer.write(rec({ ts: t + 4, extra: { user: 2 } })); // same extra: collapses
    writer.write(rec({ ts: t + 5, durationMs: 3, extra: { user: 2 } }));
    writer.write(rec({ ts: t + 6, level: 40 }));
    writer.write(rec({ ts: t + 6 + COLLAPSE_MAX_SPAN_MS + 1, level: 40 }));
    writer.flush();
    expect(rows(handle).map((r) => r.count)).toEqual([1, 1, 1, 2, 1, 1, 1]);
  });

  it('collapses across batch boundaries by updating the previous row', () => {
    const handle = db();
    const written: WrittenRow[][] = [];
    const writer = new LogWriter(handle, {
      maxBatchRecords: 2,
      plugins: [{ name: 'spy', inTransaction: (_db, batch) => written.push(batch.map((r) => ({ ...r }))) }],
    });
    const t = 1_700_000_000_000;
    for (let i = 0; i < 5; i++) writer.write(rec({ ts: t + i, message: 'same' }));
    writer.close();
    expect(rows(handle).map((r) => [r.count, r.ts, r.last_ts])).toEqual([[5, t, t + 4]]);
    expect(written.map((b) => b.map((r) => [r.id, r.collapsed]))).toEqual([
      [
        [1, false],
        [1, true],
      ],
      [
        [1, true],
        [1, true],
      ],
      [[1, true]],
    ]);
  });

  it('starts a new row when the row it would collapse into was deleted (retention)', () => {
    const handle = db();
    const writer = new LogWriter(handle);
    writer.write(rec({ message: 'same' }));
    writer.flush();
    handle.prepare('DELETE FROM logs').run();
    writer.write(rec({ ts: 1_700_000_000_001, message: 'same' }));
    writer.flush();
    expect(rows(handle).map((r) => [r.id, r.count])).toEqual([[2, 1]]);
  });

  it('flushes by time with an unref timer', async () => {
    const file = tempDbPath();
    const handle = db(file);
    const writer = new LogWriter(handle, { maxBatchDelayMs: 20 });
    writer.write(rec({ message: 'timed' }));
    expect(writer.stats.queued).toBe(1);
    const reader = new Database(file, { readonly: true });
    try {
      await waitFor(() => reader.prepare('SELECT message FROM logs').pluck().get(), 5000, 'the timed flush');
    } finally {
      reader.close();
    }
    expect(writer.stats.queued).toBe(0);
  });

  it('flushes by size at once', () => {
    const handle = db();
    const writer = new LogWriter(handle, { maxBatchRecords: 3, maxBatchDelayMs: 60_000 });
    for (let i = 0; i < 7; i++) writer.write(rec({ message: `m${i}` }));
    expect(rows(handle)).toHaveLength(6);
    expect(writer.stats.queued).toBe(1);
    writer.close();
    expect(rows(handle)).toHaveLength(7);
  });

  it('lets plugins prepare records, write in the same transaction and see the committed rows', () => {
    const handle = db();
    handle.exec('CREATE TABLE plugin_counts (id INTEGER PRIMARY KEY, n INTEGER)');
    const after: number[] = [];
    const writer = new LogWriter(handle, {
      plugins: [
        {
          name: 'template',
          prepare: (r) => {
            r.templateId = r.message.length;
          },
          inTransaction: (d, batch) => {
            d.prepare('INSERT INTO plugin_counts (n) VALUES (?)').run(batch.length);
          },
          afterCommit: (batch) => after.push(batch.length),
        },
      ],
    });
    writer.write(rec({ message: 'abc' }));
    writer.write(rec({ message: 'abcdef' }));
    writer.flush();
    expect(handle.prepare('SELECT template_id FROM logs ORDER BY id').pluck().all()).toEqual([3, 6]);
    expect(handle.prepare('SELECT n FROM plugin_counts').pluck().all()).toEqual([2]);
    expect(after).toEqual([2]);
  });

  it('keeps the logs when a plugin fails in the transaction, rolls back only its changes, reports once', () => {
    const handle = db();
    handle.exec('CREATE TABLE plugin_counts (n INTEGER)');
    const errors: DancerError[] = [];
    const writer = new LogWriter(handle, {
      onError: (e) => errors.push(e),
      plugins: [
        {
          name: 'broken',
          inTransaction: (d) => {
            d.prepare('INSERT INTO plugin_counts VALUES (1)').run();
            throw new Error('boom');
          },
        },
      ],
    });
    writer.write(rec({ message: 'a' }));
    writer.flush();
    writer.write(rec({ message: 'b' }));
    writer.flush();
    expect(rows(handle).map((r) => r.message)).toEqual(['a', 'b']);
    expect(handle.prepare('SELECT count(*) FROM plugin_counts').pluck().get()).toBe(0);
    // Reported at the first failure; a successful batch in between re-arms the report.
    expect(errors.map((e) => e.code)).toEqual(['DANCER_STORE_PLUGIN_FAILED', 'DANCER_STORE_PLUGIN_FAILED']);
    expect(errors[0]?.details).toMatchObject({ plugin: 'broken', phase: 'inTransaction' });
  });

  it('never throws into the caller on odd records', () => {
    const handle = db();
    const writer = new LogWriter(handle);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => {
      writer.write({
        ts: Number.NaN,
        level: 'x' as unknown as number,
        message: 42 as unknown as string,
        extra: circular,
      });
      writer.write({
        ts: 1,
        level: 30,
        message: 'ok',
        source: { a: 1 } as unknown as string,
        stack: 5 as unknown as string,
      });
      writer.flush();
    }).not.toThrow();
    const stored = handle.prepare('SELECT level, message, source, extra FROM logs ORDER BY id').all();
    expect(stored).toHaveLength(2);
    expect(stored[0]).toMatchObject({ level: 30, message: '42' });
    expect(String((stored[0] as { extra: string }).extra)).toContain('dancerUnserializable');
  });

  it('counts writes after close as dropped', () => {
    const errors: DancerError[] = [];
    const writer = new LogWriter(db(), { onError: (e) => errors.push(e) });
    writer.close();
    writer.write(rec());
    writer.write(rec());
    expect(writer.stats.dropped).toEqual({ writer_closed: 2 });
    expect(errors).toHaveLength(1);
  });
});

describe('LogWriter when the store cannot be written', () => {
  it('disk full (SQLITE_FULL): counts the batch as dropped, reports once, keeps going and recovers', () => {
    const handle = db();
    const errors: DancerError[] = [];
    const writer = new LogWriter(handle, { onError: (e) => errors.push(e) });
    writer.write(rec({ message: 'before' }));
    writer.flush();
    const pages = handle.pragma('page_count', { simple: true }) as number;
    handle.pragma(`max_page_count = ${pages}`);
    const big = 'x'.repeat(20_000);
    let lost = 0;
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < 50; i++) writer.write(rec({ message: `${big}${b}-${i}` }));
      lost += 50;
      expect(writer.flush()).toEqual({ rows: 0, records: 0 });
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe('DANCER_STORE_WRITE_FAILED');
    expect(errors[0]?.details).toMatchObject({ reason: 'store_full', sqliteCode: 'SQLITE_FULL' });
    expect(writer.stats.dropped).toEqual({ store_full: lost });
    handle.pragma('max_page_count = 1073741823');
    writer.write(rec({ message: 'after' }));
    expect(writer.flush()).toEqual({ rows: 1, records: 1 });
    expect(rows(handle).map((r) => r.message)).toEqual(['before', 'after']);
    expect(readDropped(handle)).toEqual({ store_full: lost });
    expect(writer.stats.pendingDropped).toBe(0);
  });

  it('locked past the busy timeout: drop counts wait in memory and are persisted by the next batch', () => {
    const file = tempDbPath();
    const handle = db(file);
    handle.pragma('busy_timeout = 20');
    const errors: DancerError[] = [];
    const writer = new LogWriter(handle, { onError: (e) => errors.push(e) });
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    try {
      for (let i = 0; i < 10; i++) writer.write(rec({ message: `m${i}` }));
      writer.flush();
      writer.write(rec({ message: 'again' }));
      writer.flush();
      expect(writer.stats.dropped).toEqual({ store_locked: 11 });
      expect(writer.stats.pendingDropped).toBe(11);
      expect(errors.map((e) => e.code)).toEqual(['DANCER_STORE_LOCKED']);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    writer.write(rec({ message: 'free' }));
    writer.flush();
    expect(readDropped(handle)).toEqual({ store_locked: 11 });
    expect(rows(handle).map((r) => r.message)).toEqual(['free']);
  });

  it('read-only database: records are counted, reported once as a write failure', () => {
    const file = tempDbPath();
    db(file);
    const ro = openStore(file, { readonly: true });
    open.push(ro);
    const errors: DancerError[] = [];
    const writer = new LogWriter(ro, { onError: (e) => errors.push(e) });
    for (let i = 0; i < 5; i++) writer.write(rec({ message: `m${i}` }));
    writer.flush();
    writer.write(rec());
    writer.flush();
    expect(writer.stats.dropped).toEqual({ store_readonly: 6 });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe('DANCER_STORE_WRITE_FAILED');
  });

  it('recordDropped adds to the persisted counter', () => {
    const handle = db();
    recordDropped(handle, 'queue_overflow', 3, 10);
    recordDropped(handle, 'queue_overflow', 4, 20);
    recordDropped(handle, 'too_big', 1);
    recordDropped(handle, 'nothing', 0);
    expect(readDropped(handle)).toEqual({ queue_overflow: 7, too_big: 1 });
    expect(handle.prepare("SELECT last_ts FROM dropped WHERE reason = 'queue_overflow'").pluck().get()).toBe(20);
  });

  it('countDropped folds upstream drops into the next batch', () => {
    const handle = db();
    const writer = new LogWriter(handle);
    writer.countDropped('queue_overflow', 5);
    writer.write(rec());
    writer.flush();
    expect(readDropped(handle)).toEqual({ queue_overflow: 5 });
  });
});
