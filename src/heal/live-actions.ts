/**
 * The bot's actions over the real stages: the store (fixes, templates, the consult ledger, the
 * emergency-stop flag), the fix pipeline and the running supervisor. `dancer run` builds this
 * and hands it to {@link createZulipBot}.
 *
 * What the emergency stop forbids: `approve` (it would merge and deploy), `reject` (as on every
 * other face: nothing moves a fix while stopped) and `rollback ID` (a fix rollback merges a
 * revert and deploys it). Allowed while stopped: the reads, `rollback` without an id (a handoff
 * back to the previous release, no build, no deploy) and `resume`.
 */
import type { ConsultConfig } from '../config/index.js';
import {
  consultationsCreatedBetween,
  hasConsultTables,
  ledgerCostBetween,
  runningConsultation,
  spendSince,
} from '../consult/index.js';
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import {
  advanceFix,
  approveFix,
  type FixRecord,
  type FixState,
  fixesCreatedBetween,
  fixesEnteringState,
  getFix,
  IN_FLIGHT_STATES,
  listFixes,
  type PipelineDeps,
  ROLLBACK_STATES,
  rejectFix,
  reopenPattern,
  rollbackFix,
} from '../fixes/index.js';
import type {
  ActionResult,
  BotActions,
  BudgetInfo,
  DigestInfo,
  FixInfo,
  PatternInfo,
  StatusInfo,
  StopResult,
} from '../notify/index.js';
import { fixDiff, fixInfoFromRecord, patternInfoFor } from '../notify/index.js';
import { listTemplates } from '../patterns/index.js';
import type { Db } from '../store/index.js';
import {
  clearEmergencyStop,
  emergencyStop,
  type RollbackOutcome,
  refuseWhileStopped,
  type StatusReport,
  SuperviseStore,
  type Supervisor,
  setEmergencyStop,
  statusFromStore,
} from '../supervise/index.js';

/** Options of {@link createLiveActions}. */
export interface LiveActionsOptions {
  db: Db;
  /** The running supervisor (`dancer run`); without it status comes from the store. */
  supervisor?: Supervisor | undefined;
  /** The service name for a store-only status (default: the supervisor's, else none). */
  service?: string | undefined;
  /**
   * The fix pipeline's dependencies as they are now (the loop's `onTransition`, its current
   * abort signal, deploy/observe). Without them approvals are recorded but nothing merges.
   */
  pipeline?: (() => PipelineDeps | undefined) | undefined;
  /** Abort whatever consultation or pipeline run is going on (the emergency stop calls it). */
  abortRunning?: (() => void) | undefined;
  /** Called after `resume` cleared the flag (the loop re-arms its abort signal and resumes). */
  onResume?: (() => void) | undefined;
  /** `consult` from dancer.yaml, for the limits `budget` shows. */
  consult?: Pick<ConsultConfig, 'mode' | 'budget' | 'routine' | 'urgent'> | undefined;
  /** Errors of work the actions start in the background (advancing an approved fix). */
  onBackgroundError?: ((error: unknown, context: string) => void) | undefined;
  /** Records a rollback the supervisor made (the healing loop's recorder: revert, fix state, notifications). */
  recordRollback?: ((outcome: RollbackOutcome) => Promise<unknown>) | undefined;
  /**
   * Roll back fix `id` through the healing loop's one rollback path (its recorder): a handoff
   * while the fix serves, a revert deployed once it no longer does. Without it, `rollback ID`
   * uses the supervisor and the fix pipeline directly.
   */
  rollbackFix?: ((id: number, by: { actor: string; reason: string }) => Promise<FixRecord>) | undefined;
  /** How long `stop` waits for a deploy being built or handed off to settle (default 10 min). */
  stopSettleTimeoutMs?: number | undefined;
  now?: (() => number) | undefined;
}

