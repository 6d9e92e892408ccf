import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import type { Db } from '../store/open.js';
import { type ControlRequest, type ControlServer, startControlServer } from './control.js';
import { createNotifyReceiver, type NotifyMessage, type NotifyReceiver, sdNotify } from './notify.js';
import { newErrorPatterns, periodStats } from './observe.js';
import type { ServiceConfig, SupervisorPaths } from './paths.js';
import { isAlive, readStat } from './proc.js';
import { type TreeSample, TreeSampler } from './proc-metrics.js';
import { buildRegistry, type MetricsServer, startMetricsServer, stateColumn } from './prometheus.js';
import { type ReadinessCheck, waitReady } from './readiness.js';
import { buildRelease, resolveCommit, WORKTREE_RELEASE } from './releases.js';
import {
  decideRestart,
  NO_RESTARTS,
  type RestartDecision,
  type RestartHistory,
  recentRestarts,
} from './restart-policy.js';
import { assertPortsFree, bindSockets, type HeldSocket } from './sockets.js';
import { EMERGENCY_STOP_FLAG, type PersistedWorker, SuperviseStore } from './state-store.js';
import { judgeWindow, type Verdict } from './verdict.js';
import { startWorker, type Worker, type WorkerExit } from './worker.js';

/** A worker crash, handed to the triggers (with the last records, by the caller that has them). */
export interface CrashEvent {
  service: string;
  pid: number;
  release: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
  uptimeMs: number;
  decision: RestartDecision;
}

/** Something a human must hear about (the service failed, a window was inconclusive, ...). */
export interface Alert {
  kind: 'failed' | 'rolled_back' | 'inconclusive' | 'deploy_failed';
  message: string;
  details?: Record<string, unknown>;
}

/** Hooks the shell around the supervisor (capture, triggers, notifications) plugs in. */
export interface SupervisorHooks {
  /** Every chunk a worker writes (capture into the store, tee). */
  onOutput?(worker: Worker, stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /** A worker exited without being asked to. */
  onCrash?(event: CrashEvent): void;
  onAlert?(alert: Alert): void;
  /** Progress lines for a human (stderr). */
  onLog?(message: string): void;
  /** Flush buffered records to the store before the supervisor exits. */
  flush?(): Promise<void> | void;
}

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  service: ServiceConfig;
  paths: SupervisorPaths;
  db: Db;
  hooks?: SupervisorHooks;
  /** Serve the control socket (default true). */
  control?: boolean;
  /** Environment added to every worker (e.g. DANCER_CAPTURE_SOCKET). */
  workerEnv?: Record<string, string>;
}

/** Options of {@link Supervisor.deploy}. */
export interface DeployOptions {
  /** The fix being deployed, stored with the deploy. */
  fixId?: number | undefined;
  /** The pattern the fix targets: its rate before and after is the efficacy. */
  targetTemplateId?: number | undefined;
  actor?: string | undefined;
  reason?: string | undefined;
  /** Resolve once the new worker serves, without waiting for the window (default false). */
  noWait?: boolean | undefined;
}

/** The outcome of a deploy (after its observation window, unless `noWait`). */
export interface DeployOutcome {
  deployId: number;
  release: string;
  status: string;
  reasons: string[];
  verdict?: Verdict | undefined;
  rollbackDeployId?: number | undefined;
}

/** The outcome of a rollback. */
export interface RollbackOutcome {
  deployId: number;
  from: string | null;
  to: string;
  /** ms from the decision to the rolled-back release serving (ready). */
  readyMs: number;
}

/** `dancer status --json`. */
export interface StatusReport {
  service: string;
  running: boolean;
  state: string;
  supervisorPid: number | null;
  uptimeSeconds: number | null;
  pids: number[];
  workers: PersistedWorker[];
  currentRelease: string | null;
  previousRelease: string | null;
  lastGoodRelease: string | null;
  restarts: number;
  recentRestarts: number;
  sockets: Array<{ name: string; host: string; port: number }>;
  observing: { deployId: number; release: string; windowEndsAt: number | null } | null;
  lastDeploy: { id: number; kind: string; toRelease: string; status: string; reason: string | null } | null;
  emergencyStop: { engaged: boolean; setBy: string | null; reason: string | null; setAt: number | null };
  openFixes: Array<Record<string, unknown>> | null;
  metrics: { rssBytes: number; cpuPercent: number | null; fds: number; threads: number } | null;
}

type State = 'starting' | 'running' | 'backoff' | 'failed' | 'deploying' | 'stopping' | 'stopped';

interface Observer {
  deployId: number;
  release: string;
  cancelled: string | undefined;
  wake: () => void;
  done: Promise<DeployOutcome>;
}

const TERMINAL_FIX_STATES = ['deployed', 'rejected', 'failed', 'rolled_back', 'superseded', 'ignored'];

