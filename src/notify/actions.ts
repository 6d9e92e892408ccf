/**
 * What the bot can ask of the rest of Dancer. The supervisor wires real implementations (fix
 * pipeline, emergency stop, rollback); tests wire small ones over SQLite. Each method may be
 * synchronous or return a promise; a failure is a thrown `DancerError` (e.g. `DANCER_NOT_FOUND`,
 * `DANCER_ILLEGAL_TRANSITION`, `DANCER_EMERGENCY_STOP`), which the bot reports and audits.
 *
 * `by` is the actor as the fix pipeline records it: `human:<email>`.
 */
import type { DigestInfo, FixInfo, PatternInfo } from './events.js';

/** The answer to `status`. */
export interface StatusInfo {
  /** Set while the emergency stop is engaged. */
  stopped?: { by: string; at: number; reason?: string } | null;
  /** Supervisor and service, e.g. `{ state: 'running', release: 'a1b2c3d' }`. */
  service?: { name?: string; state: string; release?: string; pid?: number; since?: number };
  consultation?: { id: number | string; pattern: string; startedAt: number } | null;
  deploy?: { release: string; fixId?: number; startedAt: number; phase?: string } | null;
  /** Fixes waiting for a human. */
  awaitingApproval?: number[];
  /** Open fixes (not terminal). */
  openFixes?: number;
  /** Anything else worth a line. */
  notes?: string[];
}

/** The answer to `budget`. */
export interface BudgetInfo {
  todayUsd: number;
  dailyLimitUsd?: number;
  perConsultationLimitUsd?: number;
  monthUsd?: number;
  consultationsToday?: number;
  /** manual mode, missing credentials, ... */
  notes?: string[];
}

/** The result of a command that changes something. */
export interface ActionResult {
  /** What happened, for humans: `fix 42 approved; it deploys next.` */
  message: string;
}

/** The result of `stop`. */
export interface StopResult extends ActionResult {
  /** What was interrupted: `consultation 7 aborted`, `deploy of a1b2 rolled back`, ... */
  effects?: string[];
}

/** Everything the bot can do. See the module comment. */
export interface BotActions {
  status(): StatusInfo | Promise<StatusInfo>;
  patterns(): PatternInfo[] | Promise<PatternInfo[]>;
  /** Recent fixes, newest first. */
  fixes(): FixInfo[] | Promise<FixInfo[]>;
  /** One fix, or undefined when there is none with that id. */
  show(id: number): FixInfo | undefined | Promise<FixInfo | undefined>;
  approve(id: number, by: string): ActionResult | Promise<ActionResult>;
  reject(id: number, by: string, reason: string): ActionResult | Promise<ActionResult>;
  /** Roll back fix `id`, or the current release when `id` is undefined. */
  rollback(id: number | undefined, by: string): ActionResult | Promise<ActionResult>;
  /** Reopen a pattern the healing loop escalated (optional: without it `retry` is refused). */
  retryPattern?(pattern: string, by: string): ActionResult | Promise<ActionResult>;
  /**
   * Engage the emergency stop: persist the flag, abort a running consultation, halt the fix
   * pipeline and bring a deploy in progress to a safe state. Must take effect at once; may
   * resolve later (when the deploy is safe).
   */
  stop(by: string, reason?: string): StopResult | Promise<StopResult>;
  resume(by: string): ActionResult | Promise<ActionResult>;
  budget(): BudgetInfo | Promise<BudgetInfo>;
  /** Numbers for the daily digest (optional: without it the bot posts no digest). */
  digest?(from: number, to: number): DigestInfo | Promise<DigestInfo>;
}
