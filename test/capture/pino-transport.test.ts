import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCaptureServer } from '../../src/capture/capture-server.js';
import { StoreSink } from '../../src/capture/store-sink.js';
import { openStore } from '../../src/store/open.js';
import type { LogRecord } from '../../src/store/records.js';
import { query, ROOT, start, tempDir, waitFor } from './helpers.js';

const APP = path.join(ROOT, 'test/capture/fixtures/pino-app.mjs');

beforeAll(() => {
  // The app imports the built package entries ('dancer/pino', 'dancer/context').
  readFileSync(path.join(ROOT, 'dist/capture/pino-transport.js'));
});

describe('dancer/pino (real pino, real worker thread, real SQLite file)', () => {
  it('composes with pino-pretty: both targets get every record; the store gets fields and context', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'app.db');
    const pretty = path.join(dir, 'pretty.txt');
    const run = await start(process.execPath, [APP, db, pretty, '20']).done;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const rows = query<{
      level: number;
      message: string;
      source: string;
      request_id: string | null;
      user_id: string | null;
      err_type: string | null;
      err_code: string | null;
      stack: string | null;
      stream: string;
      extra: string | null;
    }>(db, 'SELECT * FROM logs ORDER BY id');
    expect(rows).toHaveLength(22);
    expect(rows[0]).toMatchObject({
      level: 30,
      message: 'tick 0',
      source: 'pino-app',
      request_id: 'req-1',
      user_id: 'u-1',
      stream: 'pino',
    });
    expect(JSON.parse(rows[0]?.extra ?? '{}')).toEqual({ i: 0 });
    const err = rows[20];
    expect(err).toMatchObject({
      level: 50,
      message: 'it failed',
      err_type: 'TypeError',
      err_code: 'E_BAD',
      request_id: 'req-1',
    });
    expect(err?.stack).toContain('TypeError: bad thing');
    expect(rows[21]).toMatchObject({ level: 40, message: 'outside any request', request_id: null });
    const text = readFileSync(pretty, 'utf8');
    expect(text).toContain('tick 19');
    expect(text).toContain('it failed');
    expect(query(db, 'SELECT * FROM dropped')).toEqual([]);
  });

  it('standalone, assigns templates and records the detector decisions in the store it writes', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'app.db');
    const run = await start(process.execPath, [APP, db, path.join(dir, 'pretty.txt'), '20', '12']).done;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(query(db, 'SELECT count(*) AS n FROM logs WHERE template_id IS NULL')).toEqual([{ n: 0 }]);
    const templates = query<{ id: number; text: string; count: number }>(
      db,
      'SELECT id, text, count FROM templates ORDER BY id',
    );
    expect(templates.map((t) => t.count)).toEqual([20, 12, 1]);
    expect(templates[0]?.text).toContain('tick');
    // The detector ran: the new error pattern recurring more than 10 times fired.
    const decisions = query<{ rule: string; outcome: string; template_id: number }>(
      db,
      'SELECT rule, outcome, template_id FROM decisions',
    );
    expect(decisions).toContainEqual({ rule: 'new_pattern', outcome: 'fire', template_id: templates[1]?.id });
  });

  it('keeps the app running when the store cannot be created, and reports it once', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'not-a-dir'), 'x');
    const db = path.join(dir, 'not-a-dir', 'app.db');
    const run = await start(process.execPath, [APP, db, path.join(dir, 'pretty.txt'), '200']).done;
    expect(run.code).toBe(0);
    const reports = run.stderr.split('\n').filter((l) => l.startsWith('dancer/pino:'));
    // One report of the condition, one summary of what was dropped at exit; never one per line.
    expect(reports).toHaveLength(2);
    expect(reports[0]).toContain('DANCER_STORE_OPEN_FAILED');
    expect(reports[1]).toContain('202 record(s) were dropped');
    expect(readFileSync(path.join(dir, 'pretty.txt'), 'utf8')).toContain('tick 199');
  });

  it('under dancer run (DANCER_CAPTURE_SOCKET) sends records to the capture server instead of the db', async () => {
    const dir = tempDir();
    const socketPath = path.join(dir, 'sock', 'capture.sock');
    const records: LogRecord[] = [];
    const server = await createCaptureServer({ socketPath, onRecord: (r) => records.push(r) });
    try {
      const db = path.join(dir, 'never.db');
      const run = await start(process.execPath, [APP, db, path.join(dir, 'pretty.txt'), '5'], {
        env: { DANCER_CAPTURE_SOCKET: socketPath },
      }).done;
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      await waitFor(() => (records.length >= 7 ? true : undefined), 5000, '7 records');
      expect(records.map((r) => r.message)).toEqual([
        'tick 0',
        'tick 1',
        'tick 2',
        'tick 3',
        'tick 4',
        'it failed',
        'outside any request',
      ]);
      expect(records[5]).toMatchObject({ level: 50, errType: 'TypeError', requestId: 'req-1', stream: 'pino' });
      expect(() => readFileSync(db)).toThrow();
    } finally {
      await server.close();
    }
  });
});

