/**
 * Plain data the consultation stage takes in.
 */
import type { Db } from '../store/index.js';

/** What fired (the detector's trigger, or a human asking). */
export interface ConsultTrigger {
  id: string;
  kind: 'new_pattern' | 'spike' | 'crash' | 'review' | 'manual';
  /** The pattern (template id), when the trigger is about one. */
  templateId?: number | undefined;
  /** Crashes are urgent; reviews, spikes and new patterns are routine unless the detector says so. */
  urgent: boolean;
  /** What the rule saw. */
  numbers: Record<string, unknown>;
  /** Why it fired, in plain words. */
  reason: string;
  /** ms since epoch. */
  at: number;
}

/** What a fix may touch and how it is judged: the part of the policy the agent must know. */
export interface ConsultPolicy {
  /** Repository-relative globs the agent must not change (the effective list, defaults included). */
  protectedPaths: readonly string[];
  /** Most files / lines a fix may change, when the policy limits them. */
  maxFiles?: number | undefined;
  maxLines?: number | undefined;
  /** How the fix is tested and judged (gate steps, regression rule, approval), one line each. */
  notes?: readonly string[] | undefined;
}

/**
 * Reads of tables owned by stages that lie above consult (fixes: `fixes`, `fix_events`,
 * `gate_steps`; supervise: `metrics`), which consult may not import. The caller hands them in:
 * `consultReads()` of the composition root (`heal/`) builds them from those stages' exported
 * queries. Without them the brief leaves out earlier fixes and metrics, and the fix and metric
 * tools answer that they have none.
 */
export interface ConsultReads {
  /** Fixes as stored (column names as keys), newest first, of one pattern and/or in one state. */
  fixRows(
    db: Db,
    search: { patternId?: string | undefined; state?: string | undefined; limit: number },
  ): Array<Record<string, unknown>>;
  /** Fix `id` as stored, or undefined. */
  fixRow(db: Db, id: number): Record<string, unknown> | undefined;
  /** Fix `id`'s transitions and gate steps as stored, in order. */
  fixHistory(db: Db, id: number): { events: Array<Record<string, unknown>>; gate: Array<Record<string, unknown>> };
  /** Per metric name, its samples, min, avg and max between `from` and `to`, by name (at most `limit`). */
  metricSummaries(
    db: Db,
    from: number,
    to: number,
    limit?: number,
  ): Array<{ name: string; samples: number; min: number; avg: number; max: number }>;
  /** Metric `name` between `from` and `to` in buckets of `widthMs` counted from `from`. */
  metricBuckets(
    db: Db,
    name: string,
    from: number,
    to: number,
    widthMs: number,
  ): Array<{ bucket: number; min: number; avg: number; max: number; samples: number }>;
}
