import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import type { Db } from '../store/index.js';
import { type Clock, REAL_TIMERS, type Timers } from './clock.js';
import { type ControlServer, startControlServer } from './control.js';
import { dispatchControl } from './control-dispatch.js';
import { Deployer, type DeployHost } from './deployer.js';
import { createNotifyReceiver, type NotifyReceiver, sdNotify, startWatchdog } from './notify.js';
import { type Orphans, workerRecord } from './orphans.js';
import type { ServiceConfig, SupervisorPaths } from './paths.js';
import { readStat } from './proc.js';
import { buildRegistry, type MetricsServer, startMetricsServer } from './prometheus.js';
import { waitReady } from './readiness.js';
import { readinessCheckFor, readySignal } from './ready-check.js';
import {
  assertNoLiveSupervisor,
  finishPendingRollback,
  pendingRollback,
  settleUnfinishedDeploys,
  startRelease,
} from './reconcile.js';
import { ReleaseQuality } from './release-quality.js';
import { WORKTREE_RELEASE } from './releases.js';
import { decideRestart, NO_RESTARTS, type RestartHistory, recentRestarts, restartPolicyOf } from './restart-policy.js';
import { Sampler } from './sampler.js';
import type { HeldSocket } from './sockets.js';
import { type PersistedWorker, SuperviseStore } from './state-store.js';
import { type StatusReport, statusFromStore } from './status.js';
import { takeOver } from './takeover.js';
import {
  type DeployOptions,
  type DeployOutcome,
  type RollbackOutcome,
  type SupervisorHooks,
  type SupervisorOptions,
  type SupervisorState,
  shortRelease as short,
} from './types.js';
import { startWorker, type Worker, type WorkerExit } from './worker.js';

export { type LiveStatus, type StatusReport, statusFromStore } from './status.js';
export type {
  Alert,
  CrashEvent,
  DeployOptions,
  DeployOutcome,
  RollbackOutcome,
  SupervisorHooks,
  SupervisorOptions,
} from './types.js';

/**
 * The supervisor of one service: the worker lifecycle. It runs the service's workers on held
 * sockets, restarts crashes within the intensity limit, and hands off to a new worker with no
 * dropped connection (reload, deploy, rollback). Deploys and their observation window live in
 * the {@link Deployer}, metrics in the {@link Sampler}, reconciliation at start in ./reconcile,
 * the status report in ./status; what matters is kept in SQLite so a restarted supervisor resumes.
 */
export class Supervisor implements DeployHost {
  readonly store: SuperviseStore;
  /** Good and rolled-back releases, and which release each worker ran. */
  readonly quality: ReleaseQuality;
  readonly name: string;
  readonly service: ServiceConfig;
  readonly paths: SupervisorPaths;
  readonly db: Db;
  readonly hooks: SupervisorHooks;
  readonly clock: Clock;
  readonly timers: Timers;
  private state: SupervisorState = 'stopped';
  private current: Worker | undefined;
  private readonly draining = new Set<Worker>();
  /** Workers started but not yet ready (killed on shutdown). */
  private readonly candidates = new Set<Worker>();
  private sockets: HeldSocket[] = [];
  /** Workers a killed supervisor left serving on the inherited sockets. */
  private orphans: Orphans | undefined;
  private history: RestartHistory = NO_RESTARTS;
  private restartsTotal = 0;
  private readonly crashes: number[] = [];
  private backoffTimer: unknown;
  private chain: Promise<unknown> = Promise.resolve();
  private control: ControlServer | undefined;
  private notify: NotifyReceiver | undefined;
  private metricsServer: MetricsServer | undefined;
  private watchdogTimer: unknown;
  private readonly sampler: Sampler;
  private readonly deployer: Deployer;
  private startedAt = 0;

  constructor(private readonly options: SupervisorOptions) {
    this.store = new SuperviseStore(options.db);
    this.quality = new ReleaseQuality(options.db, options.service.name);
    this.hooks = options.hooks ?? {};
    this.name = options.service.name;
    this.service = options.service;
    this.paths = options.paths;
    this.db = options.db;
    this.clock = options.clock ?? Date.now;
    this.timers = options.timers ?? REAL_TIMERS;
    this.sampler = new Sampler({
      service: this.name,
      metrics: this.service.metrics,
      store: this.store,
      clock: this.clock,
      timers: this.timers,
      log: (m) => this.log(m),
    });
    this.deployer = new Deployer(this);
  }

