/**
 * The healing loop: what turns a running supervisor into a service that fixes itself.
 *
 * detector trigger → fix pipeline (consultation in a worktree → gate → policy → approval)
 * → deploy through the supervisor → observation window → deployed, or rolled back.
 *
 * The stages do the work; this module only connects them, serialises the work (one fix at a
 * time, as the detector's concurrency limit intends), obeys the emergency stop, and picks up what
 * humans decided elsewhere (an approval or a retry from the CLI, Zulip or the dashboard arrives as
 * a row in the store, so the loop polls for it).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { LoadedConfig } from '../config/index.js';
import type { ConsultationResult } from '../consult/index.js';
import { createFixAgent } from '../consult/index.js';
import { errorMessage } from '../errors.js';
import type { DeployFn, ObserveFn, Transition } from '../fixes/index.js';
import {
  consultPolicy,
  type FixRecord,
  gateCombinedTree,
  IN_FLIGHT_STATES,
  listFixes,
  type PipelineDeps,
  processRetryRequests,
  resolveWorktreeBase,
  resumePipeline,
  startFix,
} from '../fixes/index.js';
import type { NotifyHub } from '../notify/index.js';
import { createFixFeed, patternInfoFor, recordAudit } from '../notify/index.js';
import type { TriggerEvent } from '../patterns/index.js';
import { addCodeRoots, setTemplateStatus, templateIdentity } from '../patterns/index.js';
import { latestErrorOfTemplate } from '../store/index.js';
import { emergencyStop, fixDeployFunctions, supervisorPaths } from '../supervise/index.js';
import { consultReads } from './consult-reads.js';
import { type TemplateLike, templateStatusAfter, triggerToFixTrigger } from './decide.js';
import { createLiveActions, type LiveActions, watchEmergencyStop } from './live-actions.js';
import { startRollbackRecorder } from './rollback-recorder.js';
import type { RunningService } from './run-service.js';
import { gateTrigger } from './trigger-gate.js';

/** Options of {@link startHealingLoop}. */
export interface HealingLoopOptions {
  running: RunningService;
  loaded: LoadedConfig;
  /** Progress lines. Default: stderr. */
  log?: (message: string) => void;
  /** Environment for the agent (API key, ANTHROPIC_BASE_URL). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** How often the store is checked for human decisions and the emergency stop, ms. Default 500. */
  pollMs?: number;
  /** Every fix transition, after it is recorded (notifications, the demo's narration). */
  onTransition?: (fix: FixRecord, transition: Transition) => void | Promise<void>;
  /** Every consultation result (ledger views, notifications). */
  onConsultation?: (result: ConsultationResult) => void;
  /** Where fix and consultation events are published (the Zulip bot subscribes). */
  hub?: NotifyHub | undefined;
  now?: () => number;
  /**
   * With a `fleet:` section: the fleet's word before a consultation (one host per pattern
   * fleet-wide; src/fleet). `finish` is called once this host's fix is settled.
   */
  fleetGate?: FleetGateHook | undefined;
  /**
   * With a `fleet:` section: the lease holder's hand-off to the fleet rollout (src/fleet). The
   * pipeline's deploy and observe go through it (push to the shared remote, the fleet rollout
   * with this host as the canary), and every fix transition is reported to it.
   */
  fleetPipeline?: FleetPipelineHook | undefined;
}

/** The narrow seam between the fix pipeline and the fleet rollout (see src/fleet/rollout-handoff.ts). */
export interface FleetPipelineHook {
  /** Wrap this host's deploy and observe (the supervisor's) with the fleet's. */
  deployFunctions(
    local: { deploy: DeployFn; observe: ObserveFn },
    recheck?: (request: {
      fixId: number;
      commit: string;
      base: string;
      signal?: AbortSignal | undefined;
    }) => Promise<{ ok: true; summary?: string | undefined } | { ok: false; reason: string }>,
  ): { deploy: DeployFn; observe: ObserveFn };
  /**
   * After every recorded transition of a local fix. Never throws. Resolves with a line for the
   * audit log when the fix ended after reaching the fleet (what became of its rollout).
   */
  onTransition(fix: FixRecord): Promise<string | undefined>;
}

