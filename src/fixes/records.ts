/**
 * The fixes tables: create a fix, move it through the state machine (one `fix_events` row per
 * transition, in the same transaction as the state change), record gate steps, read it all back.
 */

import { DancerError } from '../errors.js';
import { redactForSinks, redactTemplateForSinks } from '../redact/index.js';
import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';
import type { Risk } from './policy.js';
import { type Actor, type FixEvent, type FixState, IN_FLIGHT_STATES, transition } from './state.js';

/** A fix as stored. */
export interface FixRecord {
  id: number;
  patternId: string;
  patternHash: string;
  patternText: string | null;
  consultationId: string | null;
  kind: 'fix' | 'improve_logging';
  state: FixState;
  branch: string | null;
  worktree: string | null;
  baseCommit: string | null;
  headCommit: string | null;
  mergeCommit: string | null;
  beforeTag: string | null;
  rollbackBranch: string | null;
  rollbackCommit: string | null;
  summary: string | null;
  analysis: string | null;
  rootCause: string | null;
  regressionTest: string | null;
  risk: Risk | null;
  confidence: number | null;
  costUsd: number;
  filesChanged: number | null;
  linesChanged: number | null;
  repairRounds: number;
  failedStep: string | null;
  reason: string | null;
  retryOf: number | null;
  createdAt: number;
  updatedAt: number;
}

/** One row of `fix_events`. */
export interface FixEventRecord {
  id: number;
  fixId: number;
  ts: number;
  fromState: FixState | null;
  toState: FixState;
  event: FixEvent | 'create';
  actor: Actor;
  reason: string;
  details: Record<string, unknown> | null;
}

/** One row of `gate_steps`. */
export interface GateStepRecord {
  id: number;
  fixId: number;
  round: number;
  seq: number;
  name: string;
  command: string;
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  outputTail: string;
  note: string | null;
  startedAt: number;
  /** `needs_human` for an honesty or coverage step a human must approve knowingly (else from `ok`). */
  status?: 'passed' | 'failed' | 'needs_human' | undefined;
  /** Structured results: test counts per file, coverage of the change. */
  details?: Record<string, unknown> | null | undefined;
}

/** One retry request (from the CLI or the bot) that the supervisor picks up. */
export interface RetryRequest {
  id: number;
  fixId: number;
  requestedBy: string;
  reason: string;
  ts: number;
  takenAt: number | null;
  newFixId: number | null;
}

const COLUMNS: Record<string, keyof FixRecord> = {
  id: 'id',
  pattern_id: 'patternId',
  pattern_hash: 'patternHash',
  pattern_text: 'patternText',
  consultation_id: 'consultationId',
  kind: 'kind',
  state: 'state',
  branch: 'branch',
  worktree: 'worktree',
  base_commit: 'baseCommit',
  head_commit: 'headCommit',
  merge_commit: 'mergeCommit',
  before_tag: 'beforeTag',
  rollback_branch: 'rollbackBranch',
  rollback_commit: 'rollbackCommit',
  summary: 'summary',
  analysis: 'analysis',
  root_cause: 'rootCause',
  regression_test: 'regressionTest',
  risk: 'risk',
  confidence: 'confidence',
  cost_usd: 'costUsd',
  files_changed: 'filesChanged',
  lines_changed: 'linesChanged',
  repair_rounds: 'repairRounds',
  failed_step: 'failedStep',
  reason: 'reason',
  retry_of: 'retryOf',
  created_at: 'createdAt',
  updated_at: 'updatedAt',
};
const FIELD_TO_COLUMN = new Map(Object.entries(COLUMNS).map(([c, f]) => [f, c]));

function toFix(row: Record<string, unknown>): FixRecord {
  const out: Record<string, unknown> = {};
  for (const [column, field] of Object.entries(COLUMNS)) out[field] = row[column] ?? null;
  return out as unknown as FixRecord;
}

/** What {@link createFix} needs. */
export interface NewFix {
  patternId: string;
  patternHash: string;
  patternText?: string | undefined;
  consultationId?: string | undefined;
  retryOf?: number | undefined;
  actor: Actor;
  reason: string;
}

/** Insert a fix in state `proposed`, with its creation event. */
export function createFix(db: Db, fix: NewFix, now: number): FixRecord {
  return db.transaction(() => {
    const info = db
      .prepare(
        `INSERT INTO fixes (pattern_id, pattern_hash, pattern_text, consultation_id, state, retry_of, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'proposed', ?, ?, ?)`,
      )
      .run(
        fix.patternId,
        fix.patternHash,
        fix.patternText === undefined ? null : redactTemplateForSinks(fix.patternText),
        fix.consultationId ?? null,
        fix.retryOf ?? null,
        now,
        now,
      );
    const id = Number(info.lastInsertRowid);
    db.prepare(
      `INSERT INTO fix_events (fix_id, ts, from_state, to_state, event, actor, reason) VALUES (?, ?, NULL, 'proposed', 'create', ?, ?)`,
    ).run(id, now, fix.actor, redactForSinks(fix.reason));
    return getFix(db, id);
  })();
}

