/**
 * Deploys, rollbacks and accepts of one service: build a release once, hand off to it, run its
 * observation window (the pure {@link nextObservationStep} decides), roll back on a trigger or on
 * request. The worker lifecycle (spawn, handoff, crashes) stays in the supervisor, reached
 * through {@link DeployHost}.
 */
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import type { Db } from '../store/open.js';
import { type Clock, type Timers, Wakeable } from './clock.js';
import { crashesIn, nextObservationStep, observationPeriods } from './observation.js';
import { newErrorPatterns, periodStats } from './observe.js';
import type { ServiceConfig, SupervisorPaths } from './paths.js';
import { buildRelease, resolveCommit } from './releases.js';
import { EMERGENCY_STOP_FLAG, type SuperviseStore } from './state-store.js';
import {
  type DeployOptions,
  type DeployOutcome,
  type RollbackOutcome,
  type SupervisorHooks,
  type SupervisorState,
  shortRelease as short,
} from './types.js';
import type { Worker } from './worker.js';

/** What the deployer needs from the supervisor. */
export interface DeployHost {
  readonly name: string;
  readonly service: ServiceConfig;
  readonly paths: SupervisorPaths;
  readonly db: Db;
  readonly store: SuperviseStore;
  readonly hooks: SupervisorHooks;
  readonly clock: Clock;
  readonly timers: Timers;
  log(message: string): void;
  /** Run `fn` after every other exclusive operation (deploys, rollbacks, restarts never overlap). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Zero-downtime handoff to a built release. */
  handoff(release: string): Promise<{ worker: Worker; readyMs: number }>;
  currentRelease(): string;
  hasWorker(): boolean;
  getState(): SupervisorState;
  setState(state: SupervisorState): void;
  persist(): void;
  /** When the supervisor saw its workers crash (ms). */
  crashTimes(): readonly number[];
  /** Sample metrics now (the observer measures fresh figures). */
  sampleNow(now: number): void;
}

interface Observer {
  deployId: number;
  release: string;
  cancelled: string | undefined;
  sleeper: Wakeable;
  done: Promise<DeployOutcome>;
}

/** Deploy, observe, roll back and accept for one supervisor. */
export class Deployer {
  private observer: Observer | undefined;
  private crashLoop = false;

  constructor(private readonly host: DeployHost) {}

  /** The deploy being observed now, if any. */
  get observing(): { deployId: number; release: string } | undefined {
    return this.observer && { deployId: this.observer.deployId, release: this.observer.release };
  }

  /** True when the emergency stop flag is set. */
  emergencyStopped(): boolean {
    return this.host.store.getFlag(EMERGENCY_STOP_FLAG) !== undefined;
  }

  /** The supervisor gave up restarting: a window in progress ends in a crash-loop rollback. */
  onCrashLoop(): void {
    if (!this.observer) return;
    this.crashLoop = true;
    this.observer.sleeper.wake();
  }

  /** Wake the observer (shutdown). */
  wake(): void {
    this.observer?.sleeper.wake();
  }

