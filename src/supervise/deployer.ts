/**
 * Deploys, rollbacks and accepts of one service: build a release once, hand off to it, run its
 * observation window (the pure {@link nextObservationStep} decides), roll back on a trigger or on
 * request. The worker lifecycle (spawn, handoff, crashes) stays in the supervisor, reached
 * through {@link DeployHost}.
 */
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import type { Db } from '../store/index.js';
import { type Clock, type Timers, Wakeable } from './clock.js';
import type { NotifyReceiver } from './notify.js';
import { crashesIn, nextObservationStep, observationPeriods } from './observation.js';
import { newErrorPatterns, periodStats, servedSince, templateOnset } from './observe.js';
import type { ServiceConfig, SupervisorPaths } from './paths.js';
import type { ReleaseQuality } from './release-quality.js';
import { buildRelease, resolveRelease } from './releases.js';
import { stageRelease } from './stage.js';
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
  /** Zero-downtime handoff to a built release (`stopOldFirst`: the serving worker stops accepting at once). */
  handoff(release: string, opts?: { stopOldFirst?: boolean }): Promise<{ worker: Worker; readyMs: number }>;
  currentRelease(): string;
  hasWorker(): boolean;
  getState(): SupervisorState;
  setState(state: SupervisorState): void;
  persist(): void;
  /** When the supervisor saw its workers crash (ms). */
  crashTimes(): readonly number[];
  /** Sample metrics now (the observer measures fresh figures). */
  sampleNow(now: number): void;
  /** Which releases served well or were rolled back. */
  readonly quality: ReleaseQuality;
  /** The folder a worker of `release` runs in. */
  releaseCwd(release: string): string;
  /** The NOTIFY_SOCKET receiver, when readiness.notify is on. */
  readonly notifyReceiver: NotifyReceiver | undefined;
  /** Variables of Dancer's environment that builds and workers do not inherit (its secrets). */
  readonly withholdEnv: readonly string[];
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
  private readonly listeners = new Set<(outcome: RollbackOutcome) => void>();

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
   * Deploy `ref` (a git ref of the service's repository). The release is keyed by the commit's
   * tree: a tree already serving changes nothing (`unchanged`, no deploy row); a tree that already
   * served as a good release is a restore (handoff, no window); new code is built once, staged on
   * a private socket when `service.smoke` is set, handed off to and observed for the window.
   *
   * @throws {DancerError} `DANCER_EMERGENCY_STOP`, `DANCER_DEPLOY_FAILED`, `DANCER_SMOKE_FAILED`
   * (no user saw it), `DANCER_NOT_READY` (the new worker was not ready: the old one kept serving).
   */
  async deploy(ref: string, options: DeployOptions = {}): Promise<DeployOutcome> {
    const h = this.host;
    const { commit, tree } = resolveRelease(h.paths.repo, ref);
    if (tree === h.currentRelease()) {
      h.log(`deploy of ${short(commit)}: its tree ${short(tree)} already serves; nothing to do`);
      return { deployId: 0, release: tree, status: 'unchanged', reasons: ['this tree already serves'] };
    }
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
    let restore = false;
    const deployId = await h.exclusive(async () => {
      const from = h.currentRelease();
      const id = h.store.insertDeploy({
        service: h.name,
        kind: 'deploy',
        fromRelease: from,
        toRelease: tree,
        fixId: options.fixId ?? null,
        targetTemplateId: options.targetTemplateId ?? null,
        status: 'building',
        reason: options.reason ?? null,
        actor: options.actor ?? 'cli',
        startedAt: h.clock(),
      });
      const fail = (status: 'failed' | 'rolled_back', reason: string, alert: 'deploy_failed' | 'rolled_back') => {
        h.store.updateDeploy(id, { status, reason, finishedAt: h.clock() });
        h.hooks.onAlert?.({ kind: alert, message: `deploy #${id} ${status.replace('_', ' ')}: ${reason}` });
      };
      h.log(`deploy #${id}: building ${short(commit)} (tree ${short(tree)})`);
      try {
        await buildRelease({
          service: h.name,
          repo: h.paths.repo!,
          commit,
          tree,
          releasesDir: h.paths.releasesDir,
          build: svc.build,
          store: h.store,
          env: svc.env,
          withholdEnv: h.withholdEnv,
          onOutput: (chunk) => h.hooks.onLog?.(chunk.toString('utf8').trimEnd()),
        });
      } catch (error) {
        fail('failed', `build failed: ${errorMessage(error)}`, 'deploy_failed');
        throw error;
      }
      restore = h.quality.isGood(tree);
      h.store.updateDeploy(id, { status: 'starting' });
      if (svc.smoke && !restore) {
        try {
          const staged = await stageRelease({
            service: svc,
            release: tree,
            cwd: h.releaseCwd(tree),
            env: { ...svc.env, DANCER_SERVICE: h.name },
            withholdEnv: h.withholdEnv,
            notify: h.notifyReceiver,
            log: (m) => h.log(m),
            onWorker: (pid, at) => h.quality.recordWorker(pid, tree, at, true),
          });
          h.log(`deploy #${id}: staged release passed readiness and smoke in ${staged.ms} ms`);
        } catch (error) {
          h.quality.markBad(tree, h.clock(), `smoke_failed: ${errorMessage(error)}`);
          fail('failed', `smoke_failed: ${errorMessage(error)}; no user request reached it`, 'deploy_failed');
          throw error;
        }
      }
      const prev = h.getState();
      h.setState('deploying');
      try {
        await h.handoff(tree);
      } catch (error) {
        h.setState(h.hasWorker() ? 'running' : prev);
        const why =
          isDancerError(error, 'DANCER_NOT_READY') && error.details.exited !== true
            ? 'readiness_failed'
            : 'start_failed';
        fail('rolled_back', `${why}: ${errorMessage(error)}; the previous release kept serving`, 'rolled_back');
        h.persist();
        throw error;
      }
      const now = h.clock();
      h.store.saveState(h.name, { currentRelease: tree, previousRelease: from });
      if (restore) {
        h.store.updateDeploy(id, {
          status: 'succeeded',
          readyAt: now,
          finishedAt: now,
          reason: `${options.reason ? `${options.reason}; ` : ''}restore: this tree already served as a good release`,
        });
        h.store.saveState(h.name, { lastGoodRelease: tree });
        h.log(`deploy #${id}: ${short(tree)} restored (a known good release; no window)`);
        return id;
      }
      h.store.updateDeploy(id, {
        status: 'observing',
        readyAt: now,
        windowEndsAt: now + svc.observe.windowSeconds * 1000,
      });
      h.log(`deploy #${id}: ${short(tree)} serving; observing for ${svc.observe.windowSeconds} s`);
      return id;
    });
    if (restore) return { deployId, release: tree, status: 'succeeded', reasons: ['restore of a known good release'] };
    const done = this.observe(deployId);
    if (options.noWait) return { deployId, release: tree, status: 'observing', reasons: [] };
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
      const bounds = {
        servedSince: servedSince(h.db, h.name, deploy.startedAt, o.baselineSeconds * 1000),
        targetOnset: deploy.targetTemplateId != null ? templateOnset(h.db, deploy.targetTemplateId) : undefined,
      };
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
          const periods = observationPeriods(seen, o, now, bounds);
          const crashes = h.crashTimes();
          const baseline = periodStats(h.db, {
            service: h.name,
            ...periods.baseline,
            targetTemplateId: deploy.targetTemplateId,
            crashes: crashesIn(crashes, periods.baseline),
          });
          baseline.targetDurationMs = Math.max(1, periods.baseline.to - periods.targetFrom);
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
            h.quality.markGood(observer.release, now);
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
   * Roll back by hand (`dancer rollback`, Zulip, the dashboard): the same path as an automatic
   * rollback. A rollback during an observation window ends that window.
   *
   * @throws {DancerError} `DANCER_ROLLBACK_FAILED` when there is no good release to go back to or it does not start.
   */
  rollback(options: { reason?: string; actor?: string } = {}): Promise<RollbackOutcome> {
    const observer = this.observer;
    if (observer) {
      observer.cancelled = `manual rollback${options.actor ? ` by ${options.actor}` : ''}`;
      this.observer = undefined;
      observer.sleeper.wake();
    }
    return this.doRollback({ reason: options.reason ?? 'manual', actor: options.actor ?? 'cli' });
  }

  /** Listen to every completed rollback (the healing loop records the revert in git). */
  onRollback(listener: (outcome: RollbackOutcome) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The release to go back to: the newest good release that is not `current`, else the last good or previous one that was never rolled back. */
  private rollbackTarget(current: string | null): string | undefined {
    const h = this.host;
    const good = h.quality.newestGood(current ?? '');
    if (good) return good;
    const state = h.store.getState(h.name);
    for (const r of [state?.lastGoodRelease, state?.previousRelease]) {
      if (r && r !== current && !h.quality.isBad(r)) return r;
    }
    return undefined;
  }

  /** The deploy that put `release` in service (the one a rollback undoes). */
  private deployOf(release: string | null): { id: number; fixId: number | null } | undefined {
    if (!release) return undefined;
    const d = this.host.store
      .listDeploys(this.host.name, 50)
      .find((row) => row.kind === 'deploy' && row.toRelease === release && row.readyAt !== null);
    return d && { id: d.id, fixId: d.fixId };
  }

  /**
   * The one rollback path. The decision is persisted first (a rollback row `starting`, the bad
   * deploy `rolled_back`, the bad release marked), so a supervisor killed from here on resumes
   * to the same end; then the handoff to the good release's folder (no build); then listeners
   * record the revert in git.
   */
  private async doRollback(o: { reason: string; actor: string; detail?: string }): Promise<RollbackOutcome> {
    const h = this.host;
    const decidedAt = h.clock();
    const state = h.store.getState(h.name);
    const from = state?.currentRelease ?? null;
    const target = this.rollbackTarget(from);
    if (!target || target === from) {
      throw new DancerError('DANCER_ROLLBACK_FAILED', 'There is no good release to roll back to.', {
        details: { current: from },
      });
    }
    const why = o.detail ? `${o.reason}: ${o.detail}` : o.reason;
    const bad = this.deployOf(from);
    const id = h.store.insertDeploy({
      service: h.name,
      kind: 'rollback',
      fromRelease: from,
      toRelease: target,
      fixId: bad?.fixId ?? null,
      targetTemplateId: null,
      status: 'starting',
      reason: why,
      actor: o.actor,
      startedAt: decidedAt,
    });
    if (bad) h.store.updateDeploy(bad.id, { status: 'rolled_back', reason: why, finishedAt: decidedAt });
    if (from) h.quality.markBad(from, decidedAt, why);
    h.log(`rollback #${id} decided (${o.reason}): ${short(from)} -> ${short(target)}`);
    return h.exclusive(async () => {
      try {
        await h.handoff(target, { stopOldFirst: true });
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
      const readyAt = h.clock();
      const readyMs = readyAt - decidedAt;
      h.store.saveState(h.name, { currentRelease: target, previousRelease: from, lastGoodRelease: target });
      h.store.updateDeploy(id, { status: 'succeeded', readyAt, finishedAt: readyAt, verdict: { readyMs } });
      h.hooks.onAlert?.({
        kind: 'rolled_back',
        message: `${h.name} rolled back to ${short(target)} (${why})`,
        details: { reason: why, deployId: bad?.id, fixId: bad?.fixId },
      });
      h.log(`rolled back to ${short(target)} in ${readyMs} ms (${o.reason})`);
      const outcome: RollbackOutcome = {
        deployId: id,
        from,
        to: target,
        readyMs,
        decidedAt,
        rolledBackDeployId: bad?.id,
        fixId: bad?.fixId ?? undefined,
        actor: o.actor,
        reason: why,
      };
      for (const listener of this.listeners) {
        try {
          listener(outcome);
        } catch (error) {
          h.log(`rollback listener failed: ${errorMessage(error)}`);
        }
      }
      return outcome;
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

  /** `dancer reload`: hand off to a fresh worker of the current release. */
  reload(): Promise<{ pid: number; release: string; readyMs: number }> {
    const h = this.host;
    return h.exclusive(async () => {
      const release = h.currentRelease();
      const id = h.store.insertDeploy({
        service: h.name,
        kind: 'reload',
        fromRelease: release,
        toRelease: release,
        fixId: null,
        targetTemplateId: null,
        status: 'starting',
        reason: null,
        actor: 'cli',
        startedAt: h.clock(),
      });
      try {
        const { worker, readyMs } = await h.handoff(release);
        h.store.updateDeploy(id, { status: 'succeeded', readyAt: h.clock(), finishedAt: h.clock() });
        return { pid: worker.pid, release, readyMs };
      } catch (error) {
        h.store.updateDeploy(id, { status: 'failed', reason: errorMessage(error), finishedAt: h.clock() });
        throw error;
      }
    });
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
    h.quality.markGood(last.toRelease, h.clock());
    return { deployId: last.id };
  }
}
