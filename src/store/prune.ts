import type { Db } from './open.js';
import { type RetentionPolicy, runRetentionStep } from './retention.js';

/** What {@link pruneLogs} deleted (or, in a dry run, would delete). */
export interface PruneResult {
  /** Rows deleted because they were older than `maxAgeDays`. */
  byAge: number;
  /** Rows deleted because the database was over `maxBytes`. */
  bySize: number;
  /** Steps run (each one short transaction). */
  steps: number;
  dryRun: boolean;
}

/** Options of {@link pruneLogs}. */
export interface PruneOptions {
  /** Count without deleting: the steps run inside a savepoint that is rolled back. */
  dryRun?: boolean;
  /** Steps at most (default 100000). */
  maxSteps?: number;
  /** Told after each step (progress). */
  onStep?: (deletedSoFar: number) => void;
}

/**
 * Apply the retention policy now, step after step until nothing is left to delete (what
 * `dancer run` does in the background every `store.retention.intervalSeconds`). With `dryRun`
 * the same steps run inside a savepoint that is rolled back, so the counts are exact and
 * nothing changes.
 *
 * @throws {DancerError} `DANCER_STORE_LOCKED` / `DANCER_STORE_WRITE_FAILED`.
 */
export function pruneLogs(db: Db, policy: RetentionPolicy, now: number, options: PruneOptions = {}): PruneResult {
  const result: PruneResult = { byAge: 0, bySize: 0, steps: 0, dryRun: options.dryRun === true };
  const maxSteps = options.maxSteps ?? 100_000;
  const loop = () => {
    for (;;) {
      const step = runRetentionStep(db, policy, now);
      result.steps++;
      if (step.reason === 'age') result.byAge += step.deleted;
      if (step.reason === 'size') result.bySize += step.deleted;
      options.onStep?.(result.byAge + result.bySize);
      if (!step.more || step.deleted === 0 || result.steps >= maxSteps) return;
    }
  };
  if (!result.dryRun) {
    loop();
    return result;
  }
  db.exec('SAVEPOINT dancer_prune_dry_run');
  try {
    loop();
  } finally {
    db.exec('ROLLBACK TO dancer_prune_dry_run');
    db.exec('RELEASE dancer_prune_dry_run');
  }
  return result;
}