  /**
   * Deploy `ref` (a git ref of the service's repository): build the release once, hand off to
   * it, and observe it for the window; roll back on any trigger.
   *
   * @throws {DancerError} `DANCER_EMERGENCY_STOP`, `DANCER_DEPLOY_FAILED`, `DANCER_NOT_READY`
   * (the new worker was not ready: the old one kept serving; the deploy row says so).
   */
  async deploy(ref: string, options: DeployOptions = {}): Promise<DeployOutcome> {
    const h = this.host;
    if (this.emergencyStopped()) {
      throw new DancerError(
        'DANCER_EMERGENCY_STOP',
        'Deploys are halted: the emergency stop is engaged (dancer resume).',
      );
    }
    if (this.observer) {
      throw new DancerError(
        'DANCER_DEPLOY_FAILED',
        `Deploy #${this.observer.deployId} is still being observed; wait for its verdict or roll it back.`,
        { details: { deployId: this.observer.deployId } },
      );
    }
    const svc = h.service;
    const commit = resolveCommit(h.paths.repo, ref);
    const deployId = await h.exclusive(async () => {
      const from = h.currentRelease();
      const id = h.store.insertDeploy({
        service: h.name,
        kind: 'deploy',
        fromRelease: from,
        toRelease: commit,
        fixId: options.fixId ?? null,
        targetTemplateId: options.targetTemplateId ?? null,
        status: 'building',
        reason: options.reason ?? null,
        actor: options.actor ?? 'cli',
        startedAt: h.clock(),
      });
      h.log(`deploy #${id}: building ${short(commit)}`);
      try {
        await buildRelease({
          service: h.name,
          repo: h.paths.repo!,
          commit,
          releasesDir: h.paths.releasesDir,
          build: svc.build,
          store: h.store,
          env: svc.env,
          onOutput: (chunk) => h.hooks.onLog?.(chunk.toString('utf8').trimEnd()),
        });
      } catch (error) {
        h.store.updateDeploy(id, {
          status: 'failed',
          reason: `build failed: ${errorMessage(error)}`,
          finishedAt: h.clock(),
        });
        h.hooks.onAlert?.({ kind: 'deploy_failed', message: `deploy #${id} failed to build: ${errorMessage(error)}` });
        throw error;
      }
      h.store.updateDeploy(id, { status: 'starting' });
      const prev = h.getState();
      h.setState('deploying');
      try {
        await h.handoff(commit);
      } catch (error) {
        h.setState(h.hasWorker() ? 'running' : prev);
        const why =
          isDancerError(error, 'DANCER_NOT_READY') && error.details.exited !== true
            ? 'readiness_failed'
            : 'start_failed';
        h.store.updateDeploy(id, {
          status: 'rolled_back',
          reason: `${why}: ${errorMessage(error)}; the previous release kept serving`,
          finishedAt: h.clock(),
        });
        h.persist();
        h.hooks.onAlert?.({
          kind: 'rolled_back',
          message: `deploy #${id} rolled back: ${why}`,
          details: { reason: why },
        });
        throw error;
      }
      const now = h.clock();
      h.store.saveState(h.name, { currentRelease: commit, previousRelease: from });
      h.store.updateDeploy(id, {
        status: 'observing',
        readyAt: now,
        windowEndsAt: now + svc.observe.windowSeconds * 1000,
      });
      h.log(`deploy #${id}: ${short(commit)} serving; observing for ${svc.observe.windowSeconds} s`);
      return id;
    });
    const done = this.observe(deployId);
    if (options.noWait) return { deployId, release: commit, status: 'observing', reasons: [] };
    return done;
  }