/**
 * The fix with `id`.
 *
 * @throws {DancerError} `DANCER_NOT_FOUND`.
 */
export function getFix(db: Db, id: number): FixRecord {
  const row = db.prepare('SELECT * FROM fixes WHERE id = ?').get(id) as Record<string, unknown> | undefined;
  if (!row) throw new DancerError('DANCER_NOT_FOUND', `No fix with id ${id}`, { details: { id } });
  return toFix(row);
}

/** Filters for {@link listFixes}. */
export interface ListFixesOptions {
  states?: readonly FixState[];
  patternId?: string;
  limit?: number;
  /** Oldest first (default newest first). */
  ascending?: boolean;
  sinceMs?: number;
}

/** Fixes, newest first unless `ascending`. */
export function listFixes(db: Db, options: ListFixesOptions = {}): FixRecord[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (options.states && options.states.length > 0) {
    where.push(`state IN (${options.states.map(() => '?').join(', ')})`);
    args.push(...options.states);
  }
  if (options.patternId !== undefined) {
    where.push('pattern_id = ?');
    args.push(options.patternId);
  }
  if (options.sinceMs !== undefined) {
    where.push('created_at >= ?');
    args.push(options.sinceMs);
  }
  const sql = `SELECT * FROM fixes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${
    options.ascending ? 'ASC' : 'DESC'
  } ${options.limit ? `LIMIT ${Math.floor(options.limit)}` : ''}`;
  return (db.prepare(sql).all(...args) as Record<string, unknown>[]).map(toFix);
}

/** Fields {@link updateFix} may set (never `state`: use {@link applyEvent}). */
export type FixUpdate = Partial<Omit<FixRecord, 'id' | 'state' | 'createdAt' | 'updatedAt'>>;

/** Set plain fields of a fix. */
export function updateFix(db: Db, id: number, fields: FixUpdate, now: number): void {
  const sets: string[] = [];
  const args: unknown[] = [];
  for (const [field, value] of Object.entries(fields)) {
    const column = FIELD_TO_COLUMN.get(field as keyof FixRecord);
    if (!column || column === 'state' || column === 'id') {
      throw new DancerError('DANCER_INTERNAL', `updateFix: unknown or read-only field ${field}`);
    }
    sets.push(`${column} = ?`);
    args.push(value === undefined ? null : value);
  }
  if (sets.length === 0) return;
  sets.push('updated_at = ?');
  args.push(now, id);
  db.prepare(`UPDATE fixes SET ${sets.join(', ')} WHERE id = ?`).run(...args);
}

/** A transition to apply with {@link applyEvent}. */
export interface Transition {
  event: FixEvent;
  actor: Actor;
  reason: string;
  /** Fields to set in the same transaction. */
  fields?: FixUpdate;
  details?: Record<string, unknown>;
  /** Refuse unless the fix is in this state (guards against a concurrent change). */
  expect?: FixState;
}

/**
 * Move a fix through the state machine: read its state, compute the next one (pure), write the
 * state, the fields and a `fix_events` row, all in one immediate transaction.
 *
 * @throws {DancerError} `DANCER_ILLEGAL_TRANSITION` (nothing is written), `DANCER_NOT_FOUND`.
 */
