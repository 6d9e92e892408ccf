/**
 * The feed adapter: turns what the fix pipeline and the supervisor report (a fix transition, a
 * supervisor alert) into the bot's {@link NotifyEvent}s. The mapping is pure
 * ({@link fixTransitionToEvents}, {@link alertToEvents}); {@link fixInfoFromRecord} reads the
 * store for the snapshot; {@link createFixFeed} wires both to a hub and adds the diff.
 */
import { type FixRecord, gateSteps, gitOut, lastFixEvent, parseDiff, type Transition } from '../fixes/index.js';
import { templateById } from '../patterns/index.js';
import type { Db } from '../store/index.js';
import { type Alert, fixDeployVerdicts, fixOfDeploy } from '../supervise/index.js';
import { beforeAfterOf } from './before-after.js';
import type { FixInfo, GateResult, MetricsSnapshot, NotifyEvent, NotifyHub, PatternInfo } from './events.js';

const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** The fix's pattern as the bot shows it (the template's text and counts when the id is a template id). */
export function patternInfoFor(db: Db, patternId: string, patternText?: string | null): PatternInfo {
  const template = /^\d+$/.test(patternId) ? templateById(db, Number(patternId)) : undefined;
  if (!template) return { id: patternId, summary: patternText ?? `pattern ${patternId}` };
  const info: PatternInfo = {
    id: template.id,
    summary: template.text,
    count: template.count,
    firstSeen: template.firstSeen,
    lastSeen: template.lastSeen,
    status: template.status,
  };
  const level = LEVEL_NAMES[template.maxLevel];
  if (level) info.level = level;
  return info;
}

/** Gate results of the fix's last round (the one that decided). */
export function gateResultsFor(db: Db, fix: FixRecord): GateResult[] {
  return gateSteps(db, fix.id)
    .filter((s) => s.round === fix.repairRounds)
    .map((s) => {
      const g: GateResult = { name: s.name, ok: s.ok, durationMs: s.durationMs };
      const detail =
        s.note ?? (s.timedOut ? 'timed out' : !s.ok && s.exitCode !== null ? `exit code ${s.exitCode}` : undefined);
      if (detail) g.detail = detail;
      return g;
    });
}

/**
 * The bot's snapshot of a fix (no diff: {@link fixDiff} adds it). Reads the pattern template and
 * the gate steps from the store.
 */
export function fixInfoFromRecord(db: Db, fix: FixRecord): FixInfo {
  const info: FixInfo = {
    id: fix.id,
    state: fix.state,
    pattern: patternInfoFor(db, fix.patternId, fix.patternText),
    costUsd: fix.costUsd,
    createdAt: fix.createdAt,
    updatedAt: fix.updatedAt,
  };
  if (fix.summary) info.title = fix.summary;
  if (fix.analysis) info.analysis = fix.analysis;
  if (fix.rootCause) info.rootCause = fix.rootCause;
  if (fix.risk) info.risk = { level: fix.risk };
  if (fix.branch) info.branch = fix.branch;
  if (fix.consultationId) info.consultationId = fix.consultationId;
  if (fix.reason) info.reason = fix.reason;
  const gates = gateResultsFor(db, fix);
  if (gates.length > 0) info.gates = gates;
  return info;
}

/**
 * The fix's change as a unified diff with per-file counts (`git diff base..head` in `repo`), or
 * undefined when the fix has no commits yet or git cannot say.
 */
export async function fixDiff(
  repo: string,
  fix: FixRecord,
): Promise<{ diff: string; files: NonNullable<FixInfo['files']> } | undefined> {
  if (!fix.baseCommit || !fix.headCommit || fix.baseCommit === fix.headCommit) return undefined;
  try {
    const diff = await gitOut(repo, [
      'diff',
      '--no-color',
      '--no-ext-diff',
      '--no-textconv',
      '--text',
      `${fix.baseCommit}..${fix.headCommit}`,
    ]);
    const files = parseDiff(diff).files.map((f) => ({
      path: f.path,
      added: f.added.length,
      removed: f.removed.length,
    }));
    return { diff, files };
  } catch {
    // A pruned branch or a moved repository: the snapshot goes out without the diff.
    return undefined;
  }
}

/** What {@link fixTransitionToEvents} needs beyond the fix and the transition. */
export interface TransitionContext {
  /** The snapshot of the fix after the transition ({@link fixInfoFromRecord}, maybe with the diff). */
  info: FixInfo;
  /** The state before the transition. */
  from: string;
  /** When it happened (ms since epoch). */
  at: number;
  /** Before/after figures of the fix's last observed deploy ({@link deployFigures}). */
  figures?: { before: MetricsSnapshot; after: MetricsSnapshot } | undefined;
}

const short = (commit: string | null | undefined) => (commit ? commit.slice(0, 12) : 'unknown');

/**
 * The bot events for one recorded fix transition (pure). Always a `fix_state` with the full
 * snapshot; in addition:
 * - reaching `awaiting_approval`: `fix_proposed` (the proposal, with diff and gates) and
 *   `approval_requested`;
 * - `deploy` (merged; the deploy starts): `deploy_started` with the merge commit as release;
 * - `confirm` (the observation window closed healthy): `deploy_finished` ok;
 * - `rollback`: `rollback` (and, when the deploy itself failed, `deploy_finished` not ok first);
 * - `fail` by a stage that should not fail (agent, git, supervisor; not the gate or the policy,
 *   whose verdicts are ordinary outcomes): `failure`.
 */