  /** Run (or resume) the observation window of a deploy; resolves with its outcome. */
  observe(deployId: number): Promise<DeployOutcome> {
    const h = this.host;
    const o = h.service.observe;
    const observer: Observer = {
      deployId,
      release: h.store.getDeploy(deployId)?.toRelease ?? '',
      cancelled: undefined,
      sleeper: new Wakeable(h.timers),
      done: Promise.resolve(undefined as never),
    };
    this.crashLoop = false;
    this.observer = observer;
    observer.done = (async (): Promise<DeployOutcome> => {
      const deploy = h.store.getDeploy(deployId)!;
      const seen = { startedAt: deploy.startedAt, readyAt: deploy.readyAt ?? h.clock(), extensions: deploy.extensions };
      try {
        for (;;) {
          await observer.sleeper.wait(o.checkEverySeconds * 1000);
          if (observer.cancelled) {
            return { deployId, release: observer.release, status: 'rolled_back', reasons: [observer.cancelled] };
          }
          const state = h.getState();
          if (state === 'stopping' || state === 'stopped') {
            return { deployId, release: observer.release, status: 'observing', reasons: ['supervisor stopping'] };
          }
          const now = h.clock();
          h.sampleNow(now);
          const periods = observationPeriods(seen, o, now);
          const crashes = h.crashTimes();
          const baseline = periodStats(h.db, {
            service: h.name,
            ...periods.baseline,
            targetTemplateId: deploy.targetTemplateId,
            crashes: crashesIn(crashes, periods.baseline),
          });
          const window = periodStats(h.db, {
            service: h.name,
            ...periods.window,
            targetTemplateId: deploy.targetTemplateId,
            crashes: crashesIn(crashes, periods.window),
          });
          const step = nextObservationStep({
            deploy: seen,
            observe: o,
            now,
            baseline,
            window,
            newPatterns: newErrorPatterns(h.db, seen.readyAt, now + 1, deploy.startedAt),
            crashLoop: this.crashLoop,
          });
          const verdict = step.verdict;
          const record = { ...verdict, baseline, window, at: now };
          if (step.kind === 'continue') continue;
          if (step.kind === 'extend') {
            seen.extensions = step.extensions;
            h.store.updateDeploy(deployId, {
              extensions: step.extensions,
              windowEndsAt: step.windowEndsAt,
              verdict: record,
            });
            h.log(`deploy #${deployId}: ${verdict.reasons.join('; ')}; window extended`);
            continue;
          }
          if (step.kind === 'pass') {
            h.store.updateDeploy(deployId, {
              status: 'succeeded',
              finishedAt: now,
              verdict: record,
              reason: verdict.reasons.join('; '),
            });
            h.store.saveState(h.name, { lastGoodRelease: observer.release });
            h.log(`deploy #${deployId}: passed (${verdict.reasons.join('; ')})`);
            return { deployId, release: observer.release, status: 'succeeded', reasons: verdict.reasons, verdict };
          }
          if (step.kind === 'inconclusive') {
            h.store.updateDeploy(deployId, {
              status: 'inconclusive',
              finishedAt: now,
              verdict: record,
              reason: verdict.reasons.join('; '),
            });
            h.hooks.onAlert?.({ kind: 'inconclusive', message: `deploy #${deployId}: ${verdict.reasons.join('; ')}` });
            h.log(`deploy #${deployId}: inconclusive: ${verdict.reasons.join('; ')}`);
            return { deployId, release: observer.release, status: 'inconclusive', reasons: verdict.reasons, verdict };
          }
          h.store.updateDeploy(deployId, { verdict: record });
          h.log(`deploy #${deployId}: rolling back (${verdict.reasons.join('; ')})`);
          this.observer = undefined;
          const rb = await this.doRollback({
            reason: step.reason,
            actor: 'observer',
            deployId,
            detail: verdict.reasons.join('; '),
          });
          return {
            deployId,
            release: observer.release,
            status: 'rolled_back',
            reasons: verdict.reasons,
            verdict,
            rollbackDeployId: rb.deployId,
          };
        }
      } finally {
        if (this.observer === observer) this.observer = undefined;
      }
    })();
    return observer.done;
  }

  /**
   * Roll back to the previous release with the same handoff (no rebuild). A manual rollback
   * during an observation window ends that window and marks its deploy rolled back.
   *
   * @throws {DancerError} `DANCER_ROLLBACK_FAILED` when there is no previous release or it does not start.
   */
  rollback(options: { reason?: string; actor?: string } = {}): Promise<RollbackOutcome> {
    const observer = this.observer;
    if (observer) {
      observer.cancelled = `manual rollback${options.actor ? ` by ${options.actor}` : ''}`;
      this.observer = undefined;
      observer.sleeper.wake();
    }
    return this.doRollback({
      reason: options.reason ?? 'manual',
      actor: options.actor ?? 'cli',
      deployId: observer?.deployId ?? this.latestObservedOrInconclusive(),
    });
  }

  private latestObservedOrInconclusive(): number | undefined {
    const last = this.host.store.listDeploys(this.host.name, 5).find((d) => d.kind === 'deploy');
    return last && (last.status === 'observing' || last.status === 'inconclusive') ? last.id : undefined;
  }