export function applyEvent(db: Db, id: number, t: Transition, now: number): FixRecord {
  return db
    .transaction(() => {
      const current = getFix(db, id);
      if (t.expect !== undefined && current.state !== t.expect) {
        throw new DancerError(
          'DANCER_ILLEGAL_TRANSITION',
          `Fix ${id} is ${current.state}, not ${t.expect}; refusing to ${t.event}`,
          { details: { id, state: current.state, expected: t.expect, event: t.event } },
        );
      }
      const next = transition(current.state, t.event);
      // Reasons quote gate output and agent text: stored redacted, like every other sink.
      const reason = redactForSinks(t.reason);
      updateFix(db, id, { ...t.fields, reason }, now);
      db.prepare('UPDATE fixes SET state = ? WHERE id = ?').run(next, id);
      db.prepare(
        `INSERT INTO fix_events (fix_id, ts, from_state, to_state, event, actor, reason, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(id, now, current.state, next, t.event, t.actor, reason, t.details ? JSON.stringify(t.details) : null);
      return getFix(db, id);
    })
    .immediate();
}

/** Every transition of a fix, oldest first. */
export function fixEvents(db: Db, id: number): FixEventRecord[] {
  const rows = db.prepare('SELECT * FROM fix_events WHERE fix_id = ? ORDER BY id').all(id) as Record<string, unknown>[];
  return rows.map(toFixEvent);
}

/** A `fix_events` row as the store returns it, typed. */
export function toFixEvent(r: Record<string, unknown>): FixEventRecord {
  return {
    id: r.id as number,
    fixId: r.fix_id as number,
    ts: r.ts as number,
    fromState: (r.from_state as FixState | null) ?? null,
    toState: r.to_state as FixState,
    event: r.event as FixEvent,
    actor: r.actor as Actor,
    reason: r.reason as string,
    details: r.details ? (JSON.parse(r.details as string) as Record<string, unknown>) : null,
  };
}

/** Store one gate step result. */
export function recordGateStep(db: Db, step: Omit<GateStepRecord, 'id'>): number {
  const info = db
    .prepare(
      `INSERT INTO gate_steps (fix_id, round, seq, name, command, ok, exit_code, signal, timed_out, duration_ms, output_tail, note, started_at, status, details)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      step.fixId,
      step.round,
      step.seq,
      step.name,
      step.command,
      step.ok ? 1 : 0,
      step.exitCode,
      step.signal,
      step.timedOut ? 1 : 0,
      Math.round(step.durationMs),
      // Gate output can echo logs, env and test fixtures: stored redacted, served redacted.
      redactForSinks(step.outputTail),
      step.note === null ? null : redactForSinks(step.note),
      step.startedAt,
      step.status ?? (step.ok ? 'passed' : 'failed'),
      step.details ? JSON.stringify(step.details) : null,
    );
  return Number(info.lastInsertRowid);
}

/** Gate steps of a fix, in the order they ran. */
export function gateSteps(db: Db, fixId: number): GateStepRecord[] {
  const rows = db.prepare('SELECT * FROM gate_steps WHERE fix_id = ? ORDER BY round, seq, id').all(fixId) as Record<
    string,
    unknown
  >[];
  return rows.map(toGateStep);
}

/** A `gate_steps` row as the store returns it, typed. */
export function toGateStep(r: Record<string, unknown>): GateStepRecord {
  return {
    id: r.id as number,
    fixId: r.fix_id as number,
    round: r.round as number,
    seq: r.seq as number,
    name: r.name as string,
    command: r.command as string,
    ok: r.ok === 1,
    exitCode: (r.exit_code as number | null) ?? null,
    signal: (r.signal as string | null) ?? null,
    timedOut: r.timed_out === 1,
    durationMs: r.duration_ms as number,
    outputTail: r.output_tail as string,
    note: (r.note as string | null) ?? null,
    startedAt: r.started_at as number,
    status: (r.status as GateStepRecord['status'] | null) ?? (r.ok === 1 ? 'passed' : 'failed'),
    details: r.details ? (JSON.parse(r.details as string) as Record<string, unknown>) : null,
  };
}

/** Record a request to retry `fixId` (the supervisor picks it up). */
export function requestRetry(db: Db, fixId: number, by: string, reason: string, now: number): RetryRequest {
  getFix(db, fixId);
  const info = db
    .prepare('INSERT INTO fix_retry_requests (fix_id, requested_by, reason, ts) VALUES (?, ?, ?, ?)')
    .run(fixId, by, reason, now);
  return retryRequest(db, Number(info.lastInsertRowid));
}

function toRetry(r: Record<string, unknown>): RetryRequest {
  return {
    id: r.id as number,
    fixId: r.fix_id as number,
    requestedBy: r.requested_by as string,
    reason: r.reason as string,
    ts: r.ts as number,
    takenAt: (r.taken_at as number | null) ?? null,
    newFixId: (r.new_fix_id as number | null) ?? null,
  };
}

function retryRequest(db: Db, id: number): RetryRequest {
  return toRetry(db.prepare('SELECT * FROM fix_retry_requests WHERE id = ?').get(id) as Record<string, unknown>);
}

/** Retry requests not yet taken, oldest first. */
export function pendingRetries(db: Db): RetryRequest[] {
  return (
    db.prepare('SELECT * FROM fix_retry_requests WHERE taken_at IS NULL ORDER BY id').all() as Record<string, unknown>[]
  ).map(toRetry);
}

/** Mark a retry request taken (and, once known, the fix it started). */
export function markRetryTaken(db: Db, id: number, now: number, newFixId: number | null): void {
  db.prepare('UPDATE fix_retry_requests SET taken_at = ?, new_fix_id = ? WHERE id = ?').run(now, newFixId, id);
}

/** The stored rows of the fixes in flight ({@link IN_FLIGHT_STATES}), newest first; null without a fixes table. */
export function inFlightFixRows(db: Db, limit = 50): Array<Record<string, unknown>> | null {
  if (!tableExists(db, 'fixes')) return null;
  const marks = IN_FLIGHT_STATES.map(() => '?').join(',');
  return db
    .prepare(`SELECT * FROM fixes WHERE state IN (${marks}) ORDER BY rowid DESC LIMIT ?`)
    .all(...IN_FLIGHT_STATES, limit) as Array<Record<string, unknown>>;
}

/** How many fixes are in each state (states without fixes left out); empty without a fixes table. */
export function fixCountsByState(db: Db): Array<{ state: string; count: number }> {
  if (!tableExists(db, 'fixes')) return [];
  return db.prepare('SELECT state, COUNT(*) AS count FROM fixes GROUP BY state ORDER BY state').all() as Array<{
    state: string;
    count: number;
  }>;
}