/**
 * The supervisor of one service: runs its workers on held sockets, restarts crashes within the
 * intensity limit, hands off to a new worker with no dropped connection (reload, deploy,
 * rollback), watches a deploy through its observation window, samples metrics, and keeps what
 * matters in SQLite so a restarted supervisor resumes.
 */
export class Supervisor {
  readonly store: SuperviseStore;
  private state: State = 'stopped';
  private current: Worker | undefined;
  private readonly draining = new Set<Worker>();
  /** Workers started but not yet ready (killed on shutdown). */
  private readonly candidates = new Set<Worker>();
  private sockets: HeldSocket[] = [];
  private history: RestartHistory = NO_RESTARTS;
  private restartsTotal = 0;
  private crashTimes: number[] = [];
  private backoffTimer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private observer: Observer | undefined;
  private control: ControlServer | undefined;
  private notify: NotifyReceiver | undefined;
  private metricsServer: MetricsServer | undefined;
  private sampleTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private workerSampler: { pgid: number; sampler: TreeSampler } | undefined;
  private readonly selfSampler = new TreeSampler({ pid: process.pid });
  private lastSample: TreeSample | undefined;
  private startedAt = 0;
  private crashLoopDuringWindow = false;
  private readonly hooks: SupervisorHooks;
  private readonly name: string;

  constructor(private readonly options: SupervisorOptions) {
    this.store = new SuperviseStore(options.db);
    this.hooks = options.hooks ?? {};
    this.name = options.service.name;
  }

  private log(message: string): void {
    this.hooks.onLog?.(message);
  }

