/**
 * Watches a supervisor's store from outside (read-only) and turns new rows into a story: what
 * was detected, consulted, tested, decided, deployed and rolled back. Polls, since the rows are
 * written by another process.
 */
import Database from 'better-sqlite3';
import { tableExists } from '../store/index.js';

/** Something that happened, read from the store. */
export type StoryEvent =
  | { type: 'decision'; at: number; rule: string; templateId: number | null; reason: string }
  | { type: 'consultation'; at: number; id: number; status: string; outcome: string | null; error: string | null }
  | { type: 'fix'; at: number; fixId: number; from: string | null; to: string; actor: string; reason: string }
  | { type: 'gate'; at: number; fixId: number; name: string; ok: boolean; durationMs: number; note: string | null }
  | {
      type: 'deploy';
      at: number;
      id: number;
      kind: string;
      status: string;
      reason: string | null;
      fixId: number | null;
    };

/** A read-only view of the store that yields only what is new since the last call. */
export class StoreWatcher {
  #db: Database.Database | undefined;
  readonly #file: string;
  #lastDecision = 0;
  #lastFixEvent = 0;
  #lastGate = 0;
  readonly #consultations = new Map<number, string>();
  readonly #deploys = new Map<number, string>();

  constructor(file: string) {
    this.#file = file;
  }

  #open(): Database.Database | undefined {
    if (this.#db) return this.#db;
    try {
      this.#db = new Database(this.#file, { readonly: true, fileMustExist: true });
      this.#db.pragma('busy_timeout = 2000');
      return this.#db;
    } catch {
      return undefined; // not created yet: the supervisor is still starting
    }
  }

  /** New events since the last poll, oldest first. */
  poll(): StoryEvent[] {
    const db = this.#open();
    if (!db) return [];
    const events: StoryEvent[] = [];
    if (tableExists(db, 'decisions')) {
      const rows = db
        .prepare(
          "SELECT id, at, rule, template_id, reason FROM decisions WHERE id > ? AND outcome = 'fire' ORDER BY id",
        )
        .all(this.#lastDecision) as Array<{
        id: number;
        at: number;
        rule: string;
        template_id: number | null;
        reason: string;
      }>;
      for (const r of rows) {
        this.#lastDecision = r.id;
        events.push({ type: 'decision', at: r.at, rule: r.rule, templateId: r.template_id, reason: r.reason });
      }
    }
    if (tableExists(db, 'consultations')) {
      const rows = db
        .prepare('SELECT id, created_at, finished_at, status, outcome_kind, error FROM consultations ORDER BY id')
        .all() as Array<{
        id: number;
        created_at: number;
        finished_at: number | null;
        status: string;
        outcome_kind: string | null;
        error: string | null;
      }>;
      for (const r of rows) {
        if (this.#consultations.get(r.id) === r.status) continue;
        this.#consultations.set(r.id, r.status);
        events.push({
          type: 'consultation',
          at: r.finished_at ?? r.created_at,
          id: r.id,
          status: r.status,
          outcome: r.outcome_kind,
          error: r.error,
        });
      }
    }
    if (tableExists(db, 'gate_steps')) {
      const rows = db
        .prepare('SELECT id, fix_id, name, ok, duration_ms, note, started_at FROM gate_steps WHERE id > ? ORDER BY id')
        .all(this.#lastGate) as Array<{
        id: number;
        fix_id: number;
        name: string;
        ok: number;
        duration_ms: number;
        note: string | null;
        started_at: number;
      }>;
      for (const r of rows) {
        this.#lastGate = r.id;
        events.push({
          type: 'gate',
          at: r.started_at + r.duration_ms,
          fixId: r.fix_id,
          name: r.name,
          ok: r.ok === 1,
          durationMs: r.duration_ms,
          note: r.note,
        });
      }
    }
    if (tableExists(db, 'fix_events')) {
      const rows = db
        .prepare('SELECT id, fix_id, ts, from_state, to_state, actor, reason FROM fix_events WHERE id > ? ORDER BY id')
        .all(this.#lastFixEvent) as Array<{
        id: number;
        fix_id: number;
        ts: number;
        from_state: string | null;
        to_state: string;
        actor: string;
        reason: string;
      }>;
      for (const r of rows) {
        this.#lastFixEvent = r.id;
        events.push({
          type: 'fix',
          at: r.ts,
          fixId: r.fix_id,
          from: r.from_state,
          to: r.to_state,
          actor: r.actor,
          reason: r.reason,
        });
      }
    }
    if (tableExists(db, 'deploys')) {
      const rows = db
        .prepare('SELECT id, kind, status, reason, fix_id, started_at, ready_at, finished_at FROM deploys ORDER BY id')
        .all() as Array<{
        id: number;
        kind: string;
        status: string;
        reason: string | null;
        fix_id: number | null;
        started_at: number;
        ready_at: number | null;
        finished_at: number | null;
      }>;
      for (const r of rows) {
        if (this.#deploys.get(r.id) === r.status) continue;
        this.#deploys.set(r.id, r.status);
        events.push({
          type: 'deploy',
          at: r.finished_at ?? r.ready_at ?? r.started_at,
          id: r.id,
          kind: r.kind,
          status: r.status,
          reason: r.reason,
          fixId: r.fix_id,
        });
      }
    }
    return events.sort((a, b) => a.at - b.at);
  }

  /** Run a read query (the summary reads costs and verdicts). */
  query<T>(sql: string, ...params: unknown[]): T[] {
    const db = this.#open();
    if (!db) return [];
    return db.prepare(sql).all(...params) as T[];
  }

  close(): void {
    this.#db?.close();
    this.#db = undefined;
  }
}

/** One line of narration for an event (pure). */
export function narrate(event: StoryEvent): string {
  switch (event.type) {
    case 'decision':
      return `detected: ${event.reason}`;
    case 'consultation':
      if (event.status === 'running')
        return `consultation ${event.id}: Claude Code is analysing the pattern in a fix worktree`;
      if (event.status === 'succeeded') return `consultation ${event.id}: the agent submitted "${event.outcome}"`;
      return `consultation ${event.id}: ${event.status}${event.error ? ` (${event.error})` : ''}`;
    case 'gate':
      return `gate, fix ${event.fixId}: ${event.name} ${event.ok ? 'passed' : 'FAILED'} in ${(event.durationMs / 1000).toFixed(1)} s${event.note ? ` (${event.note})` : ''}`;
    case 'fix':
      return `fix ${event.fixId}: ${event.from ?? 'new'} -> ${event.to} by ${event.actor}${event.reason ? `: ${firstLine(event.reason)}` : ''}`;
    case 'deploy':
      return `${event.kind} ${event.id}${event.fixId ? ` (fix ${event.fixId})` : ''}: ${event.status}${event.reason ? ` (${firstLine(event.reason)})` : ''}`;
  }
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}