describe('StoreSink when the store cannot be written', () => {
  it('counts records dropped while the store is locked, reports once, and goes on when it is free', async () => {
    const dir = tempDir();
    const dbPath = path.join(dir, 'locked.db');
    openStore(dbPath).close();
    const locker = new Database(dbPath);
    locker.exec('BEGIN EXCLUSIVE');
    const reports: string[] = [];
    const sink = new StoreSink<LogRecord>({
      dbPath,
      toRecord: (r) => r,
      levelOf: (r) => r.level,
      sizeOf: () => 100,
      busyTimeoutMs: 20,
      maxBatchRecords: 10,
      onReport: (e) => reports.push(e.code),
    });
    for (let i = 0; i < 20; i++) sink.push({ ts: 1, level: 30, message: `lost ${i}` });
    await waitFor(() => (sink.backlog === 0 ? true : undefined), 5000, 'drain');
    expect(sink.stats.dropped).toEqual({ store_locked: 20 });
    expect(reports).toEqual(['DANCER_STORE_LOCKED']);
    locker.exec('COMMIT');
    locker.close();
    for (let i = 0; i < 5; i++) sink.push({ ts: 2, level: 30, message: `kept ${i}` });
    await waitFor(() => (sink.backlog === 0 ? true : undefined), 5000, 'drain');
    sink.close();
    expect(reports).toEqual(['DANCER_STORE_LOCKED']);
    expect(query(dbPath, 'SELECT message FROM logs ORDER BY id').map((r) => r.message)).toEqual([
      'kept 0',
      'kept 1',
      'kept 2',
      'kept 3',
      'kept 4',
    ]);
    expect(query(dbPath, 'SELECT reason, count FROM dropped')).toEqual([{ reason: 'store_locked', count: 20 }]);
  });

  it('counts records as store_unavailable while the store cannot be opened and persists the count once it can', async () => {
    const dir = tempDir();
    const blocker = path.join(dir, 'data');
    writeFileSync(blocker, 'a file where the store directory should be');
    const dbPath = path.join(blocker, 'app.db');
    const reports: string[] = [];
    const sink = new StoreSink<LogRecord>({
      dbPath,
      toRecord: (r) => r,
      levelOf: (r) => r.level,
      sizeOf: () => 100,
      reopenIntervalMs: 0,
      onReport: (e) => reports.push(e.code),
    });
    expect(sink.open).toBe(false);
    for (let i = 0; i < 7; i++) sink.push({ ts: 1, level: 30, message: `lost ${i}` });
    await waitFor(() => (sink.backlog === 0 ? true : undefined), 5000, 'drain');
    expect(sink.stats.dropped).toEqual({ store_unavailable: 7 });
    expect(reports).toEqual(['DANCER_STORE_OPEN_FAILED']);
    rmSync(blocker);
    mkdirSync(blocker);
    sink.push({ ts: 2, level: 50, message: 'kept' });
    await waitFor(() => (sink.backlog === 0 ? true : undefined), 5000, 'drain');
    expect(sink.open).toBe(true);
    sink.close();
    expect(query(dbPath, 'SELECT message FROM logs').map((r) => r.message)).toEqual(['kept']);
    expect(query(dbPath, 'SELECT reason, count FROM dropped')).toEqual([{ reason: 'store_unavailable', count: 7 }]);
  });
});
