import { afterEach, describe, expect, it } from 'vitest';
import { LogWriter } from '../../src/store/log-writer.js';
import { type Db, openStore } from '../../src/store/open.js';
import {
  planRetention,
  readRetentionState,
  retentionPolicyFromConfig,
  runRetentionStep,
  scheduleRetention,
} from '../../src/store/retention.js';
import { rec, tempDbPath, waitFor } from './helpers.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 25);
const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

/** `n` rows spread evenly over the 10 days before NOW (or from `start`, `step` ms apart). */
function filled(n: number, { start = NOW - 10 * DAY, step = (10 * DAY) / n, size = 200 } = {}): Db {
  const db = openStore(tempDbPath());
  open.push(db);
  const writer = new LogWriter(db, { maxBatchRecords: 5000 });
  for (let i = 0; i < n; i++) {
    writer.write(rec({ ts: start + i * step, message: `record ${i} ${'x'.repeat(size)}`, source: 'app' }));
  }
  writer.close();
  return db;
}

const count = (db: Db) => db.prepare('SELECT count(*) FROM logs').pluck().get() as number;

describe('planRetention (pure)', () => {
  const policy = { maxAgeMs: 7 * DAY, maxBytes: 1000 };
  it('deletes by age first, then by size, else nothing', () => {
    expect(planRetention({ usedBytes: 10, oldestTs: undefined, approxRows: 0 }, policy, NOW)).toEqual({ kind: 'none' });
    expect(planRetention({ usedBytes: 10, oldestTs: NOW - 8 * DAY, approxRows: 5 }, policy, NOW)).toEqual({
      kind: 'age',
      cutoff: NOW - 7 * DAY,
    });
    expect(planRetention({ usedBytes: 3000, oldestTs: NOW - DAY, approxRows: 30 }, policy, NOW)).toEqual({
      kind: 'size',
      rows: 20,
    });
    expect(planRetention({ usedBytes: 999, oldestTs: NOW - DAY, approxRows: 30 }, policy, NOW)).toEqual({
      kind: 'none',
    });
  });
  it('reads the policy from store.retention', () => {
    expect(retentionPolicyFromConfig({ maxAgeDays: 2, maxBytes: 5 })).toEqual({ maxAgeMs: 2 * DAY, maxBytes: 5 });
    expect(retentionPolicyFromConfig({ maxAgeDays: 1, maxBytes: 5, stepRows: 10 })).toEqual({
      maxAgeMs: DAY,
      maxBytes: 5,
      stepRows: 10,
    });
  });
});

describe('runRetentionStep', () => {
  it('deletes old rows in small steps from logs and logs_fts, and never touches other tables', () => {
    const db = filled(3000);
    db.exec(
      'CREATE TABLE IF NOT EXISTS template_buckets_probe (n INTEGER); INSERT INTO template_buckets_probe VALUES (1)',
    );
    const policy = { maxAgeMs: 5 * DAY, maxBytes: 1e12, stepRows: 400 };
    const results = [];
    for (;;) {
      const result = runRetentionStep(db, policy, NOW);
      results.push(result);
      expect(result.deleted).toBeLessThanOrEqual(400);
      if (!result.more) break;
    }
    expect(results.slice(0, 3).map((r) => [r.deleted, r.reason])).toEqual([
      [400, 'age'],
      [400, 'age'],
      [400, 'age'],
    ]);
    const left = count(db);
    expect(left).toBe(1500);
    expect(db.prepare('SELECT min(ts) FROM logs').pluck().get()).toBeGreaterThanOrEqual(NOW - 5 * DAY);
    // FTS rows went with them: every match still joins to a row.
    const hits = db.prepare("SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'record'").pluck().get();
    expect(hits).toBe(left);
    expect(db.prepare('SELECT n FROM template_buckets_probe').pluck().get()).toBe(1);
    expect(runRetentionStep(db, policy, NOW)).toEqual({ deleted: 0, reason: 'none', more: false });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('deletes the oldest rows until the used size is under maxBytes, and not everything', () => {
    const db = filled(4000, { start: NOW - DAY, step: 10, size: 400 });
    const before = readRetentionState(db).usedBytes;
    const maxBytes = Math.floor(before / 2);
    let steps = 0;
    for (;;) {
      const result = runRetentionStep(db, { maxAgeMs: 30 * DAY, maxBytes, stepRows: 500 }, NOW);
      steps++;
      if (!result.more && readRetentionState(db).usedBytes <= maxBytes) break;
      if (result.deleted === 0) break;
      expect(steps).toBeLessThan(50);
    }
    const after = readRetentionState(db).usedBytes;
    expect(after).toBeLessThanOrEqual(maxBytes);
    const left = count(db);
    expect(left).toBeGreaterThan(1000);
    expect(left).toBeLessThan(4000);
    // The oldest went first.
    expect(db.prepare('SELECT min(id) FROM logs').pluck().get()).toBe(4000 - left + 1);
  });

  it('leaves ingest running: the writer collapses into a row retention did not delete, and inserts fine after', () => {
    const db = filled(10);
    const writer = new LogWriter(db);
    writer.write(rec({ ts: NOW, message: 'fresh' }));
    writer.flush();
    runRetentionStep(db, { maxAgeMs: DAY / 2, maxBytes: 1e12 }, NOW);
    writer.write(rec({ ts: NOW + 1, message: 'fresh' }));
    writer.close();
    expect(db.prepare('SELECT message, count FROM logs').all()).toEqual([{ message: 'fresh', count: 2 }]);
  });
});

describe('scheduleRetention', () => {
  it('runs steps in the background until nothing is left, then stops on request', async () => {
    const db = filled(1200);
    const rounds: number[] = [];
    const schedule = scheduleRetention(
      db,
      { maxAgeMs: 5 * DAY, maxBytes: 1e12, stepRows: 100 },
      {
        intervalMs: 60_000,
        pauseMs: 1,
        now: () => NOW,
        onRound: (deleted) => rounds.push(deleted),
      },
    );
    try {
      await waitFor(() => (rounds.length > 0 ? true : undefined), 10_000, 'a retention round');
    } finally {
      schedule.stop();
    }
    expect(rounds).toEqual([600]);
    expect(count(db)).toBe(600);
  });
});
