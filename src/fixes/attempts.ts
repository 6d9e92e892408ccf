/**
 * No fix loops. Whether a pattern may get a new fix attempt now ({@link decideAttempt}, pure):
 * not while a fix for it is being deployed or observed, not within `fixes.retryCooldownMinutes`
 * of a rolled-back fix, and not beyond `fixes.maxAttemptsPerPattern` attempts in 24 hours (the
 * pattern is then escalated and only a human reopens it). The store side keeps each fix's patch
 * id (an identical diff to a rolled-back fix is refused) and the holds on a pattern.
 */
import type { Db } from '../store/index.js';
import type { FixState } from './state.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** One earlier attempt at a pattern. */
export interface Attempt {
  fixId: number;
  state: FixState;
  createdAt: number;
  /** When it was rolled back, if it was. */
  rolledBackAt?: number | undefined;
}

/** The holds on a pattern: the last escalation and the last human reopening. */
export interface PatternHolds {
  escalatedAt?: number | undefined;
  reopenedAt?: number | undefined;
}

/** What the healing loop may do with a trigger for a pattern. */
export type AttemptDecision =
  | { kind: 'allow' }
  | { kind: 'in_flight'; fixId: number }
  | { kind: 'cooldown'; until: number; afterFix: number }
  | { kind: 'escalate'; attempts: number }
  | { kind: 'escalated'; since: number };

/** Limits from `fixes:`. */
export interface AttemptLimits {
  retryCooldownMinutes: number;
  maxAttemptsPerPattern: number;
}

/** Decide whether a new attempt may start for a pattern. Pure. */
export function decideAttempt(input: {
  attempts: readonly Attempt[];
  holds: PatternHolds;
  now: number;
  limits: AttemptLimits;
}): AttemptDecision {
  const { attempts, holds, now, limits } = input;
  const reopened = holds.reopenedAt ?? Number.NEGATIVE_INFINITY;
  if (holds.escalatedAt !== undefined && holds.escalatedAt > reopened) {
    return { kind: 'escalated', since: holds.escalatedAt };
  }
  const live = attempts.find((a) => a.state === 'deploying' || a.state === 'observing');
  if (live) return { kind: 'in_flight', fixId: live.fixId };
  const counted = attempts.filter((a) => a.createdAt >= Math.max(now - DAY_MS, reopened));
  if (counted.length >= limits.maxAttemptsPerPattern) return { kind: 'escalate', attempts: counted.length };
  let last: Attempt | undefined;
  for (const a of attempts) {
    if (
      a.rolledBackAt !== undefined &&
      a.rolledBackAt > reopened &&
      (!last || a.rolledBackAt > (last.rolledBackAt ?? 0))
    )
      last = a;
  }
  if (last?.rolledBackAt !== undefined) {
    const until = last.rolledBackAt + limits.retryCooldownMinutes * 60_000;
    if (now < until) return { kind: 'cooldown', until, afterFix: last.fixId };
  }
  return { kind: 'allow' };
}

/** Every attempt at `patternId`, oldest first. */
export function attemptsFor(db: Db, patternId: string): Attempt[] {
  const rows = db
    .prepare(
      `SELECT f.id AS fixId, f.state AS state, f.created_at AS createdAt,
              (SELECT MAX(e.ts) FROM fix_events e WHERE e.fix_id = f.id AND e.event = 'rollback') AS rolledBackAt
       FROM fixes f WHERE f.pattern_id = ? ORDER BY f.id`,
    )
    .all(patternId) as Array<{ fixId: number; state: FixState; createdAt: number; rolledBackAt: number | null }>;
  return rows.map((r) => ({ ...r, rolledBackAt: r.rolledBackAt ?? undefined }));
}

/** The last escalation and reopening of `patternId`. */
export function holdsFor(db: Db, patternId: string): PatternHolds {
  const at = (kind: string) =>
    (
      db.prepare('SELECT MAX(ts) AS t FROM pattern_holds WHERE pattern_id = ? AND kind = ?').get(patternId, kind) as {
        t: number | null;
      }
    ).t ?? undefined;
  return { escalatedAt: at('escalated'), reopenedAt: at('reopened') };
}

/** Record a hold on a pattern (`escalated` by the loop, `reopened` by a human). */
export function addHold(
  db: Db,
  patternId: string,
  kind: 'escalated' | 'reopened',
  actor: string,
  reason: string,
  now: number,
): void {
  db.prepare('INSERT INTO pattern_holds (pattern_id, kind, actor, reason, ts) VALUES (?, ?, ?, ?, ?)').run(
    patternId,
    kind,
    actor,
    reason,
    now,
  );
}

/** True when `patternId` is escalated and waits for a human. */
export function isEscalated(db: Db, patternId: string): boolean {
  const h = holdsFor(db, patternId);
  return h.escalatedAt !== undefined && h.escalatedAt > (h.reopenedAt ?? Number.NEGATIVE_INFINITY);
}

/** Remember the diff of a fix (its patch id and a stat summary). */
export function recordFixDiff(db: Db, fixId: number, patchId: string, summary: string): void {
  db.prepare('INSERT OR REPLACE INTO fix_diffs (fix_id, patch_id, summary) VALUES (?, ?, ?)').run(
    fixId,
    patchId,
    summary,
  );
}

/** A rolled-back fix with the same patch id, if any. */
export function rolledBackWithPatch(db: Db, patchId: string, exceptFix: number): number | undefined {
  const row = db
    .prepare(
      `SELECT f.id FROM fix_diffs d JOIN fixes f ON f.id = d.fix_id
       WHERE d.patch_id = ? AND f.state = 'rolled_back' AND f.id <> ? ORDER BY f.id DESC LIMIT 1`,
    )
    .get(patchId, exceptFix) as { id: number } | undefined;
  return row?.id;
}

/** One earlier attempt as the brief of a new one lists it. */
export interface EarlierAttempt {
  fixId: number;
  state: FixState;
  summary?: string | undefined;
  /** `git diff --stat` of its change. */
  diffSummary?: string | undefined;
  /** Why it ended (the rollback reason for a rolled-back fix). */
  why?: string | undefined;
}

/** Every earlier attempt at `patternId` before fix `beforeFix`, with its diff summary and why it ended. */
export function earlierAttempts(db: Db, patternId: string, beforeFix: number): EarlierAttempt[] {
  const rows = db
    .prepare(
      `SELECT f.id AS fixId, f.state AS state, f.summary AS summary, d.summary AS diffSummary,
              (SELECT e.reason FROM fix_events e WHERE e.fix_id = f.id ORDER BY e.id DESC LIMIT 1) AS why
       FROM fixes f LEFT JOIN fix_diffs d ON d.fix_id = f.id
       WHERE f.pattern_id = ? AND f.id < ? ORDER BY f.id`,
    )
    .all(patternId, beforeFix) as Array<{
    fixId: number;
    state: FixState;
    summary: string | null;
    diffSummary: string | null;
    why: string | null;
  }>;
  return rows.map((r) => ({
    fixId: r.fixId,
    state: r.state,
    summary: r.summary ?? undefined,
    diffSummary: r.diffSummary ?? undefined,
    why: r.why ?? undefined,
  }));
}

/**
 * A human reopens a pattern (`dancer patterns retry ID`, Zulip `retry ID`): the escalation is
 * lifted and the attempt count starts again from now. Returns whether it was escalated.
 */
export function reopenPattern(db: Db, patternId: string, by: string, reason: string, now: number): boolean {
  const was = isEscalated(db, patternId);
  addHold(db, patternId, 'reopened', by, reason, now);
  return was;
}