  log(message: string): void {
    this.hooks.onLog?.(message);
  }

  /** Held socket ports (the bound ones; useful with port 0). */
  get boundSockets(): ReadonlyArray<{ name: string; host: string; port: number }> {
    return this.sockets.map((s) => ({ name: s.name, host: s.host, port: s.port }));
  }

  // --- what the deployer needs (DeployHost) ---

  /** True while a worker serves. */
  hasWorker(): boolean {
    return this.current !== undefined;
  }

  /** The lifecycle state. */
  getState(): SupervisorState {
    return this.state;
  }

  /** Set the lifecycle state (the deployer marks `deploying`). */
  setState(state: SupervisorState): void {
    this.state = state;
  }

  /** When workers crashed (ms). */
  crashTimes(): readonly number[] {
    return this.crashes;
  }

  /** Sample metrics now. */
  sampleNow(now: number): void {
    this.sampler.sampleOnce(now);
  }

  /** Variables of Dancer's environment that builds and workers do not inherit. */
  get withholdEnv(): readonly string[] {
    return this.options.withholdEnv ?? [];
  }

  /** The NOTIFY_SOCKET receiver, when readiness.notify is on. */
  get notifyReceiver(): NotifyReceiver | undefined {
    return this.notify;
  }

  /** The serving worker's pid, if any. */
  get currentPid(): number | undefined {
    return this.current?.pid;
  }