export function fixTransitionToEvents(fix: FixRecord, t: Transition, ctx: TransitionContext): NotifyEvent[] {
  const { info, from, at } = ctx;
  const figures = ctx.figures ? { before: ctx.figures.before, after: ctx.figures.after } : {};
  const out: NotifyEvent[] = [
    {
      type: 'fix_state',
      at,
      fix: info,
      from,
      to: fix.state,
      actor: t.actor,
      ...(t.reason ? { reason: t.reason } : {}),
    },
  ];
  const release = short(fix.mergeCommit);
  switch (t.event) {
    case 'pass':
      if (fix.state === 'awaiting_approval') {
        out.push({ type: 'fix_proposed', at, fix: info }, { type: 'approval_requested', at, fix: info });
      }
      break;
    case 'deploy':
      out.push({ type: 'deploy_started', at, fixId: fix.id, release, fix: info });
      break;
    case 'confirm':
      out.push({
        type: 'deploy_finished',
        at,
        fixId: fix.id,
        release,
        ok: true,
        detail: t.reason,
        ...figures,
        fix: info,
      });
      break;
    case 'rollback':
      if (from === 'deploying') {
        out.push({ type: 'deploy_finished', at, fixId: fix.id, release, ok: false, detail: t.reason });
      }
      out.push({
        type: 'rollback',
        at,
        fixId: fix.id,
        fromRelease: release,
        ...(fix.rollbackCommit ? { toRelease: short(fix.rollbackCommit) } : {}),
        reason: t.reason,
        actor: t.actor,
        ok: true,
        ...figures,
        fix: info,
      });
      break;
    case 'fail':
      if (t.actor !== 'gate' && t.actor !== 'policy') {
        out.push({
          type: 'failure',
          at,
          component: `fixes:${t.actor}`,
          message: t.reason,
          fixId: fix.id,
          ...(fix.failedStep ? { code: fix.failedStep } : {}),
        });
      }
      break;
    default:
      break;
  }
  return out;
}

/**
 * Before/after figures of the newest deploy of `fixId` that has a verdict with numbers (the
 * observation window that just passed or failed), or undefined.
 */
export function deployFigures(db: Db, fixId: number): { before: MetricsSnapshot; after: MetricsSnapshot } | undefined {
  for (const verdict of fixDeployVerdicts(db, fixId, 3)) {
    const ba = beforeAfterOf(verdict);
    if (ba) return { before: ba.before, after: ba.after };
  }
  return undefined;
}

/** The state a fix left in its last recorded transition (the row `onTransition` follows). */
export function lastFromState(db: Db, fixId: number): { from: string; at: number } | undefined {
  const event = lastFixEvent(db, fixId);
  return event ? { from: event.fromState ?? 'new', at: event.ts } : undefined;
}

/**
 * The bot events for a supervisor alert (pure). A rollback of a deploy that belongs to a fix is
 * left out (`fixId` set): the fix pipeline records that rollback and its transition reports it.
 */
export function alertToEvents(alert: Alert, at: number, fixId?: number): NotifyEvent[] {
  switch (alert.kind) {
    case 'rolled_back': {
      if (fixId !== undefined) return [];
      const reason = typeof alert.details?.reason === 'string' ? alert.details.reason : alert.message;
      return [{ type: 'rollback', at, reason, actor: 'supervisor', ok: true }];
    }
    case 'failed':
      return [{ type: 'failure', at, component: 'supervisor', message: alert.message }];
    case 'deploy_failed':
      return [{ type: 'failure', at, component: 'deploy', message: alert.message, ...(fixId ? { fixId } : {}) }];
    case 'inconclusive':
      return [
        {
          type: 'failure',
          at,
          component: 'observe',
          message: `${alert.message} (a human decides: dancer accept or rollback)`,
          ...(fixId ? { fixId } : {}),
        },
      ];
  }
}

/** Options of {@link createFixFeed}. */
export interface FixFeedOptions {
  db: Db;
  hub: NotifyHub;
  /** The service repository: the proposal then carries the diff. */
  repo?: string | undefined;
  now?: (() => number) | undefined;
}

/**
 * Wire the pipeline and the supervisor to the bot: `onTransition` goes into `PipelineDeps`
 * (chain it with any other listener), `onAlert` into `SupervisorHooks`. `onTransition` never
 * throws (a failed snapshot is published as a `failure`), so it cannot stop the pipeline.
 */
export function createFixFeed(options: FixFeedOptions): {
  onTransition(fix: FixRecord, transition: Transition): Promise<void>;
  onAlert(alert: Alert): void;
} {
  const now = options.now ?? Date.now;
  const { db, hub } = options;
  return {
    async onTransition(fix, transition) {
      const at = now();
      try {
        const last = lastFromState(db, fix.id);
        const info = fixInfoFromRecord(db, fix);
        if (options.repo && fix.state === 'awaiting_approval') {
          const d = await fixDiff(options.repo, fix);
          if (d) Object.assign(info, d);
        }
        const figures =
          transition.event === 'confirm' || transition.event === 'rollback' ? deployFigures(db, fix.id) : undefined;
        for (const e of fixTransitionToEvents(fix, transition, { info, from: last?.from ?? 'unknown', at, figures }))
          hub.publish(e);
      } catch (error) {
        hub.publish({
          type: 'failure',
          at,
          component: 'notify',
          message: `could not report fix ${fix.id} (${transition.event}): ${error instanceof Error ? error.message : String(error)}`,
          fixId: fix.id,
        });
      }
    },
    onAlert(alert) {
      const deployId = typeof alert.details?.deployId === 'number' ? alert.details.deployId : undefined;
      const fixId = deployId === undefined ? undefined : fixOfDeploy(db, deployId);
      for (const e of alertToEvents(alert, now(), fixId)) hub.publish(e);
    },
  };
}
