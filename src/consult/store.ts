/**
 * Consultations, transcripts and the ledger in SQLite (tables from migration 020).
 */
import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';
import type { Outcome, OutcomeKind } from './outcome.js';

/** Status of a consultation. */
export type ConsultationStatus = 'running' | 'succeeded' | 'failed' | 'manual';

/** A consultation row, read back. */
export interface ConsultationRow {
  id: number;
  createdAt: number;
  finishedAt: number | null;
  triggerId: string | null;
  triggerKind: string | null;
  templateId: number | null;
  urgent: boolean;
  mode: 'auto' | 'manual';
  status: ConsultationStatus;
  worktree: string | null;
  model: string | null;
  brief: string;
  briefTokens: number | null;
  outcomeKind: OutcomeKind | null;
  outcome: Outcome | null;
  errorCode: string | null;
  error: string | null;
  sessionId: string | null;
  bundleDir: string | null;
  manualReason: string | null;
}

/** A ledger row. */
export interface LedgerEntry {
  consultationId: number;
  ts: number;
  model: string | null;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
  costUsd: number;
  modelUsage: Record<string, unknown> | null;
  turns: number;
  durationMs: number;
  durationApiMs: number | null;
  /** Outcome kind, `failed` or `manual`. */
  outcome: string;
}

/** Fields of a new consultation. */
export interface NewConsultation {
  createdAt: number;
  triggerId?: string | undefined;
  triggerKind?: string | undefined;
  templateId?: number | undefined;
  urgent: boolean;
  mode: 'auto' | 'manual';
  status: ConsultationStatus;
  worktree?: string | undefined;
  model?: string | undefined;
  brief: string;
  briefTokens?: number | undefined;
  bundleDir?: string | undefined;
  manualReason?: string | undefined;
}

/** True when the consult tables exist (migration 020 applied). */
export function hasConsultTables(db: Db): boolean {
  return tableExists(db, 'consultations');
}

/** Insert a consultation; returns its id. */
export function insertConsultation(db: Db, c: NewConsultation): number {
  const info = db
    .prepare(
      `INSERT INTO consultations (created_at, trigger_id, trigger_kind, template_id, urgent, mode, status, worktree,
         model, brief, brief_tokens, bundle_dir, manual_reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      c.createdAt,
      c.triggerId ?? null,
      c.triggerKind ?? null,
      c.templateId ?? null,
      c.urgent ? 1 : 0,
      c.mode,
      c.status,
      c.worktree ?? null,
      c.model ?? null,
      c.brief,
      c.briefTokens ?? null,
      c.bundleDir ?? null,
      c.manualReason ?? null,
    );
  return Number(info.lastInsertRowid);
}

/** Set a manual consultation's bundle folder. */
export function setBundleDir(db: Db, id: number, dir: string): void {
  db.prepare('UPDATE consultations SET bundle_dir = ? WHERE id = ?').run(dir, id);
}

/** A writer that appends SDK messages to a consultation's transcript, in order. */
export function transcriptWriter(db: Db, consultationId: number, now: () => number): (message: unknown) => void {
  const stmt = db.prepare(
    'INSERT INTO consultation_messages (consultation_id, seq, ts, type, subtype, message) VALUES (?, ?, ?, ?, ?, ?)',
  );
  let seq = 0;
  return (message) => {
    const m = message as { type?: unknown; subtype?: unknown };
    stmt.run(
      consultationId,
      ++seq,
      now(),
      typeof m.type === 'string' ? m.type : 'unknown',
      typeof m.subtype === 'string' ? m.subtype : null,
      JSON.stringify(message),
    );
  };
}

/** The stored transcript of a consultation, in order. */
export function readTranscript(db: Db, consultationId: number): Array<{ seq: number; ts: number; message: unknown }> {
  const rows = db
    .prepare('SELECT seq, ts, message FROM consultation_messages WHERE consultation_id = ? ORDER BY seq')
    .all(consultationId) as Array<{ seq: number; ts: number; message: string }>;
  return rows.map((r) => ({ seq: r.seq, ts: r.ts, message: JSON.parse(r.message) as unknown }));
}

/** Record how a consultation ended. */
export function finishConsultation(
  db: Db,
  id: number,
  end: {
    finishedAt: number;
    status: ConsultationStatus;
    outcome: Outcome | null;
    errorCode?: string | null;
    error?: string | null;
    sessionId?: string | null;
  },
): void {
  db.prepare(
    `UPDATE consultations SET finished_at = ?, status = ?, outcome_kind = ?, outcome = ?, error_code = ?, error = ?,
       session_id = COALESCE(?, session_id) WHERE id = ?`,
  ).run(
    end.finishedAt,
    end.status,
    end.outcome?.kind ?? null,
    end.outcome ? JSON.stringify(end.outcome) : null,
    end.errorCode ?? null,
    end.error ?? null,
    end.sessionId ?? null,
    id,
  );
}

/** Insert (or replace) the ledger row of a consultation. */
export function insertLedger(db: Db, e: LedgerEntry): void {
  db.prepare(
    `INSERT OR REPLACE INTO consult_ledger (consultation_id, ts, model, input_tokens, output_tokens, cache_read_tokens,
       cache_creation_tokens, cost_usd, model_usage, turns, duration_ms, duration_api_ms, outcome)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    e.consultationId,
    e.ts,
    e.model,
    e.inputTokens,
    e.outputTokens,
    e.cacheReadTokens,
    e.cacheCreationTokens,
    e.costUsd,
    e.modelUsage ? JSON.stringify(e.modelUsage) : null,
    e.turns,
    e.durationMs,
    e.durationApiMs,
    e.outcome,
  );
}