  /**
   * Start: reconcile with what a previous supervisor left in the store, bind the sockets, serve
   * the control socket, start the current release and wait until it is ready.
   *
   * @throws {DancerError} `DANCER_SUPERVISOR_RUNNING`, `DANCER_SPAWN_FAILED`, ...
   */
  async start(): Promise<void> {
    const svc = this.service;
    const paths = this.paths;
    this.state = 'starting';
    this.startedAt = this.clock();
    if (!existsSync(paths.cwd)) {
      throw new DancerError('DANCER_CONFIG_INVALID', `service.cwd does not exist: ${paths.cwd}`, {
        details: { cwd: paths.cwd },
      });
    }
    mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });
    if (this.options.control !== false) {
      this.control = await startControlServer(paths.controlSocket, (r) => dispatchControl(this, r));
    }
    const previous = this.store.getState(this.name);
    assertNoLiveSupervisor(previous, this.options.control !== false);
    try {
      const o = { drainMs: svc.drainSeconds * 1000, clock: this.clock, timers: this.timers };
      ({ sockets: this.sockets, orphans: this.orphans } = await takeOver(svc, previous?.workers ?? [], {
        ...o,
        log: (m) => this.log(m),
      }));
      if (svc.readiness.notify) this.notify = await createNotifyReceiver(paths.notifySocket);
    } catch (error) {
      await this.closeEndpoints();
      throw error;
    }
    this.store.saveState(this.name, {
      state: 'starting',
      supervisorPid: process.pid,
      startedAt: this.startedAt,
      currentRelease: previous?.currentRelease ?? WORKTREE_RELEASE,
      previousRelease: previous?.previousRelease ?? null,
      lastGoodRelease: previous?.lastGoodRelease ?? null,
      restarts: 0,
      workers: this.orphans?.records() ?? [],
    });
    this.sampler.start();
    if (svc.metrics.port !== undefined) {
      this.metricsServer = await startMetricsServer(
        buildRegistry(this.db, () => this.liveFigures()),
        svc.metrics.host,
        svc.metrics.port,
      );
      this.log(`metrics on http://${svc.metrics.host}:${this.metricsServer.port}/metrics`);
    }

    const pending = pendingRollback(this.store, this.name);
    const release = pending
      ? pending.toRelease
      : await startRelease(this, { cleanStop: previous === undefined || previous.state === 'stopped' });
    this.store.saveState(this.name, {
      currentRelease: release,
      ...(pending ? { previousRelease: pending.fromRelease } : {}),
      ...(this.quality.isGood(release) ? { lastGoodRelease: release } : {}),
    });
    const state = this.store.getState(this.name)!;
    const { resumed } = settleUnfinishedDeploys(this.store, this.name, release, {
      now: this.clock(),
      log: (m) => this.log(m),
    });
    try {
      await this.exclusive(() => this.startFresh(release));
    } catch (error) {
      const lastGood = state.lastGoodRelease;
      if (release !== WORKTREE_RELEASE && lastGood && lastGood !== release && isDancerError(error)) {
        this.log(`release ${short(release)} does not start (${error.message}); rolling back to ${short(lastGood)}`);
        await this.exclusive(() => this.startFresh(lastGood));
        this.store.saveState(this.name, { currentRelease: lastGood, previousRelease: release });
      } else {
        this.onStartFailure(error);
      }
    }
    if (pending && this.current) {
      finishPendingRollback(this.store, pending, this.clock());
      this.log(`rollback #${pending.id} finished after a restart: ${short(release)} serves`);
    }
    if (resumed && this.current) {
      this.log(`resuming the observation window of deploy #${resumed.id}`);
      void this.deployer.observe(resumed.id);
    }
    this.persist();
    if (sdNotify(`READY=1\nSTATUS=${this.name}: ${this.state}`)) {
      this.watchdogTimer = startWatchdog(
        this.timers,
        () => `${this.name}: ${this.state}, release ${short(this.currentRelease())}`,
      );
    }
  }

  private onStartFailure(error: unknown): void {
    // First start failed: handled like a crash (backoff, intensity limit).
    this.log(`start failed: ${errorMessage(error)}`);
    this.handleCrash(undefined, { code: null, signal: null, at: this.clock(), requested: false });
  }

  /** The release serving now (as stored). */
  currentRelease(): string {
    return this.store.getState(this.name)?.currentRelease ?? WORKTREE_RELEASE;
  }

  /** Run `fn` once every earlier exclusive operation has settled. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The folder a worker of `release` runs in. */
  releaseCwd(release: string): string {
    const paths = this.paths;
    if (release === WORKTREE_RELEASE) return paths.cwd;
    const row = this.store.getRelease(this.name, release);
    if (row?.status !== 'ready' || !existsSync(row.dir)) {
      throw new DancerError('DANCER_DEPLOY_FAILED', `Release ${short(release)} is not built.`, {
        details: { release },
      });
    }
    return path.join(row.dir, paths.cwdInRepo);
  }

  /** Spawn a worker of `release` and wait for it to be ready; kill it when it is not. */
  private async spawnReady(release: string): Promise<Worker> {
    const svc = this.service;
    const check = readinessCheckFor(svc, this.sockets);
    const worker = startWorker({
      release,
      command: svc.start,
      cwd: this.releaseCwd(release),
      env: { ...svc.env, ...this.options.workerEnv, DANCER_SERVICE: this.name },
      withholdEnv: this.withholdEnv,
      sockets: this.sockets,
      outliveSupervisor: this.sockets.some((s) => s.inherited),
      port: svc.mode === 'port' ? svc.listen[0]?.port : undefined,
      notifySocket: this.notify?.path,
    });
    this.log(`started worker pid ${worker.pid} (release ${short(release)})`);
    this.quality.recordWorker(worker.pid, release, worker.startedAt);
    const { signalled, cleanup } = readySignal(worker, check, this.notify);
    worker.stdout.on('data', (chunk: Buffer) => this.hooks.onOutput?.(worker, 'stdout', chunk));
    worker.stderr.on('data', (chunk: Buffer) => this.hooks.onOutput?.(worker, 'stderr', chunk));
    this.persist([worker]);
    this.candidates.add(worker);
    try {
      if (this.state === 'stopping' || this.state === 'stopped')
        throw new DancerError('DANCER_NOT_READY', 'The supervisor is stopping.');
      await waitReady(
        check,
        { pgid: worker.pgid, exited: worker.exited, signalled },
        svc.readiness.timeoutSeconds * 1000,
      );
    } catch (error) {
      await worker.kill();
      this.persist();
      throw error;
    } finally {
      cleanup();
      this.candidates.delete(worker);
    }
    return worker;
  }

  private adopt(worker: Worker): void {
    this.current = worker;
    this.sampler.follow(worker.pgid);
    void this.orphans?.drainServing().then(() => this.persist());
    void worker.exited.then((exit) => {
      if (this.current === worker && !exit.requested) this.handleCrash(worker, exit);
    });
  }

  /** Start `release` with no worker running (first start, restart after a crash). */
  private async startFresh(release: string): Promise<void> {
    const worker = await this.spawnReady(release);
    this.adopt(worker);
    this.state = 'running';
    this.persist();
    this.log(`worker pid ${worker.pid} ready`);
  }

  /**
   * Zero-downtime handoff to `release`: a new worker on the same sockets must pass readiness,
   * then the old one drains (SIGTERM, SIGKILL after drainSeconds). When the new one is not ready
   * it is killed and the old one keeps serving. In port mode the old worker stops first (not
   * zero-downtime) and is started again when the new one fails.
   */
  async handoff(release: string, opts: { stopOldFirst?: boolean } = {}): Promise<{ worker: Worker; readyMs: number }> {
    const drainMs = this.service.drainSeconds * 1000;
    const t0 = this.clock();
    if (this.backoffTimer !== undefined) {
      this.timers.clearTimeout(this.backoffTimer);
      this.backoffTimer = undefined;
    }
    const old = this.current;
    if (opts.stopOldFirst && this.service.mode === 'socket' && old && !old.exit) {
      // A rollback: the bad worker stops accepting now (connections wait in the held socket's
      // backlog) while the good release starts; if that fails the bad one is started again.
      this.current = undefined;
      this.draining.add(old);
      const stopped = old.stop(drainMs).finally(() => this.draining.delete(old));
      this.persist();
      try {
        const worker = await this.spawnReady(release);
        this.adopt(worker);
        await stopped;
        this.state = 'running';
        this.persist();
        return { worker, readyMs: this.clock() - t0 };
      } catch (error) {
        await stopped;
        this.log(`release ${short(release)} not ready (${errorMessage(error)}); restarting ${short(old.release)}`);
        this.adopt(await this.spawnReady(old.release));
        throw error;
      }
    }
    if (this.service.mode === 'port' && old) {
      this.current = undefined;
      await old.stop(drainMs);
      try {
        const worker = await this.spawnReady(release);
        this.adopt(worker);
        return { worker, readyMs: this.clock() - t0 };
      } catch (error) {
        this.log(`new worker not ready (${errorMessage(error)}); restarting release ${short(old.release)}`);
        this.adopt(await this.spawnReady(old.release));
        throw error;
      }
    }
    const worker = await this.spawnReady(release);
    const readyMs = this.clock() - t0;
    this.adopt(worker);
    this.history = NO_RESTARTS;
    if (old && !old.exit) {
      this.draining.add(old);
      this.persist();
      this.log(`draining worker pid ${old.pid}`);
      await old.stop(drainMs);
      this.draining.delete(old);
    }
    this.state = 'running';
    this.persist();
    return { worker, readyMs };
  }

  private handleCrash(worker: Worker | undefined, exit: WorkerExit): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.current = undefined;
    this.sampler.follow(undefined);
    const now = exit.at;
    this.crashes.push(now);
    this.restartsTotal++;
    const decision = decideRestart(this.history, now, this.policy());
    this.history = decision.history;
    const how = exit.signal ? `signal ${exit.signal}` : `exit ${exit.code}`;
    if (worker) this.log(`worker pid ${worker.pid} crashed (${how})`);
    this.hooks.onCrash?.({
      service: this.name,
      pid: worker?.pid ?? 0,
      release: worker?.release ?? this.currentRelease(),
      code: exit.code,
      signal: exit.signal,
      at: now,
      uptimeMs: worker ? now - worker.startedAt : 0,
      decision,
    });
    if (decision.action === 'give_up') {
      this.state = 'failed';
      this.persist();
      const message = `${this.name} failed: ${decision.reason}; not restarting`;
      this.log(message);
      this.hooks.onAlert?.({ kind: 'failed', message, details: { reason: decision.reason } });
      sdNotify(`STATUS=${message}`);
      this.deployer.onCrashLoop();
      return;
    }
    this.state = 'backoff';
    this.persist();
    this.log(`restarting in ${decision.delayMs} ms (attempt ${decision.attempt})`);
    this.backoffTimer = this.timers.setTimeout(() => {
      this.backoffTimer = undefined;
      void this.exclusive(async () => {
        if (this.current || this.state === 'stopping' || this.state === 'stopped') return;
        try {
          await this.startFresh(this.currentRelease());
        } catch (error) {
          this.log(`restart failed: ${errorMessage(error)}`);
          this.handleCrash(undefined, { code: null, signal: null, at: this.clock(), requested: false });
        }
      });
    }, decision.delayMs);
  }

  private policy() {
    return restartPolicyOf(this.service.restart);
  }

  /** Save the lifecycle state and the running workers (for reconciliation after a crash). */
  persist(extra: Worker[] = []): void {
    if (this.state === 'stopped') return;
    const workers: PersistedWorker[] = this.orphans?.records() ?? [];
    const add = (w: Worker, role: PersistedWorker['role']) => {
      if (!w.exit) workers.push(workerRecord(w, role, this.startedAt));
    };
    if (this.current) add(this.current, 'current');
    for (const w of this.draining) add(w, 'draining');
    for (const w of extra) if (w !== this.current) add(w, 'candidate');
    this.store.saveState(this.name, {
      state: this.state,
      workers,
      restarts: this.restartsTotal,
      supervisorPid: process.pid,
    });
  }

  /** See {@link Deployer.reload}. */
  reload(): Promise<{ pid: number; release: string; readyMs: number }> {
    return this.deployer.reload();
  }

  /** True when the emergency stop flag is set. */
  emergencyStopped(): boolean {
    return this.deployer.emergencyStopped();
  }

  /** See {@link Deployer.deploy}. */
  deploy(ref: string, options: DeployOptions = {}): Promise<DeployOutcome> {
    return this.deployer.deploy(ref, options);
  }

  /** See {@link Deployer.rollback}. */
  rollback(options: { reason?: string; actor?: string } = {}): Promise<RollbackOutcome> {
    return this.deployer.rollback(options);
  }

  /** See {@link Deployer.observation}. */
  observation(deployId: number): Promise<DeployOutcome> {
    return this.deployer.observation(deployId);
  }

  /** Listen to every completed rollback (see {@link Deployer.onRollback}). */
  onRollback(listener: (outcome: RollbackOutcome) => void): () => void {
    return this.deployer.onRollback(listener);
  }

  /** See {@link Deployer.accept}. */
  accept(actor = 'cli'): { deployId: number } {
    return this.deployer.accept(actor);
  }

  private liveFigures() {
    const self = readStat(process.pid);
    return {
      service: this.name,
      up: this.current !== undefined,
      state: this.state,
      restarts: this.restartsTotal,
      worker: this.sampler.last,
      supervisorRssBytes: (self?.rssPages ?? 0) * 4096,
      emergencyStop: this.emergencyStopped(),
    };
  }

  /** The status report (`dancer status --json`). */
  status(): StatusReport {
    const now = this.clock();
    const observing = this.deployer.observing;
    return statusFromStore(this.db, this.name, {
      running: true,
      state: this.state,
      startedAt: this.startedAt,
      restarts: this.restartsTotal,
      recentRestarts: recentRestarts(this.history, now, this.policy()),
      sockets: [...this.boundSockets],
      observing: observing
        ? { ...observing, windowEndsAt: this.store.getDeploy(observing.deployId)?.windowEndsAt ?? null }
        : null,
      sample: this.sampler.last,
      now,
    });
  }

  private async closeEndpoints(): Promise<void> {
    for (const s of this.sockets) s.close();
    this.sockets = [];
    this.notify?.close();
    this.notify = undefined;
    await this.control?.close();
    this.control = undefined;
    await this.metricsServer?.close();
    this.metricsServer = undefined;
  }

  /** Graceful stop: drain every worker, flush the store, close sockets. */
  async shutdown(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    this.log('stopping: draining workers');
    sdNotify('STOPPING=1');
    if (this.backoffTimer !== undefined) this.timers.clearTimeout(this.backoffTimer);
    this.sampler.stop();
    if (this.watchdogTimer !== undefined) this.timers.clearInterval(this.watchdogTimer);
    this.deployer.wake();
    const drainMs = this.service.drainSeconds * 1000;
    const workers = [this.current, ...this.draining].filter((w): w is Worker => w !== undefined);
    await Promise.all([
      ...workers.map((w) => w.stop(drainMs)),
      ...[...this.candidates].map((w) => w.kill()),
      this.orphans?.drainServing(),
    ]);
    this.current = undefined;
    await this.closeEndpoints();
    await this.hooks.flush?.();
    this.store.saveState(this.name, { state: 'stopped', workers: [], supervisorPid: null });
    this.state = 'stopped';
  }

  /** Second signal: SIGKILL every worker group now. */
  forceStop(): void {
    for (const w of [this.current, ...this.draining, ...this.candidates]) w?.signal('SIGKILL');
    this.orphans?.killAll();
    try {
      this.store.saveState(this.name, { state: 'stopped', workers: [], supervisorPid: null });
    } catch {
      // the store may be closing; the next start reaps by pid anyway
    }
  }
}