  private doRollback(o: {
    reason: string;
    actor: string;
    deployId?: number | undefined;
    detail?: string;
  }): Promise<RollbackOutcome> {
    const h = this.host;
    return h.exclusive(async () => {
      const state = h.store.getState(h.name);
      const target = state?.previousRelease;
      const from = state?.currentRelease ?? null;
      if (!target) {
        throw new DancerError('DANCER_ROLLBACK_FAILED', 'There is no previous release to roll back to.');
      }
      const t0 = h.clock();
      const id = h.store.insertDeploy({
        service: h.name,
        kind: 'rollback',
        fromRelease: from,
        toRelease: target,
        fixId: null,
        targetTemplateId: null,
        status: 'starting',
        reason: o.detail ? `${o.reason}: ${o.detail}` : o.reason,
        actor: o.actor,
        startedAt: t0,
      });
      let readyMs: number;
      try {
        readyMs = (await h.handoff(target)).readyMs;
      } catch (error) {
        h.store.updateDeploy(id, {
          status: 'failed',
          reason: `${o.reason}; rollback failed: ${errorMessage(error)}`,
          finishedAt: h.clock(),
        });
        throw new DancerError('DANCER_ROLLBACK_FAILED', `Rollback to ${short(target)} failed: ${errorMessage(error)}`, {
          cause: error,
          details: { target },
        });
      }
      h.store.saveState(h.name, { currentRelease: target, previousRelease: from });
      h.store.updateDeploy(id, {
        status: 'succeeded',
        readyAt: t0 + readyMs,
        finishedAt: h.clock(),
        verdict: { readyMs },
      });
      if (o.deployId !== undefined) {
        h.store.updateDeploy(o.deployId, {
          status: 'rolled_back',
          reason: o.detail ? `${o.reason}: ${o.detail}` : o.reason,
          finishedAt: h.clock(),
        });
      }
      h.hooks.onAlert?.({
        kind: 'rolled_back',
        message: `${h.name} rolled back to ${short(target)} (${o.reason})`,
        details: { reason: o.reason, deployId: o.deployId },
      });
      h.log(`rolled back to ${short(target)} in ${readyMs} ms (${o.reason})`);
      return { deployId: id, from, to: target, readyMs };
    });
  }

  /**
   * The outcome of deploy `deployId` once its window has ended. An inconclusive deploy waits
   * for a human (`dancer accept` or `dancer rollback`).
   */
  async observation(deployId: number): Promise<DeployOutcome> {
    const h = this.host;
    for (;;) {
      if (this.observer?.deployId === deployId) {
        const outcome = await this.observer.done;
        if (outcome.status !== 'inconclusive' && outcome.status !== 'observing') return outcome;
      }
      const d = h.store.getDeploy(deployId);
      if (!d) throw new DancerError('DANCER_NOT_FOUND', `No deploy #${deployId}.`);
      if (!['building', 'starting', 'observing', 'inconclusive'].includes(d.status)) {
        return { deployId, release: d.toRelease, status: d.status, reasons: d.reason ? [d.reason] : [] };
      }
      if (h.getState() === 'stopped') {
        return { deployId, release: d.toRelease, status: d.status, reasons: ['supervisor stopped'] };
      }
      await new Promise<void>((resolve) => h.timers.setTimeout(resolve, 500));
    }
  }

  /** Mark an inconclusive deploy good (a human decided). */
  accept(actor = 'cli'): { deployId: number } {
    const h = this.host;
    const last = h.store.listDeploys(h.name, 10).find((d) => d.kind === 'deploy');
    if (!last || (last.status !== 'inconclusive' && last.status !== 'observing')) {
      throw new DancerError('DANCER_NOT_FOUND', 'No inconclusive or observed deploy to accept.');
    }
    if (this.observer?.deployId === last.id) {
      this.observer.cancelled = `accepted by ${actor}`;
      this.observer = undefined;
    }
    h.store.updateDeploy(last.id, { status: 'accepted', reason: `accepted by ${actor}`, finishedAt: h.clock() });
    h.store.saveState(h.name, { lastGoodRelease: last.toRelease });
    return { deployId: last.id };
  }
}