interface RawConsultation {
  id: number;
  created_at: number;
  finished_at: number | null;
  trigger_id: string | null;
  trigger_kind: string | null;
  template_id: number | null;
  urgent: number;
  mode: 'auto' | 'manual';
  status: ConsultationStatus;
  worktree: string | null;
  model: string | null;
  brief: string;
  brief_tokens: number | null;
  outcome_kind: OutcomeKind | null;
  outcome: string | null;
  error_code: string | null;
  error: string | null;
  session_id: string | null;
  bundle_dir: string | null;
  manual_reason: string | null;
}

function toRow(r: RawConsultation): ConsultationRow {
  return {
    id: r.id,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    triggerId: r.trigger_id,
    triggerKind: r.trigger_kind,
    templateId: r.template_id,
    urgent: r.urgent === 1,
    mode: r.mode,
    status: r.status,
    worktree: r.worktree,
    model: r.model,
    brief: r.brief,
    briefTokens: r.brief_tokens,
    outcomeKind: r.outcome_kind,
    outcome: r.outcome ? (JSON.parse(r.outcome) as Outcome) : null,
    errorCode: r.error_code,
    error: r.error,
    sessionId: r.session_id,
    bundleDir: r.bundle_dir,
    manualReason: r.manual_reason,
  };
}

/** One consultation, or undefined. */
export function getConsultation(db: Db, id: number): ConsultationRow | undefined {
  const r = db.prepare('SELECT * FROM consultations WHERE id = ?').get(id) as RawConsultation | undefined;
  return r ? toRow(r) : undefined;
}

/** Consultations, newest first. */
export function listConsultations(
  db: Db,
  filter: { templateId?: number | undefined; limit?: number | undefined } = {},
): ConsultationRow[] {
  const where = filter.templateId !== undefined ? 'WHERE template_id = ?' : '';
  const args = filter.templateId !== undefined ? [filter.templateId] : [];
  const rows = db
    .prepare(`SELECT * FROM consultations ${where} ORDER BY created_at DESC, id DESC LIMIT ?`)
    .all(...args, filter.limit ?? 50) as RawConsultation[];
  return rows.map(toRow);
}

/** The ledger row of a consultation. */
export function getLedger(db: Db, consultationId: number): LedgerEntry | undefined {
  const r = db.prepare('SELECT * FROM consult_ledger WHERE consultation_id = ?').get(consultationId) as
    | Record<string, unknown>
    | undefined;
  if (!r) return undefined;
  return {
    consultationId: r.consultation_id as number,
    ts: r.ts as number,
    model: (r.model as string | null) ?? null,
    inputTokens: r.input_tokens as number,
    outputTokens: r.output_tokens as number,
    cacheReadTokens: r.cache_read_tokens as number,
    cacheCreationTokens: r.cache_creation_tokens as number,
    costUsd: r.cost_usd as number,
    modelUsage: r.model_usage ? (JSON.parse(r.model_usage as string) as Record<string, unknown>) : null,
    turns: r.turns as number,
    durationMs: r.duration_ms as number,
    durationApiMs: (r.duration_api_ms as number | null) ?? null,
    outcome: r.outcome as string,
  };
}

/** Spend and counts since a time, for the budget checks. */
export interface SpendSummary {
  /** Sum of cost_usd of runs that ended at or after `since`. */
  costUsd: number;
  /** Consultations run with a model (mode auto) created at or after `since`. */
  consultations: number;
}

/** Sum the ledger since `since` (ms) and count model consultations created since `sinceCount`. */
export function spendSince(db: Db, since: number, sinceCount: number = since): SpendSummary {
  const cost = db.prepare('SELECT COALESCE(SUM(cost_usd), 0) AS c FROM consult_ledger WHERE ts >= ?').get(since) as {
    c: number;
  };
  const count = db
    .prepare("SELECT COUNT(*) AS n FROM consultations WHERE mode = 'auto' AND created_at >= ?")
    .get(sinceCount) as { n: number };
  return { costUsd: cost.c, consultations: count.n };
}

/** How many consultations are recorded (0 without the table). */
export function consultationCount(db: Db): number {
  if (!tableExists(db, 'consultations')) return 0;
  return (db.prepare('SELECT COUNT(*) AS n FROM consultations').get() as { n: number }).n;
}

/** The newest consultation still running, or undefined (none, or no table). */
export function runningConsultation(db: Db): ConsultationRow | undefined {
  if (!hasConsultTables(db)) return undefined;
  const r = db.prepare("SELECT * FROM consultations WHERE status = 'running' ORDER BY id DESC LIMIT 1").get() as
    | RawConsultation
    | undefined;
  return r ? toRow(r) : undefined;
}

/** Every consultation, oldest first (by id). */
export function allConsultations(db: Db): ConsultationRow[] {
  if (!tableExists(db, 'consultations')) return [];
  return (db.prepare('SELECT * FROM consultations ORDER BY id').all() as RawConsultation[]).map(toRow);
}

/** Cost (USD) of the runs recorded in the ledger in [from, to) (the whole ledger by default). */
export function ledgerCostBetween(db: Db, from = 0, to = Number.MAX_SAFE_INTEGER): number {
  if (!tableExists(db, 'consult_ledger')) return 0;
  return (
    db.prepare('SELECT COALESCE(SUM(cost_usd), 0) AS c FROM consult_ledger WHERE ts >= ? AND ts < ?').get(from, to) as {
      c: number;
    }
  ).c;
}

/** How many consultations (any mode) were created in [from, to). */
export function consultationsCreatedBetween(db: Db, from: number, to: number): number {
  if (!tableExists(db, 'consultations')) return 0;
  return (
    db.prepare('SELECT COUNT(*) AS n FROM consultations WHERE created_at >= ? AND created_at < ?').get(from, to) as {
      n: number;
    }
  ).n;
}