/** The narrow seam between the healing loop and the fleet (see src/fleet/gate.ts). */
export type FleetGateHook = (input: {
  patternId: string;
  templateText?: string | undefined;
  fingerprint?: string | undefined;
}) => Promise<
  | { kind: 'skip'; reason: string }
  | { kind: 'consult'; finish(outcome: { ok: boolean; details?: Record<string, unknown> }): Promise<void> }
>;

/** A running healing loop. */
export interface HealingLoop {
  /** The pipeline dependencies in force (for the Zulip actions and the CLI adapters). */
  deps(): PipelineDeps;
  /** The actions humans take (approve, reject, rollback, stop, resume...), shared with the Zulip bot. */
  actions: LiveActions;
  /** Abort the consultation or pipeline step running now (the emergency stop does this itself). */
  abortRunning(reason: string): void;
  /** Resolves when no work is queued or running. */
  idle(): Promise<void>;
  /** Stop taking work, abort what runs, and wait for it to settle. */
  stop(): Promise<void>;
}

/**
 * Connect the detector of a running service to the fix pipeline and the supervisor's deploys.
 * Fixes interrupted by a restart are resumed first.
 */
export function startHealingLoop(options: HealingLoopOptions): HealingLoop {
  const { running, loaded } = options;
  const { config } = loaded;
  const log = options.log ?? ((m: string) => process.stderr.write(`dancer: ${m}\n`));
  const now = options.now ?? Date.now;
  const db = running.db;
  const repo = loaded.resolve(config.fixes.repo);
  const configPath = loaded.file ? relativeInside(repo, loaded.file) : undefined;
  const stateDir = supervisorPaths(loaded).stateDir;
  const localDeploy = fixDeployFunctions(running.supervisor);
  // A fleet fix re-merged onto a main another host moved passes the gate again before its push.
  const deployFns = options.fleetPipeline
    ? options.fleetPipeline.deployFunctions(localDeploy, (r) => gateCombinedTree(makeDeps(), r))
    : localDeploy;
  // One base for the fix worktrees, the agent's hidden paths and the code roots: the default under
  // /var/dancer is per service, so every use must name the service.
  const worktreeBase = resolveWorktreeBase(config.fixes.worktreeBase, loaded.dir, config.service?.name);
  addCodeRoots({ roots: [repo], containers: [worktreeBase] });

  let controller = new AbortController();
  let stopped = false;
  let queue: Promise<void> = Promise.resolve();
  let pending = 0;
  const advancing = new Set<number>();

  const feed = options.hub ? createFixFeed({ db, hub: options.hub, repo, now }) : undefined;
  const onTransition = async (fix: FixRecord, t: Transition) => {
    const status = templateStatusAfter(fix.state, t);
    const templateId = Number(fix.patternId);
    if (status && Number.isInteger(templateId)) {
      try {
        setTemplateStatus(db, templateId, status);
      } catch (error) {
        log(`pattern ${templateId}: status not updated: ${errorMessage(error)}`);
      }
    }
    const fleetNote = await options.fleetPipeline?.onTransition(fix);
    if (fleetNote) {
      log(`fix ${fix.id}: ${fleetNote}`);
      recordAudit(db, {
        ts: now(),
        actor: 'fleet',
        source: 'system',
        action: 'fleet_rollout',
        target: `fix:${fix.id}`,
        outcome: 'ok',
        detail: fleetNote,
      });
    }
    await feed?.onTransition(fix, t);
    await options.onTransition?.(fix, t);
  };

  const makeDeps = (): PipelineDeps => {
    // A stop aborted the controller; once the stop is lifted, new work gets a live signal even
    // before the poll notices the resume (a trigger right after `resume` is not lost).
    if (controller.signal.aborted && !stopped && emergencyStop(db) === undefined) controller = new AbortController();
    const signal = controller.signal;
    const agent = createFixAgent({
      db,
      config: config.consult,
      policy: consultPolicy(config.policy, config.fixes, configPath),
      signal,
      dbPath: loaded.resolve(config.store.path),
      bundleDir: path.join(stateDir, 'bundles'),
      env: options.env ?? process.env,
      now,
      onResult: options.onConsultation,
      sandboxConfig: config.fixes.sandbox,
      hide: [stateDir, worktreeBase],
      reads: consultReads(),
    });
    return {
      db,
      repo,
      hide: [stateDir],
      worktreeBase,
      fixes: config.fixes,
      policy: config.policy,
      configPath,
      runAgent: async (worktree, brief, repair) => {
        const pattern = patternInfoFor(db, brief.patternId, brief.patternText);
        const at = now();
        options.hub?.publish({
          type: 'consultation_started',
          at,
          consultationId: `fix-${brief.fixId}`,
          fixId: brief.fixId,
          pattern,
          trigger: repair ? `repair round ${repair.round} after ${repair.failedStep}` : `fix ${brief.fixId}`,
        });
        try {
          const outcome = await agent(worktree, brief, repair);
          options.hub?.publish({
            type: 'consultation_finished',
            at: now(),
            consultationId: outcome.consultationId ?? `fix-${brief.fixId}`,
            fixId: brief.fixId,
            pattern,
            outcome: outcome.kind,
            ...(outcome.summary ? { summary: outcome.summary } : {}),
            ...(outcome.costUsd !== undefined ? { costUsd: outcome.costUsd } : {}),
          });
          return outcome;
        } catch (error) {
          options.hub?.publish({
            type: 'consultation_finished',
            at: now(),
            consultationId: `fix-${brief.fixId}`,
            fixId: brief.fixId,
            pattern,
            outcome: signal.aborted ? 'aborted' : 'failed',
            summary: errorMessage(error),
          });
          throw error;
        }
      },
      deploy: deployFns.deploy,
      observe: deployFns.observe,
      clock: now,
      signal,
      onTransition,
      log: (m) => log(m),
    };
  };

  const recorder = startRollbackRecorder({ supervisor: running.supervisor, deps: makeDeps, log });
  const actions = createLiveActions({
    recordRollback: (outcome) => recorder.record(outcome),
    rollbackFix: (id, by) => recorder.rollbackFix(id, by),
    db,
    supervisor: running.supervisor,
    pipeline: makeDeps,
    consult: config.consult,
    abortRunning: () => controller.abort(new Error('emergency stop')),
    onResume: () => afterResume(),
    onBackgroundError: (error, context) => log(`${context}: ${errorMessage(error)}`),
    now,
  });
  const unwatchStop = watchEmergencyStop(db, () => actions.halt(), {
    onError: (error) => log(`emergency stop watch: ${errorMessage(error)}`),
  });

  const enqueue = (label: string, job: () => Promise<unknown>) => {
    pending++;
    queue = queue
      .then(async () => {
        if (stopped) return;
        await job();
      })
      .catch((error) => log(`${label}: ${errorMessage(error)}`))
      .finally(() => {
        pending--;
      });
  };

  const isStopped = () => emergencyStop(db) !== undefined;
  // Triggers that arrived while stopped: kept (the latest per pattern) and taken up on resume.
  const held = new Map<string, TriggerEvent>();
  let resuming = false;
  /**
   * After a resume (from any face): a live abort signal, the fixes a stop left in proposed or
   * testing resumed (or closed) now rather than at the next restart, and the held triggers run.
   */
  const afterResume = () => {
    if (resuming) return;
    resuming = true;
    if (controller.signal.aborted) controller = new AbortController();
    enqueue('resume', async () => {
      try {
        const resumed = await resumePipeline(makeDeps());
        if (resumed.length > 0) log(`resumed ${resumed.length} fix(es) left by the emergency stop`);
      } finally {
        resuming = false;
      }
    });
    const triggers = [...held.values()];
    held.clear();
    for (const t of triggers) onTrigger(t);
  };

  const onTrigger = (trigger: TriggerEvent) => {
    if (isStopped()) {
      log(`trigger held until resume, the emergency stop is engaged: ${trigger.reason}`);
      held.set(trigger.templateId !== undefined ? `t${trigger.templateId}` : trigger.id, trigger);
      running.detector?.complete(trigger.id);
      return;
    }
    // With its stack fingerprint: two templates may share a text (`checkout failed`), and the
    // pattern hash names the fix branch.
    const template =
      trigger.templateId === undefined
        ? undefined
        : (templateIdentity(db, trigger.templateId) as TemplateLike | undefined);
    const fixTrigger = triggerToFixTrigger(
      trigger,
      template && { ...template, text: describePattern(db, trigger.templateId as number, template.text) },
      hashText,
    );
    enqueue(`trigger ${trigger.id}`, async () => {
      const gate = gateTrigger(db, {
        patternId: fixTrigger.patternId,
        templateId: trigger.templateId,
        now: now(),
        limits: config.fixes,
      });
      if (gate.kind === 'skip') {
        log(`no consultation: ${gate.reason}`);
        if (gate.escalated) {
          options.hub?.publish({
            type: 'failure',
            at: now(),
            component: 'healing loop',
            message: gate.reason,
            code: 'pattern_escalated',
          });
        }
        running.detector?.complete(trigger.id);
        return;
      }
      // fleet: one consultation per pattern fleet-wide (src/fleet/gate.ts)
      const fleet = await options.fleetGate?.({
        patternId: fixTrigger.patternId,
        templateText: template?.text,
        fingerprint: template?.fingerprint ?? undefined,
      });
      if (fleet?.kind === 'skip') {
        log(`no consultation: ${fleet.reason}`);
        running.detector?.complete(trigger.id);
        return;
      }
      try {
        log(`consulting on pattern ${fixTrigger.patternId}: ${trigger.reason}`);
        const fix = await startFix(makeDeps(), fixTrigger, { actor: 'detector' });
        log(`fix ${fix.id} is ${fix.state}`);
        // A fix still in flight (awaiting approval) keeps the lease; the fleet's hand-off
        // finishes it when the fix ends.
        if (!IN_FLIGHT_STATES.includes(fix.state)) {
          await fleet
            ?.finish({
              ok: fix.state !== 'failed' && fix.state !== 'rolled_back',
              details: { fixState: fix.state, branch: fix.branch },
            })
            .catch((error) => log(`fleet: ${errorMessage(error)}`));
        }
      } finally {
        running.detector?.complete(trigger.id);
      }
    });
  };
  running.detector?.on('trigger', onTrigger);

  // Human decisions made in other processes (CLI, Zulip, dashboard) and the emergency stop.
  let wasStopped = isStopped();
  const poll = setInterval(() => {
    if (stopped) return;
    try {
      const engaged = isStopped();
      if (engaged && !wasStopped) {
        log('emergency stop engaged: aborting the running consultation and pipeline step');
        controller.abort(new Error('emergency stop'));
      }
      // Held triggers also mean a stop came and went (possibly between two polls).
      if (!engaged && (wasStopped || held.size > 0)) {
        log('emergency stop cleared: resuming');
        afterResume();
      }
      wasStopped = engaged;
      if (engaged) return;
      if (controller.signal.aborted) controller = new AbortController();
      for (const fix of listFixes(db, { states: ['approved'] })) {
        if (advancing.has(fix.id)) continue;
        advancing.add(fix.id);
        enqueue(`fix ${fix.id}`, async () => {
          try {
            await actions.advance(fix.id);
          } finally {
            advancing.delete(fix.id);
          }
        });
      }
      if (pending === 0) {
        enqueue('retries', async () => {
          await processRetryRequests(makeDeps());
        });
      }
    } catch (error) {
      log(`healing loop poll failed: ${errorMessage(error)}`);
    }
  }, options.pollMs ?? 500);
  poll.unref();

  if (!isStopped()) {
    enqueue('resume', async () => {
      const recorded = await recorder.resume();
      if (recorded.length > 0) log(`recorded ${recorded.length} rollback(s) decided before a restart`);
      const resumed = await resumePipeline(makeDeps());
      if (resumed.length > 0) log(`resumed ${resumed.length} fix(es) after a restart`);
    });
  }

  const idle = async () => {
    while (pending > 0) await queue;
  };

  return {
    deps: makeDeps,
    actions,
    abortRunning(reason) {
      controller.abort(new Error(reason));
    },
    idle,
    async stop() {
      stopped = true;
      clearInterval(poll);
      unwatchStop();
      running.detector?.off('trigger', onTrigger);
      controller.abort(new Error('shutdown'));
      await queue;
      await actions.settled();
      await recorder.stop();
    },
  };
}

/**
 * The pattern as humans should read it: the template, and when its records carry an error, the
 * error's type and message too (a generic "request failed" says little; the error says what).
 */
function describePattern(db: RunningService['db'], templateId: number, text: string): string {
  const row = latestErrorOfTemplate(db, templateId, 'message');
  if (!row?.message || text.includes(row.message)) return text;
  return `${text}: ${row.type ? `${row.type}: ` : ''}${row.message}`;
}

function hashText(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `file` relative to `dir` when it lies inside it (for protecting dancer.yaml in the repo). */
function relativeInside(dir: string, file: string): string | undefined {
  const rel = path.relative(dir, file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? undefined : rel;
}