/** {@link BotActions} plus what the loop needs to share the pipeline with the actions. */
export interface LiveActions extends BotActions {
  /**
   * Advance fix `id` through the pipeline, at most one run per fix at a time (a second call
   * while one runs returns the same promise). The loop should advance fixes through this so an
   * approval and the loop never drive the same fix twice. Resolves undefined without a pipeline.
   */
  advance(id: number): Promise<FixRecord | undefined>;
  /**
   * Everything `stop` does after persisting the flag: abort the running work and bring a deploy
   * to a safe state. For a flag set elsewhere (`dancer stop` from the CLI): see
   * {@link watchEmergencyStop}. Resolves with the effects, in words.
   */
  halt(): Promise<string[]>;
  /** Resolves once every background advance the actions started has ended. */
  settled(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** `human:alice@example.com` -> `alice@example.com` (the pipeline adds the prefix itself). */
function humanName(by: string): string {
  return by.startsWith('human:') ? by.slice('human:'.length) : by;
}

function shortRelease(release: string | null | undefined): string | undefined {
  if (!release) return undefined;
  return /^[0-9a-f]{40,64}$/.test(release) ? release.slice(0, 12) : release;
}

/** Start of the UTC day (and month) of `t`. */
export function utcDayStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}

function utcMonthStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/**
 * The bot's actions over the real stages. See the module comment for what the emergency stop
 * forbids; `stop` persists the flag first (the effect is immediate), then aborts the running
 * work and brings a deploy to a safe state before it resolves.
 *
 * Safe state of a deploy (the choice, documented): a deploy still building or handing off is
 * left to finish its handoff (the supervisor never drops the serving worker mid-handoff; a failed
 * handoff keeps the old release); a deploy in its observation window is rolled back to the
 * previous release (known good, a socket handoff, no rebuild), and its fix is recorded
 * `rolled_back` with a revert merged on main so main matches what runs. If that rollback fails
 * the new release keeps serving (the supervisor only swaps once the old one is ready) and the
 * effects say so.
 */
export function createLiveActions(options: LiveActionsOptions): LiveActions {
  const { db } = options;
  const now = options.now ?? Date.now;
  const inFlight = new Map<number, Promise<FixRecord | undefined>>();
  const serviceName = () => options.supervisor?.status().service ?? options.service;

  const deps = (): PipelineDeps | undefined => options.pipeline?.();
  const recordDeps = (): Pick<PipelineDeps, 'db' | 'clock' | 'onTransition' | 'log'> => {
    const d = deps();
    return { db, clock: now, onTransition: d?.onTransition, log: d?.log };
  };

  const assertNotStopped = (what: string) => refuseWhileStopped(db, what);

  const reportError = (error: unknown, context: string) => {
    if (options.onBackgroundError) options.onBackgroundError(error, context);
    else process.emitWarning(`${context}: ${errorMessage(error)}`, 'DancerNotify');
  };

  const advance = (id: number): Promise<FixRecord | undefined> => {
    const running = inFlight.get(id);
    if (running) return running;
    const d = deps();
    if (!d) return Promise.resolve(undefined);
    const p = advanceFix(d, id).finally(() => inFlight.delete(id));
    inFlight.set(id, p);
    return p;
  };

  const status = (): StatusInfo => {
    const service = serviceName();
    const report: StatusReport | undefined = options.supervisor
      ? options.supervisor.status()
      : service
        ? statusFromStore(db, service)
        : undefined;
    const flag = emergencyStop(db);
    const info: StatusInfo = {
      stopped: flag
        ? { by: flag.setBy ?? 'unknown', at: flag.setAt, ...(flag.reason ? { reason: flag.reason } : {}) }
        : null,
      consultation: null,
      deploy: null,
    };
    const notes: string[] = [];
    if (report) {
      const svc: NonNullable<StatusInfo['service']> = { name: report.service, state: report.state };
      const release = shortRelease(report.currentRelease);
      if (release) svc.release = release;
      if (report.pids[0] !== undefined) svc.pid = report.pids[0];
      if (report.uptimeSeconds !== null) svc.since = now() - report.uptimeSeconds * 1000;
      info.service = svc;
      if (report.recentRestarts > 0) notes.push(`${report.recentRestarts} recent restart(s)`);
      const store = new SuperviseStore(db);
      const current = store
        .listDeploys(report.service, 5)
        .find((d) => ['building', 'starting', 'observing', 'inconclusive'].includes(d.status));
      if (current) {
        info.deploy = {
          release: shortRelease(current.toRelease) ?? current.toRelease,
          startedAt: current.startedAt,
          phase: current.status,
          ...(current.fixId !== null ? { fixId: current.fixId } : {}),
        };
      }
    }
    const row = runningConsultation(db);
    if (row) {
      const pattern = row.templateId !== null ? patternInfoFor(db, String(row.templateId)).summary : 'no pattern';
      info.consultation = { id: row.id, pattern, startedAt: row.createdAt };
    }
    const open = listFixes(db, { states: IN_FLIGHT_STATES });
    info.openFixes = open.length;
    info.awaitingApproval = open.filter((f) => f.state === 'awaiting_approval').map((f) => f.id);
    if (notes.length > 0) info.notes = notes;
    return info;
  };

  const patterns = (): PatternInfo[] => {
    const fixing = new Set(listFixes(db, { states: IN_FLIGHT_STATES }).map((f) => f.patternId));
    return listTemplates(db, { minLevel: 50, limit: 10 }).map((t) => {
      const info = patternInfoFor(db, String(t.id));
      if (fixing.has(String(t.id))) info.status = 'fixing';
      return info;
    });
  };

  const fixes = (): FixInfo[] => {
    const open = listFixes(db, { states: IN_FLIGHT_STATES });
    const recent = listFixes(db, { limit: 20 });
    const seen = new Set<number>();
    const out: FixInfo[] = [];
    for (const f of [...open, ...recent].sort((a, b) => b.id - a.id)) {
      if (seen.has(f.id)) continue;
      seen.add(f.id);
      out.push(fixInfoFromRecord(db, f));
    }
    return out;
  };

  const show = async (id: number): Promise<FixInfo | undefined> => {
    let fix: FixRecord;
    try {
      fix = getFix(db, id);
    } catch (error) {
      if (isDancerError(error, 'DANCER_NOT_FOUND')) return undefined;
      throw error;
    }
    const info = fixInfoFromRecord(db, fix);
    const repo = deps()?.repo;
    if (repo) {
      const d = await fixDiff(repo, fix);
      if (d) Object.assign(info, d);
    }
    return info;
  };

  const approve = async (id: number, by: string): Promise<ActionResult> => {
    assertNotStopped(`approve fix ${id}`);
    await approveFix(recordDeps(), id, humanName(by));
    if (!deps()) return { message: `Fix ${id} approved; it merges and deploys when the fix pipeline runs.` };
    advance(id).catch((error) => reportError(error, `advancing approved fix ${id}`));
    return { message: `Fix ${id} approved; merging and deploying it now.` };
  };

  const reject = async (id: number, by: string, reason: string): Promise<ActionResult> => {
    assertNotStopped(`reject fix ${id}`);
    await rejectFix(recordDeps(), id, humanName(by), reason);
    return { message: `Fix ${id} rejected: ${reason}` };
  };

  /**
   * The one rollback path: the supervisor hands off to the last good release (no build), then
   * the rollback is recorded (revert merged on main, fix `rolled_back`, notifications) by the
   * healing loop's recorder, or here when no loop runs.
   */
  const rollbackServing = async (by: string, reason: string): Promise<string> => {
    const sup = options.supervisor as Supervisor;
    const outcome = await sup.rollback({ reason, actor: by });
    let note = '';
    if (outcome.fixId !== undefined) {
      try {
        const d = deps();
        if (options.recordRollback) await options.recordRollback(outcome);
        else if (d) {
          await rollbackFix({ ...d, signal: undefined }, outcome.fixId, { actor: `human:${humanName(by)}`, reason });
        }
        note = `; fix ${outcome.fixId} recorded rolled_back, its revert merged`;
      } catch (error) {
        note = `; recording the rollback of fix ${outcome.fixId} failed: ${errorMessage(error)}`;
      }
    }
    const what = outcome.fixId !== undefined ? `deploy of fix ${outcome.fixId}` : 'release';
    return `${what} rolled back to ${shortRelease(outcome.to)} in ${outcome.readyMs} ms${note}`;
  };

  /** True when fix `id`'s release is the one serving (its rollback is a handoff back). */
  const servingFix = (id: number): boolean => {
    const sup = options.supervisor;
    if (!sup) return false;
    const current = sup.status().currentRelease;
    return sup.store
      .listDeploys(sup.name, 50)
      .some((d) => d.kind === 'deploy' && d.fixId === id && d.toRelease === current);
  };

  const rollback = async (id: number | undefined, by: string): Promise<ActionResult> => {
    const reason = `rollback requested by ${humanName(by)}`;
    if (id === undefined) {
      if (!options.supervisor) {
        throw new DancerError('DANCER_SUPERVISOR_UNREACHABLE', 'No supervisor runs here; use dancer rollback.');
      }
      return { message: `Rolled back: ${await rollbackServing(by, reason)}.` };
    }
    const fix = getFix(db, id);
    const serving = ROLLBACK_STATES.includes(fix.state) && servingFix(id);
    if (!serving) assertNotStopped(`roll back fix ${id} (it merges a revert and deploys it)`);
    if (options.rollbackFix) {
      const after = await options.rollbackFix(id, { actor: humanName(by), reason });
      return {
        message: serving
          ? `Fix ${id} rolled back: the last good release serves again; revert ${shortRelease(after.rollbackCommit) ?? '?'} merged on main.`
          : `Fix ${id} rolled back (revert ${shortRelease(after.rollbackCommit) ?? '?'} merged and deployed).`,
      };
    }
    if (serving) {
      return { message: `Rolled back: ${await rollbackServing(by, reason)}.` };
    }
    const d = deps();
    if (!d) throw new DancerError('DANCER_USAGE', `Fix ${id} can only be rolled back where the fix pipeline runs.`);
    const after = await rollbackFix(d, id, { actor: `human:${humanName(by)}`, reason });
    return { message: `Fix ${id} rolled back (revert ${shortRelease(after.rollbackCommit) ?? '?'} deployed).` };
  };

  const retryPattern = (pattern: string, by: string): ActionResult => {
    const was = reopenPattern(db, pattern, `human:${humanName(by)}`, `reopened on Zulip by ${humanName(by)}`, now());
    return {
      message: was
        ? `Pattern ${pattern} reopened by ${humanName(by)}: the next trigger may start a fix.`
        : `Pattern ${pattern} was not escalated; its attempt count starts again from now.`,
    };
  };

  const waitForSettledDeploy = async (): Promise<void> => {
    const sup = options.supervisor;
    if (!sup) return;
    const deadline = Date.now() + (options.stopSettleTimeoutMs ?? 10 * 60 * 1000);
    const service = sup.status().service;
    const busy = () =>
      sup.store.listDeploys(service, 3).some((d) => d.status === 'building' || d.status === 'starting');
    while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  };

  const doHalt = async (): Promise<string[]> => {
    const effects: string[] = [];
    if (options.abortRunning) {
      options.abortRunning();
      effects.push('running consultation and fix pipeline aborted');
    }
    const sup = options.supervisor;
    const by = emergencyStop(db)?.setBy ?? 'supervisor';
    if (sup) {
      await waitForSettledDeploy();
      if (sup.status().observing) {
        try {
          effects.push(await rollbackServing(by, 'emergency stop during the observation window'));
        } catch (error) {
          effects.push(`rollback failed (${errorMessage(error)}); the new release keeps serving`);
        }
      }
    }
    return effects;
  };

  // The bot's stop and the flag watcher may both halt: concurrent halts share one run.
  let halting: Promise<string[]> | undefined;
  const halt = (): Promise<string[]> => {
    halting ??= doHalt().finally(() => {
      halting = undefined;
    });
    return halting;
  };

  const stop = async (by: string, reason?: string): Promise<StopResult> => {
    setEmergencyStop(db, by, reason ?? null, now());
    const effects = ['emergency stop flag set (persisted until resume)', ...(await halt())];
    return { message: `Emergency stop engaged${reason ? `: ${reason}` : ''}.`, effects };
  };

  const resume = (_by: string): ActionResult => {
    const was = clearEmergencyStop(db);
    if (was) options.onResume?.();
    return { message: was ? 'Emergency stop lifted; Dancer resumes.' : 'The emergency stop was not engaged.' };
  };

  const budget = (): BudgetInfo => {
    const t = now();
    const c = options.consult;
    if (!hasConsultTables(db)) return { todayUsd: 0, notes: ['no consultations recorded yet'] };
    const today = spendSince(db, utcDayStart(t));
    const lastDay = spendSince(db, t - DAY_MS);
    const info: BudgetInfo = {
      todayUsd: today.costUsd,
      consultationsToday: today.consultations,
      monthUsd: spendSince(db, utcMonthStart(t)).costUsd,
    };
    const notes: string[] = [];
    if (c) {
      info.dailyLimitUsd = c.budget.perDayUsd;
      info.perConsultationLimitUsd = c.routine.maxBudgetUsd;
      notes.push(
        `last 24 h: $${lastDay.costUsd.toFixed(2)} of $${c.budget.perDayUsd} (the daily limit is a rolling 24 h)`,
        `per consultation: $${c.routine.maxBudgetUsd} routine, $${c.urgent.maxBudgetUsd} urgent; at most ${c.budget.perHour} an hour`,
      );
      if (c.mode === 'manual') notes.push('consult.mode is manual: consultations become bundles');
    }
    if (notes.length > 0) info.notes = notes;
    return info;
  };

  const digest = (from: number, to: number): DigestInfo => {
    const count = (toState: FixState) => fixesEnteringState(db, toState, from, to);
    const proposed = fixesCreatedBetween(db, from, to);
    const info: DigestInfo = {
      from,
      to,
      fixes: {
        proposed,
        deployed: count('deployed'),
        rolledBack: count('rolled_back'),
        rejected: count('rejected'),
        failed: count('failed'),
        open: listFixes(db, { states: IN_FLIGHT_STATES }).length,
      },
      costUsd: 0,
      topPatterns: listTemplates(db, { minLevel: 50, since: from, limit: 5 }).map((t) =>
        patternInfoFor(db, String(t.id)),
      ),
    };
    if (hasConsultTables(db)) {
      info.costUsd = ledgerCostBetween(db, from, to);
      info.consultations = consultationsCreatedBetween(db, from, to);
    }
    if (options.consult) info.budgetUsd = options.consult.budget.perDayUsd;
    return info;
  };

  return {
    status,
    patterns,
    fixes,
    show,
    approve,
    reject,
    rollback,
    retryPattern,
    stop,
    resume,
    budget,
    digest,
    advance,
    halt,
    async settled() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight.values()]);
    },
  };
}

/**
 * Poll the persisted emergency-stop flag (set by `dancer stop` in another process, or by the
 * bot) and call `onEngaged` once per engagement (also for one already set at start). `dancer run` passes `() => actions.halt()` so a CLI stop takes effect within
 * `intervalMs` (default 250 ms). Returns the function that stops watching.
 */
export function watchEmergencyStop(
  db: Db,
  onEngaged: (flag: { setBy: string | null; reason: string | null; setAt: number }) => unknown,
  options: { intervalMs?: number; onError?: (error: unknown) => void } = {},
): () => void {
  // An engagement is identified by its time, so a resume and a new stop between two polls count.
  let seen: number | undefined;
  const check = () => {
    try {
      const flag = emergencyStop(db);
      if (flag && flag.setAt !== seen) {
        seen = flag.setAt;
        Promise.resolve(onEngaged(flag)).catch((error: unknown) => options.onError?.(error));
      } else if (!flag) seen = undefined;
    } catch (error) {
      options.onError?.(error);
    }
  };
  check();
  const timer = setInterval(check, options.intervalMs ?? 250);
  timer.unref();
  return () => clearInterval(timer);
}
