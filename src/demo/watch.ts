/**
 * Watches a supervisor's store from outside (read-only) and turns new rows into a story: what
 * was detected, consulted, tested, decided, deployed and rolled back. Polls, since the rows are
 * written by another process.
 */
import Database from 'better-sqlite3';
import { allConsultations, ledgerCostBetween } from '../consult/index.js';
import { fixEventsAfter, gateStepsAfter } from '../fixes/index.js';
import { decisionsAfter } from '../patterns/index.js';
import { allDeploys } from '../supervise/index.js';

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
    for (const r of decisionsAfter(db, this.#lastDecision, { outcome: 'fire' })) {
      this.#lastDecision = r.id;
      events.push({ type: 'decision', at: r.at, rule: r.rule, templateId: r.templateId, reason: r.reason });
    }
    for (const r of allConsultations(db)) {
      if (this.#consultations.get(r.id) === r.status) continue;
      this.#consultations.set(r.id, r.status);
      events.push({
        type: 'consultation',
        at: r.finishedAt ?? r.createdAt,
        id: r.id,
        status: r.status,
        outcome: r.outcomeKind,
        error: r.error,
      });
    }
    for (const r of gateStepsAfter(db, this.#lastGate)) {
      this.#lastGate = r.id;
      events.push({
        type: 'gate',
        at: r.startedAt + r.durationMs,
        fixId: r.fixId,
        name: r.name,
        ok: r.ok,
        durationMs: r.durationMs,
        note: r.note,
      });
    }
    for (const r of fixEventsAfter(db, this.#lastFixEvent)) {
      this.#lastFixEvent = r.id;
      events.push({
        type: 'fix',
        at: r.ts,
        fixId: r.fixId,
        from: r.fromState,
        to: r.toState,
        actor: r.actor,
        reason: r.reason,
      });
    }
    for (const r of allDeploys(db)) {
      if (this.#deploys.get(r.id) === r.status) continue;
      this.#deploys.set(r.id, r.status);
      events.push({
        type: 'deploy',
        at: r.finishedAt ?? r.readyAt ?? r.startedAt,
        id: r.id,
        kind: r.kind,
        status: r.status,
        reason: r.reason,
        fixId: r.fixId,
      });
    }
    return events.sort((a, b) => a.at - b.at);
  }

  /** Run a read query (the tests' harnesses read the store through the same connection). */
  query<T>(sql: string, ...params: unknown[]): T[] {
    const db = this.#open();
    if (!db) return [];
    return db.prepare(sql).all(...params) as T[];
  }

  /** What the consultations cost so far (USD; 0 before the store exists). */
  costUsd(): number {
    const db = this.#open();
    return db ? ledgerCostBetween(db) : 0;
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