  /** Held socket ports (the bound ones; useful with port 0). */
  get boundSockets(): ReadonlyArray<{ name: string; host: string; port: number }> {
    return this.sockets.map((s) => ({ name: s.name, host: s.host, port: s.port }));
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
    const svc = this.options.service;
    const paths = this.options.paths;
    this.state = 'starting';
    this.startedAt = Date.now();
    if (!existsSync(paths.cwd)) {
      throw new DancerError('DANCER_CONFIG_INVALID', `service.cwd does not exist: ${paths.cwd}`, {
        details: { cwd: paths.cwd },
      });
    }
    mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });
    if (this.options.control !== false) {
      this.control = await startControlServer(paths.controlSocket, (r) => this.handleControl(r));
    }
    const previous = this.store.getState(this.name);
    if (previous?.supervisorPid && previous.supervisorPid !== process.pid && isAlive(previous.supervisorPid)) {
      const st = readStat(previous.supervisorPid);
      // A live pid that is a dancer supervisor whose socket did not answer: refuse rather than fight.
      if (st && previous.state !== 'stopped' && this.options.control === false) {
        throw new DancerError('DANCER_SUPERVISOR_RUNNING', `Supervisor pid ${previous.supervisorPid} still runs.`);
      }
    }
    await this.reapLeftovers(previous?.workers ?? []);
    try {
      if (svc.mode === 'socket') {
        const specs = svc.listen.map((l) => ({ name: l.name, host: l.host, port: l.port }));
        await assertPortsFree(specs);
        this.sockets = bindSockets(specs);
      }
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
      workers: [],
    });
    this.startSampling();
    if (svc.metrics.port !== undefined) {
      this.metricsServer = await startMetricsServer(
        buildRegistry(this.options.db, () => this.liveFigures()),
        svc.metrics.host,
        svc.metrics.port,
      );
      this.log(`metrics on http://${svc.metrics.host}:${this.metricsServer.port}/metrics`);
    }

    const unfinished = this.store.unfinishedDeploys(this.name);
    const state = this.store.getState(this.name)!;
    const release = state.currentRelease ?? WORKTREE_RELEASE;
    for (const d of unfinished) {
      if (d.status !== 'observing' || d.toRelease !== release) {
        this.store.updateDeploy(d.id, {
          status: 'failed',
          reason: 'interrupted: the supervisor stopped before the new release served; the previous release was kept',
          finishedAt: Date.now(),
        });
        this.log(`deploy #${d.id} was interrupted before it served; keeping ${short(release)}`);
      }
    }
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
    const resumed = unfinished.find((d) => d.status === 'observing' && d.toRelease === release);
    if (resumed && this.current) {
      this.log(`resuming the observation window of deploy #${resumed.id}`);
      void this.observe(resumed.id);
    }
    this.persist();
    if (sdNotify(`READY=1\nSTATUS=${this.name}: ${this.state}`)) this.startWatchdog();
  }

  private onStartFailure(error: unknown): void {
    // First start failed: handled like a crash (backoff, intensity limit).
    this.log(`start failed: ${errorMessage(error)}`);
    this.handleCrash(undefined, { code: null, signal: null, at: Date.now(), requested: false });
  }

  private startWatchdog(): void {
    const usec = Number(process.env.WATCHDOG_USEC);
    if (!Number.isFinite(usec) || usec <= 0) return;
    const every = Math.max(1000, usec / 1000 / 2);
    this.watchdogTimer = setInterval(() => {
      sdNotify(`WATCHDOG=1\nSTATUS=${this.name}: ${this.state}, release ${short(this.currentRelease())}`);
    }, every);
    this.watchdogTimer.unref();
  }

  private currentRelease(): string {
    return this.store.getState(this.name)?.currentRelease ?? WORKTREE_RELEASE;
  }

  /** Kill what a dead supervisor left (with pid-reuse protection), before binding again. */
  private async reapLeftovers(workers: readonly PersistedWorker[]): Promise<void> {
    const drainMs = this.options.service.drainSeconds * 1000;
    const waits: Promise<void>[] = [];
    for (const w of workers) {
      const st = readStat(w.pid);
      if (!st || st.state === 'Z') continue;
      if (w.startTicks !== undefined && st.startTicks !== w.startTicks) continue;
      this.log(`stopping leftover worker pid ${w.pid} from the previous supervisor`);
      try {
        process.kill(-w.pgid, 'SIGTERM');
      } catch {
        continue;
      }
      waits.push(
        (async () => {
          const deadline = Date.now() + drainMs;
          while (Date.now() < deadline && isAlive(w.pid)) await delay(50);
          try {
            process.kill(-w.pgid, 'SIGKILL');
          } catch {
            // gone
          }
          while (isAlive(w.pid)) await delay(20);
        })(),
      );
    }
    await Promise.all(waits);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private releaseCwd(release: string): string {
    const paths = this.options.paths;
    if (release === WORKTREE_RELEASE) return paths.cwd;
    const row = this.store.getRelease(this.name, release);
    if (row?.status !== 'ready' || !existsSync(row.dir)) {
      throw new DancerError('DANCER_DEPLOY_FAILED', `Release ${short(release)} is not built.`, {
        details: { release },
      });
    }
    return path.join(row.dir, paths.cwdInRepo);
  }

  private readinessCheck(): ReadinessCheck {
    const svc = this.options.service;
    const r = svc.readiness;
    const shared = (port: number | undefined) => {
      if (svc.mode !== 'socket' || this.sockets.length === 0) return undefined;
      if (port === undefined) return this.sockets[0];
      const i = svc.listen.findIndex((l) => l.port === port);
      return i >= 0 ? this.sockets[i] : undefined;
    };
    if (r.notify) return { kind: 'notify' };
    if (r.logLine) return { kind: 'logLine', pattern: new RegExp(r.logLine) };
    if (r.http) {
      const s = shared(r.http.port);
      const port = s?.port ?? r.http.port ?? svc.listen[0]?.port;
      if (port === undefined) throw new DancerError('DANCER_CONFIG_INVALID', 'readiness.http needs a port.');
      return {
        kind: 'http',
        host: s?.host ?? svc.listen[0]?.host ?? '127.0.0.1',
        port,
        path: r.http.path,
        shared: !!s,
      };
    }
    if (r.tcp) {
      const s = shared(r.tcp.port);
      return { kind: 'tcp', host: s?.host ?? '127.0.0.1', port: s?.port ?? r.tcp.port, shared: !!s };
    }
    const s = shared(undefined);
    if (s) return { kind: 'tcp', host: s.host, port: s.port, shared: true };
    if (svc.mode === 'port' && svc.listen[0]) {
      return { kind: 'tcp', host: svc.listen[0].host, port: svc.listen[0].port, shared: false };
    }
    return { kind: 'alive', graceMs: r.graceMs };
  }

  /** Spawn a worker of `release` and wait for it to be ready; kill it when it is not. */
  private async spawnReady(release: string): Promise<Worker> {
    const svc = this.options.service;
    const check = this.readinessCheck();
    const worker = startWorker({
      release,
      command: svc.start,
      cwd: this.releaseCwd(release),
      env: { ...svc.env, ...this.options.workerEnv, DANCER_SERVICE: this.name },
      sockets: this.sockets,
      port: svc.mode === 'port' ? svc.listen[0]?.port : undefined,
      notifySocket: this.notify?.path,
    });
    this.log(`started worker pid ${worker.pid} (release ${short(release)})`);
    let signalled: Promise<void> | undefined;
    let cleanup = () => {};
    if (check.kind === 'logLine' || check.kind === 'notify') {
      signalled = new Promise<void>((resolve) => {
        if (check.kind === 'logLine') {
          let pending = '';
          const onData = (chunk: Buffer) => {
            pending += chunk.toString('utf8');
            const lines = pending.split('\n');
            pending = lines.pop() ?? '';
            if (pending.length > 65536) pending = pending.slice(-65536);
            if (lines.some((l) => check.pattern.test(l))) resolve();
          };
          worker.stdout.on('data', onData);
          worker.stderr.on('data', onData);
          cleanup = () => {
            worker.stdout.off('data', onData);
            worker.stderr.off('data', onData);
          };
        } else {
          const onMessage = (m: NotifyMessage) => {
            if (m.fields.READY !== '1') return;
            if (m.pid === worker.pid || readStat(m.pid)?.pgrp === worker.pgid) resolve();
          };
          this.notify?.events.on('message', onMessage);
          cleanup = () => this.notify?.events.off('message', onMessage);
        }
      });
    }
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
    this.workerSampler = { pgid: worker.pgid, sampler: new TreeSampler({ pgid: worker.pgid }) };
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
  private async handoff(release: string): Promise<{ worker: Worker; readyMs: number }> {
    const svc = this.options.service;
    const drainMs = svc.drainSeconds * 1000;
    const t0 = Date.now();
    if (this.backoffTimer) {
      clearTimeout(this.backoffTimer);
      this.backoffTimer = undefined;
    }
    const old = this.current;
    if (svc.mode === 'port' && old) {
      this.current = undefined;
      await old.stop(drainMs);
      try {
        const worker = await this.spawnReady(release);
        this.adopt(worker);
        return { worker, readyMs: Date.now() - t0 };
      } catch (error) {
        this.log(`new worker not ready (${errorMessage(error)}); restarting release ${short(old.release)}`);
        this.adopt(await this.spawnReady(old.release));
        throw error;
      }
    }
    const worker = await this.spawnReady(release);
    const readyMs = Date.now() - t0;
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
    this.workerSampler = undefined;
    const now = exit.at;
    this.crashTimes.push(now);
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
      if (this.observer) {
        this.crashLoopDuringWindow = true;
        this.observer.wake();
      }
      return;
    }
    this.state = 'backoff';
    this.persist();
    this.log(`restarting in ${decision.delayMs} ms (attempt ${decision.attempt})`);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      void this.exclusive(async () => {
        if (this.current || this.state === 'stopping' || this.state === 'stopped') return;
        try {
          await this.startFresh(this.currentRelease());
        } catch (error) {
          this.log(`restart failed: ${errorMessage(error)}`);
          this.handleCrash(undefined, { code: null, signal: null, at: Date.now(), requested: false });
        }
      });
    }, decision.delayMs);
  }

  private policy() {
    const r = this.options.service.restart;
    return {
      maxRestarts: r.maxRestarts,
      withinMs: r.withinSeconds * 1000,
      backoffInitialMs: r.backoffInitialMs,
      backoffMaxMs: r.backoffMaxMs,
    };
  }

  private persist(extra: Worker[] = []): void {
    if (this.state === 'stopped') return;
    const workers: PersistedWorker[] = [];
    const add = (w: Worker, role: PersistedWorker['role']) => {
      if (w.exit) return;
      workers.push({
        pid: w.pid,
        pgid: w.pgid,
        release: w.release,
        startedAt: w.startedAt,
        startTicks: readStat(w.pid)?.startTicks,
        role,
      });
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

  /** `dancer reload`: hand off to a fresh worker of the current release. */
  reload(): Promise<{ pid: number; release: string; readyMs: number }> {
    return this.exclusive(async () => {
      const release = this.currentRelease();
      const id = this.store.insertDeploy({
        service: this.name,
        kind: 'reload',
        fromRelease: release,
        toRelease: release,
        fixId: null,
        targetTemplateId: null,
        status: 'starting',
        reason: null,
        actor: 'cli',
        startedAt: Date.now(),
      });
      try {
        const { worker, readyMs } = await this.handoff(release);
        this.store.updateDeploy(id, { status: 'succeeded', readyAt: Date.now() - 0, finishedAt: Date.now() });
        return { pid: worker.pid, release, readyMs };
      } catch (error) {
        this.store.updateDeploy(id, { status: 'failed', reason: errorMessage(error), finishedAt: Date.now() });
        throw error;
      }
    });
  }

  /** True when the emergency stop flag is set. */
  emergencyStopped(): boolean {
    return this.store.getFlag(EMERGENCY_STOP_FLAG) !== undefined;
  }

  /**
   * Deploy `ref` (a git ref of the service's repository): build the release once, hand off to
   * it, and observe it for the window; roll back on any trigger. The fix pipeline calls this.
   *
   * @throws {DancerError} `DANCER_EMERGENCY_STOP`, `DANCER_DEPLOY_FAILED`, `DANCER_NOT_READY`
   * (the new worker was not ready: the old one kept serving; the deploy row says so).
   */
  async deploy(ref: string, options: DeployOptions = {}): Promise<DeployOutcome> {
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
    const svc = this.options.service;
    const paths = this.options.paths;
    const commit = resolveCommit(paths.repo, ref);
    const deployId = await this.exclusive(async () => {
      const from = this.currentRelease();
      const id = this.store.insertDeploy({
        service: this.name,
        kind: 'deploy',
        fromRelease: from,
        toRelease: commit,
        fixId: options.fixId ?? null,
        targetTemplateId: options.targetTemplateId ?? null,
        status: 'building',
        reason: options.reason ?? null,
        actor: options.actor ?? 'cli',
        startedAt: Date.now(),
      });
      this.log(`deploy #${id}: building ${short(commit)}`);
      try {
        await buildRelease({
          service: this.name,
          repo: paths.repo!,
          commit,
          releasesDir: paths.releasesDir,
          build: svc.build,
          store: this.store,
          env: svc.env,
          onOutput: (chunk) => this.hooks.onLog?.(chunk.toString('utf8').trimEnd()),
        });
      } catch (error) {
        this.store.updateDeploy(id, {
          status: 'failed',
          reason: `build failed: ${errorMessage(error)}`,
          finishedAt: Date.now(),
        });
        this.hooks.onAlert?.({
          kind: 'deploy_failed',
          message: `deploy #${id} failed to build: ${errorMessage(error)}`,
        });
        throw error;
      }
      this.store.updateDeploy(id, { status: 'starting' });
      const prev = this.state;
      this.state = 'deploying';
      try {
        await this.handoff(commit);
      } catch (error) {
        this.state = this.current ? 'running' : prev;
        const why =
          isDancerError(error, 'DANCER_NOT_READY') && error.details.exited !== true
            ? 'readiness_failed'
            : 'start_failed';
        this.store.updateDeploy(id, {
          status: 'rolled_back',
          reason: `${why}: ${errorMessage(error)}; the previous release kept serving`,
          finishedAt: Date.now(),
        });
        this.persist();
        this.hooks.onAlert?.({
          kind: 'rolled_back',
          message: `deploy #${id} rolled back: ${why}`,
          details: { reason: why },
        });
        throw error;
      }
      const now = Date.now();
      this.store.saveState(this.name, { currentRelease: commit, previousRelease: from });
      this.store.updateDeploy(id, {
        status: 'observing',
        readyAt: now,
        windowEndsAt: now + svc.observe.windowSeconds * 1000,
      });
      this.log(`deploy #${id}: ${short(commit)} serving; observing for ${svc.observe.windowSeconds} s`);
      return id;
    });
    const done = this.observe(deployId);
    if (options.noWait) return { deployId, release: commit, status: 'observing', reasons: [] };
    return done;
  }

  /** Run (or resume) the observation window of a deploy; resolves with its outcome. */
  private observe(deployId: number): Promise<DeployOutcome> {
    const svc = this.options.service;
    const o = svc.observe;
    let wake = () => {};
    const observer: Observer = {
      deployId,
      release: this.store.getDeploy(deployId)?.toRelease ?? '',
      cancelled: undefined,
      wake: () => wake(),
      done: Promise.resolve(undefined as never),
    };
    this.crashLoopDuringWindow = false;
    this.observer = observer;
    observer.done = (async (): Promise<DeployOutcome> => {
      const deploy = this.store.getDeploy(deployId)!;
      const readyAt = deploy.readyAt ?? Date.now();
      let extensions = deploy.extensions;
      const windowMs = o.windowSeconds * 1000;
      const thresholds = {
        errorRateIncrease: o.errorRateIncrease,
        minErrors: o.minErrors,
        rssIncrease: o.rssIncrease,
        rssLimitBytes: o.rssLimitMb !== undefined ? o.rssLimitMb * 1024 * 1024 : undefined,
        newPatternMin: o.newPatternMin,
        latencyIncrease: o.latencyIncrease,
        latencyMinMs: o.latencyMinMs,
        minRecords: o.minRecords,
        maxExtensions: o.maxExtensions,
      };
      try {
        for (;;) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, o.checkEverySeconds * 1000);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          if (observer.cancelled) {
            return { deployId, release: observer.release, status: 'rolled_back', reasons: [observer.cancelled] };
          }
          if (this.state === 'stopping' || this.state === 'stopped') {
            return { deployId, release: observer.release, status: 'observing', reasons: ['supervisor stopping'] };
          }
          const now = Date.now();
          this.sampleOnce(now);
          const baseline = periodStats(this.options.db, {
            service: this.name,
            from: deploy.startedAt - o.baselineSeconds * 1000,
            to: deploy.startedAt,
            targetTemplateId: deploy.targetTemplateId,
            crashes: this.crashTimes.filter(
              (t) => t < deploy.startedAt && t >= deploy.startedAt - o.baselineSeconds * 1000,
            ).length,
          });
          const window = periodStats(this.options.db, {
            service: this.name,
            from: readyAt,
            to: now + 1,
            targetTemplateId: deploy.targetTemplateId,
            crashes: this.crashTimes.filter((t) => t >= readyAt).length,
          });
          const verdict = judgeWindow({
            baseline,
            window,
            newPatterns: newErrorPatterns(this.options.db, readyAt, now + 1, deploy.startedAt),
            elapsedMs: now - readyAt,
            windowMs,
            extensions,
            thresholds,
            crashLoop: this.crashLoopDuringWindow,
          });
          const record = { ...verdict, baseline, window, at: now };
          if (verdict.verdict === 'continue') continue;
          if (verdict.verdict === 'extend') {
            extensions++;
            this.store.updateDeploy(deployId, {
              extensions,
              windowEndsAt: readyAt + windowMs * (1 + extensions),
              verdict: record,
            });
            this.log(`deploy #${deployId}: ${verdict.reasons.join('; ')}; window extended`);
            continue;
          }
          if (verdict.verdict === 'pass') {
            this.store.updateDeploy(deployId, {
              status: 'succeeded',
              finishedAt: now,
              verdict: record,
              reason: verdict.reasons.join('; '),
            });
            this.store.saveState(this.name, { lastGoodRelease: observer.release });
            this.log(`deploy #${deployId}: passed (${verdict.reasons.join('; ')})`);
            return { deployId, release: observer.release, status: 'succeeded', reasons: verdict.reasons, verdict };
          }
          if (verdict.verdict === 'inconclusive') {
            this.store.updateDeploy(deployId, {
              status: 'inconclusive',
              finishedAt: now,
              verdict: record,
              reason: verdict.reasons.join('; '),
            });
            this.hooks.onAlert?.({
              kind: 'inconclusive',
              message: `deploy #${deployId}: ${verdict.reasons.join('; ')}`,
            });
            this.log(`deploy #${deployId}: inconclusive: ${verdict.reasons.join('; ')}`);
            return { deployId, release: observer.release, status: 'inconclusive', reasons: verdict.reasons, verdict };
          }
          // rollback
          const reason = verdict.triggers.join(',');
          this.store.updateDeploy(deployId, { verdict: record });
          this.log(`deploy #${deployId}: rolling back (${verdict.reasons.join('; ')})`);
          this.observer = undefined;
          const rb = await this.doRollback({ reason, actor: 'observer', deployId, detail: verdict.reasons.join('; ') });
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
      observer.wake();
    }
    return this.doRollback({
      reason: options.reason ?? 'manual',
      actor: options.actor ?? 'cli',
      deployId: observer?.deployId ?? this.latestObservedOrInconclusive(),
    });
  }

  private latestObservedOrInconclusive(): number | undefined {
    const last = this.store.listDeploys(this.name, 5).find((d) => d.kind === 'deploy');
    return last && (last.status === 'observing' || last.status === 'inconclusive') ? last.id : undefined;
  }

  private doRollback(o: {
    reason: string;
    actor: string;
    deployId?: number | undefined;
    detail?: string;
  }): Promise<RollbackOutcome> {
    return this.exclusive(async () => {
      const state = this.store.getState(this.name);
      const target = state?.previousRelease;
      const from = state?.currentRelease ?? null;
      if (!target) {
        throw new DancerError('DANCER_ROLLBACK_FAILED', 'There is no previous release to roll back to.');
      }
      const t0 = Date.now();
      const id = this.store.insertDeploy({
        service: this.name,
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
        readyMs = (await this.handoff(target)).readyMs;
      } catch (error) {
        this.store.updateDeploy(id, {
          status: 'failed',
          reason: `${o.reason}; rollback failed: ${errorMessage(error)}`,
          finishedAt: Date.now(),
        });
        throw new DancerError('DANCER_ROLLBACK_FAILED', `Rollback to ${short(target)} failed: ${errorMessage(error)}`, {
          cause: error,
          details: { target },
        });
      }
      this.store.saveState(this.name, { currentRelease: target, previousRelease: from });
      this.store.updateDeploy(id, {
        status: 'succeeded',
        readyAt: t0 + readyMs,
        finishedAt: Date.now(),
        verdict: { readyMs },
      });
      if (o.deployId !== undefined) {
        this.store.updateDeploy(o.deployId, {
          status: 'rolled_back',
          reason: o.detail ? `${o.reason}: ${o.detail}` : o.reason,
          finishedAt: Date.now(),
        });
      }
      this.hooks.onAlert?.({
        kind: 'rolled_back',
        message: `${this.name} rolled back to ${short(target)} (${o.reason})`,
        details: { reason: o.reason, deployId: o.deployId },
      });
      this.log(`rolled back to ${short(target)} in ${readyMs} ms (${o.reason})`);
      return { deployId: id, from, to: target, readyMs };
    });
  }

  /**
   * The outcome of deploy `deployId` once its window has ended. An inconclusive deploy waits
   * for a human (`dancer accept` or `dancer rollback`).
   */
  async observation(deployId: number): Promise<DeployOutcome> {
    for (;;) {
      if (this.observer?.deployId === deployId) {
        const outcome = await this.observer.done;
        if (outcome.status !== 'inconclusive' && outcome.status !== 'observing') return outcome;
      }
      const d = this.store.getDeploy(deployId);
      if (!d) throw new DancerError('DANCER_NOT_FOUND', `No deploy #${deployId}.`);
      if (!['building', 'starting', 'observing', 'inconclusive'].includes(d.status)) {
        return { deployId, release: d.toRelease, status: d.status, reasons: d.reason ? [d.reason] : [] };
      }
      if (this.state === 'stopped') {
        return { deployId, release: d.toRelease, status: d.status, reasons: ['supervisor stopped'] };
      }
      await delay(500);
    }
  }

  /** Mark an inconclusive deploy good (a human decided). */
  accept(actor = 'cli'): { deployId: number } {
    const last = this.store.listDeploys(this.name, 10).find((d) => d.kind === 'deploy');
    if (!last || (last.status !== 'inconclusive' && last.status !== 'observing')) {
      throw new DancerError('DANCER_NOT_FOUND', 'No inconclusive or observed deploy to accept.');
    }
    if (this.observer?.deployId === last.id) {
      this.observer.cancelled = `accepted by ${actor}`;
      this.observer = undefined;
    }
    this.store.updateDeploy(last.id, { status: 'accepted', reason: `accepted by ${actor}`, finishedAt: Date.now() });
    this.store.saveState(this.name, { lastGoodRelease: last.toRelease });
    return { deployId: last.id };
  }

  private startSampling(): void {
    const every = this.options.service.metrics.sampleSeconds * 1000;
    this.sampleTimer = setInterval(() => this.sampleOnce(Date.now()), every);
    this.sampleTimer.unref();
  }

  private sampleOnce(now: number): void {
    const rows: Array<{ ts: number; service: string; scope: string; pid: number | null; name: string; value: number }> =
      [];
    const push = (scope: string, s: TreeSample, pid: number) => {
      rows.push({ ts: now, service: this.name, scope, pid, name: 'rss_bytes', value: s.rssBytes });
      rows.push({ ts: now, service: this.name, scope, pid, name: 'fds', value: s.fds });
      rows.push({ ts: now, service: this.name, scope, pid, name: 'threads', value: s.threads });
      if (s.cpuPercent !== undefined)
        rows.push({ ts: now, service: this.name, scope, pid, name: 'cpu_percent', value: s.cpuPercent });
    };
    if (this.workerSampler) {
      const s = this.workerSampler.sampler.sample(now);
      if (s) {
        this.lastSample = s;
        push('worker', s, this.workerSampler.pgid);
      }
    }
    const self = this.selfSampler.sample(now);
    if (self) push('supervisor', self, process.pid);
    try {
      this.store.insertMetrics(rows);
      if (Math.random() < 0.01) this.store.pruneMetrics(now - this.options.service.metrics.keepHours * 3_600_000);
    } catch (error) {
      this.log(`metrics not stored: ${errorMessage(error)}`);
    }
  }

  private liveFigures() {
    const self = readStat(process.pid);
    return {
      service: this.name,
      up: this.current !== undefined,
      state: this.state,
      restarts: this.restartsTotal,
      worker: this.lastSample,
      supervisorRssBytes: (self?.rssPages ?? 0) * 4096,
      emergencyStop: this.emergencyStopped(),
    };
  }

  /** The status report (`dancer status --json`). */
  status(): StatusReport {
    return statusFromStore(this.options.db, this.name, {
      running: true,
      state: this.state,
      startedAt: this.startedAt,
      restarts: this.restartsTotal,
      recentRestarts: recentRestarts(this.history, Date.now(), this.policy()),
      sockets: [...this.boundSockets],
      observing: this.observer
        ? {
            deployId: this.observer.deployId,
            release: this.observer.release,
            windowEndsAt: this.store.getDeploy(this.observer.deployId)?.windowEndsAt ?? null,
          }
        : null,
      sample: this.lastSample,
    });
  }

  private async handleControl(request: ControlRequest): Promise<unknown> {
    const args = request.args ?? {};
    switch (request.cmd) {
      case 'status':
        return this.status();
      case 'reload':
        return this.reload();
      case 'deploy':
        return this.deploy(String(args.ref ?? ''), {
          noWait: args.noWait === true,
          actor: typeof args.actor === 'string' ? args.actor : 'cli',
          fixId: typeof args.fixId === 'number' ? args.fixId : undefined,
          targetTemplateId: typeof args.targetTemplateId === 'number' ? args.targetTemplateId : undefined,
          reason: typeof args.reason === 'string' ? args.reason : undefined,
        });
      case 'rollback':
        return this.rollback({
          reason: typeof args.reason === 'string' ? args.reason : 'manual',
          actor: typeof args.actor === 'string' ? args.actor : 'cli',
        });
      case 'accept':
        return this.accept(typeof args.actor === 'string' ? args.actor : 'cli');
      case 'shutdown':
        setImmediate(() => void this.shutdown());
        return { stopping: true };
      default:
        throw new DancerError('DANCER_USAGE', `Unknown control command "${request.cmd}".`);
    }
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
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    if (this.sampleTimer) clearInterval(this.sampleTimer);
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.observer?.wake();
    const drainMs = this.options.service.drainSeconds * 1000;
    const workers = [this.current, ...this.draining].filter((w): w is Worker => w !== undefined);
    await Promise.all([...workers.map((w) => w.stop(drainMs)), ...[...this.candidates].map((w) => w.kill())]);
    this.current = undefined;
    await this.closeEndpoints();
    await this.hooks.flush?.();
    this.store.saveState(this.name, { state: 'stopped', workers: [], supervisorPid: null });
    this.state = 'stopped';
  }

  /** Second signal: SIGKILL every worker group now. */
  forceStop(): void {
    for (const w of [this.current, ...this.draining, ...this.candidates]) w?.signal('SIGKILL');
    try {
      this.store.saveState(this.name, { state: 'stopped', workers: [], supervisorPid: null });
    } catch {
      // the store may be closing; the next start reaps by pid anyway
    }
  }
}

/** Build a status report from the store alone (when no supervisor runs) or with live data. */
export function statusFromStore(
  db: Db,
  service: string,
  live?: {
    running: boolean;
    state: string;
    startedAt: number;
    restarts: number;
    recentRestarts: number;
    sockets: Array<{ name: string; host: string; port: number }>;
    observing: StatusReport['observing'];
    sample: TreeSample | undefined;
  },
): StatusReport {
  const store = new SuperviseStore(db);
  const row = store.getState(service);
  const stop = store.getFlag(EMERGENCY_STOP_FLAG);
  const last = store.listDeploys(service, 1)[0];
  const workers = (row?.workers ?? []).filter((w) => live || isAlive(w.pid));
  const running = live?.running ?? false;
  const startedAt = live?.startedAt ?? row?.startedAt ?? null;
  return {
    service,
    running,
    state:
      live?.state ??
      (row
        ? running
          ? row.state
          : row.state === 'stopped'
            ? 'stopped'
            : `dead (the supervisor${row.supervisorPid ? ` pid ${row.supervisorPid}` : ''} died while ${row.state}; start it again with dancer run)`
        : 'never started'),
    supervisorPid: running ? process.pid : null,
    uptimeSeconds: running && startedAt ? Math.round((Date.now() - startedAt) / 1000) : null,
    pids: workers.map((w) => w.pid),
    workers,
    currentRelease: row?.currentRelease ?? null,
    previousRelease: row?.previousRelease ?? null,
    lastGoodRelease: row?.lastGoodRelease ?? null,
    restarts: live?.restarts ?? row?.restarts ?? 0,
    recentRestarts: live?.recentRestarts ?? 0,
    sockets: live?.sockets ?? [],
    observing: live?.observing ?? null,
    lastDeploy: last
      ? { id: last.id, kind: last.kind, toRelease: last.toRelease, status: last.status, reason: last.reason }
      : null,
    emergencyStop: {
      engaged: stop !== undefined,
      setBy: stop?.setBy ?? null,
      reason: stop?.reason ?? null,
      setAt: stop?.setAt ?? null,
    },
    openFixes: openFixes(db),
    metrics: live?.sample
      ? {
          rssBytes: live.sample.rssBytes,
          cpuPercent: live.sample.cpuPercent ?? null,
          fds: live.sample.fds,
          threads: live.sample.threads,
        }
      : null,
  };
}

function openFixes(db: Db): Array<Record<string, unknown>> | null {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='fixes'").get();
  if (!exists) return null;
  const col = stateColumn(db);
  if (!col)
    return db.prepare('SELECT * FROM fixes ORDER BY rowid DESC LIMIT 50').all() as Array<Record<string, unknown>>;
  const marks = TERMINAL_FIX_STATES.map(() => '?').join(',');
  return db
    .prepare(`SELECT * FROM fixes WHERE ${col} NOT IN (${marks}) ORDER BY rowid DESC LIMIT 50`)
    .all(...TERMINAL_FIX_STATES) as Array<Record<string, unknown>>;
}

function short(release: string | null | undefined): string {
  if (!release) return '-';
  return /^[0-9a-f]{40,64}$/.test(release) ? release.slice(0, 12) : release;
}
