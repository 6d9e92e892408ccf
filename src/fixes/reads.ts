/**
 * Reads of the fix tables (`fixes`, `fix_events`, `gate_steps`) for the other stages: the bot's
 * feed and store watcher, the dashboard's provenance, the daily digest, the demo's narration and
 * the consultation's store tools (injected by the caller). Each answers one question; a table an
 * older or fresh store does not have yet reads as empty.
 */
import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';
import { type FixEventRecord, type FixRecord, type GateStepRecord, toFix, toFixEvent, toGateStep } from './records.js';
import type { FixState } from './state.js';

/** Transitions recorded after event `afterId`, oldest first (at most `limit`). */
export function fixEventsAfter(db: Db, afterId: number, limit = -1): FixEventRecord[] {
  if (!tableExists(db, 'fix_events')) return [];
  const rows = db.prepare('SELECT * FROM fix_events WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit);
  return (rows as Array<Record<string, unknown>>).map(toFixEvent);
}

/** The id of the newest transition (0 when there is none). */
export function lastFixEventId(db: Db): number {
  if (!tableExists(db, 'fix_events')) return 0;
  return (db.prepare('SELECT COALESCE(MAX(id), 0) AS m FROM fix_events').get() as { m: number }).m;
}

/** The newest transition of fix `fixId`, or undefined. */
export function lastFixEvent(db: Db, fixId: number): FixEventRecord | undefined {
  if (!tableExists(db, 'fix_events')) return undefined;
  const row = db.prepare('SELECT * FROM fix_events WHERE fix_id = ? ORDER BY id DESC LIMIT 1').get(fixId);
  return row ? toFixEvent(row as Record<string, unknown>) : undefined;
}

/** How many fixes entered `state` in [from, to). */
export function fixesEnteringState(db: Db, state: FixState, from: number, to: number): number {
  if (!tableExists(db, 'fix_events')) return 0;
  return (
    db
      .prepare('SELECT COUNT(DISTINCT fix_id) AS n FROM fix_events WHERE to_state = ? AND ts >= ? AND ts < ?')
      .get(state, from, to) as { n: number }
  ).n;
}

/** How many fixes were created in [from, to). */
export function fixesCreatedBetween(db: Db, from: number, to: number): number {
  if (!tableExists(db, 'fix_events')) return 0;
  return (
    db.prepare("SELECT COUNT(*) AS n FROM fix_events WHERE event = 'create' AND ts >= ? AND ts < ?").get(from, to) as {
      n: number;
    }
  ).n;
}

/** Gate steps recorded after step `afterId`, in the order they were recorded. */
export function gateStepsAfter(db: Db, afterId: number): GateStepRecord[] {
  if (!tableExists(db, 'gate_steps')) return [];
  const rows = db.prepare('SELECT * FROM gate_steps WHERE id > ? ORDER BY id').all(afterId);
  return (rows as Array<Record<string, unknown>>).map(toGateStep);
}

/** The newest fix merged or reverted as a commit starting with `prefix` (hex), or undefined. */
export function fixOfCommitPrefix(db: Db, prefix: string): number | undefined {
  if (!tableExists(db, 'fixes')) return undefined;
  const like = `${prefix.replace(/[\\%_]/g, '')}%`;
  const row = db
    .prepare('SELECT id FROM fixes WHERE merge_commit LIKE ? OR rollback_commit LIKE ? ORDER BY id DESC LIMIT 1')
    .get(like, like) as { id: number } | undefined;
  return row?.id;
}

/** What {@link searchFixes} filters on. */
export interface FixSearch {
  /** Only fixes of this pattern id. */
  patternId?: string | undefined;
  /** Only fixes in this state (any text: an unknown state matches nothing). */
  state?: string | undefined;
  limit: number;
}

/** Fixes matching `search`, newest first (by creation, then id). */
export function searchFixes(db: Db, search: FixSearch): FixRecord[] {
  if (!tableExists(db, 'fixes')) return [];
  const rows = db
    .prepare(
      `SELECT * FROM fixes WHERE (? IS NULL OR pattern_id = ?) AND (? IS NULL OR state = ?)
       ORDER BY created_at DESC, id DESC LIMIT ?`,
    )
    .all(search.patternId ?? null, search.patternId ?? null, search.state ?? null, search.state ?? null, search.limit);
  return (rows as Array<Record<string, unknown>>).map(toFix);
}
