import type { Db } from './open.js';
import { toStoreError } from './open.js';

/**
 * Add `n` to the persisted `dropped` counter for `reason` (e.g. `queue_overflow`, `store_full`).
 * Capture calls this for records it had to drop before they reached the writer; inside the
 * supervisor prefer {@link LogWriter.countDropped}, which folds the count into the next batch.
 *
 * @throws {DancerError} `DANCER_STORE_WRITE_FAILED` or `DANCER_STORE_LOCKED` when the counter
 * itself cannot be written.
 */
export function recordDropped(db: Db, reason: string, n: number, now: number = Date.now()): void {
  if (!(n > 0)) return;
  try {
    db.prepare(
      `INSERT INTO dropped (reason, count, last_ts) VALUES (?, ?, ?)
       ON CONFLICT(reason) DO UPDATE SET count = count + excluded.count, last_ts = excluded.last_ts`,
    ).run(reason, Math.trunc(n), now);
  } catch (error) {
    throw toStoreError(error);
  }
}

/** The persisted drop counters, by reason. */
export function readDropped(db: Db): Record<string, number> {
  const rows = db.prepare('SELECT reason, count FROM dropped ORDER BY reason').all() as Array<{
    reason: string;
    count: number;
  }>;
  return Object.fromEntries(rows.map((r) => [r.reason, r.count]));
}
