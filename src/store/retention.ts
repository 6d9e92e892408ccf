import type { Db } from './open.js';
import { toStoreError } from './open.js';

/** How long and how much of the `logs` table to keep. */
export interface RetentionPolicy {
  /** Rows whose last record is older than this are deleted. */
  maxAgeMs: number;
  /** When the database's used size is above this, the oldest rows are deleted. */
  maxBytes: number;
  /** Rows deleted per step at most (one short transaction, ~10 ms per 1000 rows). Default 1000. */
  stepRows?: number;
}

/** The facts a retention decision needs (read from the database by {@link runRetentionStep}). */
export interface RetentionState {
  /** Used bytes: (page_count − freelist_count) × page_size. */
  usedBytes: number;
  /** `ts` of the oldest row, undefined when the table is empty. */
  oldestTs: number | undefined;
  /** Rows in `logs`, approximately (max id − min id + 1: retention deletes the oldest ids). */
  approxRows: number;
}

/** What one step should delete: rows older than `cutoff`, or the oldest rows by size. */
export type RetentionPlan = { kind: 'age'; cutoff: number } | { kind: 'size'; rows: number } | { kind: 'none' };

/**
 * Decide what one retention step deletes (pure). Age comes first: rows older than
 * `now − maxAgeMs`; then size: the oldest rows while the used size is above `maxBytes`.
 */
export function planRetention(state: RetentionState, policy: RetentionPolicy, now: number): RetentionPlan {
  if (state.oldestTs === undefined) return { kind: 'none' };
  const cutoff = now - policy.maxAgeMs;
  if (state.oldestTs < cutoff) return { kind: 'age', cutoff };
  if (state.usedBytes > policy.maxBytes && state.approxRows > 0) {
    // Rows to delete so the used size falls under the limit, at the average row cost.
    const perRow = state.usedBytes / state.approxRows;
    return { kind: 'size', rows: Math.max(1, Math.ceil((state.usedBytes - policy.maxBytes) / perRow)) };
  }
  return { kind: 'none' };
}

/** The result of one {@link runRetentionStep}. */
export interface RetentionStepResult {
  /** Rows deleted by this step (from `logs` and `logs_fts`). */
  deleted: number;
  /** Why: `age`, `size` or `none`. */
  reason: RetentionPlan['kind'];
  /** True when another step right away would delete more (call again soon, not in a loop). */
  more: boolean;
}

/**
 * One small retention step: deletes at most `policy.stepRows` of the oldest rows that are too old
 * (or, when the database is too big, the oldest rows) from `logs` and their entries from
 * `logs_fts`, in one short IMMEDIATE transaction, so the writer waits at most one step (FTS space
 * held by deleted rows is reclaimed as the writer's automerge rewrites segments). It touches
 * no other table (per-pattern counts and buckets are kept). Freed pages are reused by new rows;
 * the file does not shrink. Call it periodically (e.g. {@link scheduleRetention}).
 *
 * @throws {DancerError} `DANCER_STORE_LOCKED` / `DANCER_STORE_WRITE_FAILED`.
 */
export function runRetentionStep(db: Db, policy: RetentionPolicy, now: number): RetentionStepResult {
  const step = Math.max(1, policy.stepRows ?? 1000);
  try {
    return db
      .transaction((): RetentionStepResult => {
        const plan = planRetention(readRetentionState(db), policy, now);
        if (plan.kind === 'none') return { deleted: 0, reason: 'none', more: false };
        const ids =
          plan.kind === 'age'
            ? (db
                .prepare('SELECT id FROM logs WHERE ts < ? AND last_ts < ? ORDER BY ts LIMIT ?')
                .pluck()
                .all(plan.cutoff, plan.cutoff, step) as number[])
            : (db
                .prepare('SELECT id FROM logs ORDER BY id LIMIT ?')
                .pluck()
                .all(Math.min(step, plan.rows)) as number[]);
        const deleteFts = db.prepare('DELETE FROM logs_fts WHERE rowid = ?');
        for (const id of ids) deleteFts.run(id);
        if (plan.kind === 'size' && ids.length > 0) {
          // The oldest ids, contiguous from the smallest: one range delete.
          db.prepare('DELETE FROM logs WHERE id <= ?').run(ids[ids.length - 1]);
        } else {
          const deleteRow = db.prepare('DELETE FROM logs WHERE id = ?');
          for (const id of ids) deleteRow.run(id);
        }
        const more = plan.kind === 'age' ? ids.length === step : ids.length > 0 && ids.length < plan.rows;
        return { deleted: ids.length, reason: plan.kind, more };
      })
      .immediate();
  } catch (error) {
    throw toStoreError(error);
  }
}

/** Read the facts {@link planRetention} needs. */
export function readRetentionState(db: Db): RetentionState {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  // Separate min() and max() queries: SQLite answers each from the index end; together they scan.
  const lo = db.prepare('SELECT min(id) FROM logs').pluck().get() as number | null;
  const hi = db.prepare('SELECT max(id) FROM logs').pluck().get() as number | null;
  const oldest = db.prepare('SELECT min(ts) FROM logs').pluck().get() as number | null;
  return {
    usedBytes: (pages - free) * pageSize,
    oldestTs: oldest ?? undefined,
    approxRows: lo === null || hi === null ? 0 : hi - lo + 1,
  };
}

/** Options for {@link scheduleRetention}. */
export interface ScheduleRetentionOptions {
  /** Time between rounds. Default 60 s. */
  intervalMs?: number;
  /** Pause between the steps of one round, so ingest runs in between. Default 10 ms. */
  pauseMs?: number;
  /** Steps per round at most (the rest waits for the next round). Default 10000. */
  maxStepsPerRound?: number;
  /** The clock. Default `Date.now`. */
  now?: () => number;
  /** Told about a failed step (the schedule keeps going). */
  onError?: (error: unknown) => void;
  /** Told after each round that deleted rows. */
  onRound?: (deleted: number) => void;
}

/**
 * Run retention in the background: every `intervalMs`, steps of {@link runRetentionStep} with a
 * pause between them until nothing is left to delete. Timers are unref'd. Returns `stop()`.
 */
export function scheduleRetention(
  db: Db,
  policy: RetentionPolicy,
  options: ScheduleRetentionOptions = {},
): { stop(): void } {
  const interval = options.intervalMs ?? 60_000;
  const pause = options.pauseMs ?? 10;
  const maxSteps = options.maxStepsPerRound ?? 10_000;
  const now = options.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let steps = 0;
  let deleted = 0;
  const arm = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  const tick = () => {
    let more = false;
    try {
      const result = runRetentionStep(db, policy, now());
      deleted += result.deleted;
      more = result.more && ++steps < maxSteps;
    } catch (error) {
      options.onError?.(error);
    }
    if (more) return arm(pause);
    if (deleted > 0) options.onRound?.(deleted);
    steps = 0;
    deleted = 0;
    arm(interval);
  };
  arm(0);
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

/** Build a {@link RetentionPolicy} from the `store.retention` section of dancer.yaml. */
export function retentionPolicyFromConfig(retention: {
  maxAgeDays: number;
  maxBytes: number;
  stepRows?: number | undefined;
}): RetentionPolicy {
  const policy: RetentionPolicy = { maxAgeMs: retention.maxAgeDays * 86_400_000, maxBytes: retention.maxBytes };
  if (retention.stepRows !== undefined) policy.stepRows = retention.stepRows;
  return policy;
}
