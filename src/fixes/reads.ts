/**
 * Reads of the fix tables (`fixes`, `fix_events`, `gate_steps`) for the other stages: the bot's
 * feed and store watcher, the dashboard's provenance, the daily digest, the demo's narration and
 * the consultation's store tools (injected by the caller). Each answers one question; a table an
 * older or fresh store does not have yet reads as empty.
 */
import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';
import { type FixEventRecord, type GateStepRecord, toFixEvent, toGateStep } from './records.js';
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

/** A row of `fixes` as stored (column names as keys): what the store tools show the agent. */
export type StoredFixRow = Record<string, unknown>;

/** What {@link storedFixRows} filters on. */
export interface FixSearch {
  /** Only fixes of this pattern id. */
  patternId?: string | undefined;
  /** Only fixes in this state (any text: an unknown state matches nothing). */
  state?: string | undefined;
  limit: number;
}

/** Fixes matching `search` as stored, newest first (by creation, then id). */
export function storedFixRows(db: Db, search: FixSearch): StoredFixRow[] {
  if (!tableExists(db, 'fixes')) return [];
  return db
    .prepare(
      `SELECT * FROM fixes WHERE (? IS NULL OR pattern_id = ?) AND (? IS NULL OR state = ?)
       ORDER BY created_at DESC, id DESC LIMIT ?`,
    )
    .all(
      search.patternId ?? null,
      search.patternId ?? null,
      search.state ?? null,
      search.state ?? null,
      search.limit,
    ) as StoredFixRow[];
}

/** Fix `id` as stored, or undefined. */
export function storedFixRow(db: Db, id: number): StoredFixRow | undefined {
  if (!tableExists(db, 'fixes')) return undefined;
  return db.prepare('SELECT * FROM fixes WHERE id = ?').get(id) as StoredFixRow | undefined;
}

/** A transition as the store tools show it. */
export type FixEventRow = {
  ts: number;
  from_state: string | null;
  to_state: string;
  event: string;
  actor: string;
  reason: string;
};

/** A gate step as the store tools show it. */
export type GateStepRow = {
  round: number;
  seq: number;
  name: string;
  command: string;
  ok: number;
  exit_code: number | null;
  timed_out: number;
  duration_ms: number;
  output_tail: string | null;
};

/** Fix `id`'s transitions (oldest first) and gate steps (in the order they ran), as stored. */
export function fixHistoryRows(db: Db, id: number): { events: FixEventRow[]; gate: GateStepRow[] } {
  const events = tableExists(db, 'fix_events')
    ? (db
        .prepare('SELECT ts, from_state, to_state, event, actor, reason FROM fix_events WHERE fix_id = ? ORDER BY id')
        .all(id) as FixEventRow[])
    : [];
  const gate = tableExists(db, 'gate_steps')
    ? (db
        .prepare(
          'SELECT round, seq, name, command, ok, exit_code, timed_out, duration_ms, output_tail FROM gate_steps WHERE fix_id = ? ORDER BY round, seq',
        )
        .all(id) as GateStepRow[])
    : [];
  return { events, gate };
}
