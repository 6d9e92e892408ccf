/**
 * The `audit` table: who decided what, and when. The bot writes a row for every command it
 * obeys and every attempt it refuses; the CLI and the dashboard can use the same functions.
 */
import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';

/** Where a decision came from. */
export type AuditSource = 'zulip-command' | 'zulip-reaction' | 'cli' | 'dashboard' | 'system';

/** What became of it. */
export type AuditOutcome = 'ok' | 'refused' | 'failed' | 'invalid';

/** One audit entry. */
export interface AuditEntry {
  /** ms since epoch. */
  ts: number;
  /** `human:<email>`, `cli:<user>`, `supervisor`, ... */
  actor: string;
  /** e.g. the Zulip user id. */
  actorId?: string | undefined;
  source: AuditSource;
  /** approve, reject, stop, status, ... */
  action: string;
  /** e.g. `fix:42`. */
  target?: string | undefined;
  args?: Record<string, unknown> | undefined;
  outcome: AuditOutcome;
  detail?: string | undefined;
}

/** A stored entry. */
export interface AuditRow extends AuditEntry {
  id: number;
}

/** Append an entry; returns its id. */
export function recordAudit(db: Db, entry: AuditEntry): number {
  const info = db
    .prepare(
      `INSERT INTO audit (ts, actor, actor_id, source, action, target, args, outcome, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      entry.ts,
      entry.actor,
      entry.actorId ?? null,
      entry.source,
      entry.action,
      entry.target ?? null,
      entry.args === undefined ? null : JSON.stringify(entry.args),
      entry.outcome,
      entry.detail ?? null,
    );
  return Number(info.lastInsertRowid);
}

/** The actor of the newest `action` that succeeded at or after `sinceTs`, or undefined. */
export function latestAuditActor(db: Db, action: string, sinceTs: number): string | undefined {
  const row = db
    .prepare("SELECT actor FROM audit WHERE action = ? AND outcome = 'ok' AND ts >= ? ORDER BY id DESC LIMIT 1")
    .get(action, sinceTs) as { actor: string } | undefined;
  return row?.actor;
}

/** Entries, oldest first (optionally since `sinceTs`). */
export function listAudit(db: Db, options: { sinceTs?: number; limit?: number } = {}): AuditRow[] {
  const rows = db
    .prepare('SELECT * FROM audit WHERE ts >= ? ORDER BY id LIMIT ?')
    .all(options.sinceTs ?? 0, options.limit ?? 10_000) as Array<Record<string, unknown>>;
  return rows.map(toAuditRow);
}

/** Filters of {@link searchAudit}: each one set narrows the entries (`actor` is a substring). */
export interface AuditFilter {
  actor?: string | undefined;
  action?: string | undefined;
  source?: string | undefined;
  outcome?: string | undefined;
  target?: string | undefined;
  since?: number | undefined;
  /** Most entries (default 200, at most 2000). */
  limit?: number | undefined;
}

/** Entries matching `filter`, newest first; none when the table does not exist yet. */
export function searchAudit(db: Db, filter: AuditFilter = {}): AuditRow[] {
  if (!tableExists(db, 'audit')) return [];
  const where: string[] = [];
  const args: unknown[] = [];
  const eq = (col: string, v: string | undefined) => {
    if (v) {
      where.push(`${col} = ?`);
      args.push(v);
    }
  };
  if (filter.actor) {
    where.push("actor LIKE ? ESCAPE '\\'");
    args.push(`%${filter.actor.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
  eq('action', filter.action);
  eq('source', filter.source);
  eq('outcome', filter.outcome);
  eq('target', filter.target);
  if (filter.since !== undefined) {
    where.push('ts >= ?');
    args.push(filter.since);
  }
  const rows = db
    .prepare(`SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`)
    .all(...args, Math.min(filter.limit ?? 200, 2000)) as Array<Record<string, unknown>>;
  return rows.map(toAuditRow);
}

function toAuditRow(r: Record<string, unknown>): AuditRow {
  const row: AuditRow = {
    id: r.id as number,
    ts: r.ts as number,
    actor: r.actor as string,
    source: r.source as AuditSource,
    action: r.action as string,
    outcome: r.outcome as AuditOutcome,
  };
  if (r.actor_id !== null) row.actorId = r.actor_id as string;
  if (r.target !== null) row.target = r.target as string;
  if (r.args !== null) row.args = JSON.parse(r.args as string) as Record<string, unknown>;
  if (r.detail !== null) row.detail = r.detail as string;
  return row;
}
