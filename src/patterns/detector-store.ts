/** Persisted detector state: baselines and small key/value facts (`detector_state`). */
import type { Db } from '../store/index.js';
import type { BaselineState } from './baselines.js';

/** Every stored baseline, by key. */
export function loadBaselines(db: Db): Map<string, BaselineState> {
  const rows = db
    .prepare(
      'SELECT key, mean, variance, samples, first_minute AS firstMinute, last_minute AS lastMinute FROM baselines',
    )
    .all() as Array<BaselineState & { key: string }>;
  return new Map(rows.map(({ key, ...state }) => [key, state]));
}

/** Upsert baselines. */
export function saveBaselines(db: Db, changed: ReadonlyMap<string, BaselineState>): void {
  const upsert = db.prepare(
    `INSERT INTO baselines (key, mean, variance, samples, first_minute, last_minute)
     VALUES (@key, @mean, @variance, @samples, @firstMinute, @lastMinute)
     ON CONFLICT (key) DO UPDATE SET mean = excluded.mean, variance = excluded.variance, samples = excluded.samples,
       first_minute = excluded.first_minute, last_minute = excluded.last_minute`,
  );
  for (const [key, s] of changed) upsert.run({ key, ...s });
}

/** Read a detector fact. */
export function getState(db: Db, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM detector_state WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

/** Write a detector fact. */
export function setState(db: Db, key: string, value: string): void {
  db.prepare(
    'INSERT INTO detector_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  ).run(key, value);
}
