/**
 * Adoption of the workers a killed supervisor left serving on inherited sockets. They are not
 * this supervisor's children and their output pipes are gone, so they are not taken over: they
 * keep answering until a fresh worker of the current release is ready on the same sockets, then
 * drain (SIGTERM, SIGKILL after the drain timeout). Every signal is guarded against pid reuse by
 * the process start time recorded with the worker. The decision is pure ({@link planAdoption});
 * {@link Orphans} does the signalling.
 */
import { type Clock, type Timers, waitUntil } from './clock.js';
import { type ProcStat, readStat } from './proc.js';
import { KILL_WAIT_MS } from './reconcile.js';
import type { PersistedWorker } from './state-store.js';

/** What to do with one recorded worker of a previous supervisor. */
export type OrphanAction =
  /** Gone, or its pid now belongs to another process: never signalled. */
  | 'forget'
  /** Was never ready (a candidate): SIGTERM now. */
  | 'stop_now'
  /** Was already draining: let it finish, SIGKILL after the drain timeout. */
  | 'let_drain'
  /** Serves: keep it until a fresh worker is ready, then drain it. */
  | 'drain_after_ready';

/** One line of the adoption plan. */
export interface OrphanDecision {
  worker: PersistedWorker;
  action: OrphanAction;
  reason: string;
}

/** The process facts the plan needs (a /proc reader in production). */
export type StatReader = (pid: number) => Pick<ProcStat, 'state' | 'startTicks'> | undefined;

/** True when `w`'s pid is still the process that was recorded (alive, same start time). */
export function sameProcess(w: PersistedWorker, stat: StatReader): boolean {
  const st = stat(w.pid);
  return st !== undefined && st.state !== 'Z' && w.startTicks !== undefined && st.startTicks === w.startTicks;
}

/**
 * Decide, for each worker a previous supervisor recorded, what a supervisor that inherited the
 * same sockets does with it (pure). A record without a start time cannot be told from a reused
 * pid, so it is never signalled.
 */
export function planAdoption(workers: readonly PersistedWorker[], stat: StatReader, selfPid: number): OrphanDecision[] {
  return workers.map((worker) => {
    const st = stat(worker.pid);
    if (worker.pid === selfPid) return { worker, action: 'forget', reason: 'the pid is this supervisor' };
    if (!st || st.state === 'Z') return { worker, action: 'forget', reason: 'exited' };
    if (worker.startTicks === undefined) {
      return { worker, action: 'forget', reason: 'no start time recorded: pid reuse cannot be ruled out' };
    }
    if (st.startTicks !== worker.startTicks) {
      return { worker, action: 'forget', reason: 'pid reused by another process (start time differs)' };
    }
    if (worker.role === 'candidate') return { worker, action: 'stop_now', reason: 'never passed readiness' };
    if (worker.role === 'draining') return { worker, action: 'let_drain', reason: 'was draining (already signalled)' };
    return { worker, action: 'drain_after_ready', reason: 'serving' };
  });
}

/** Options of {@link Orphans}. */
export interface OrphanOptions {
  drainMs: number;
  clock: Clock;
  timers: Timers;
  log: (message: string) => void;
  /** The /proc reader (tests may wrap it). */
  stat?: StatReader;
}

/** The persisted record of a running worker (`startTicks` from /proc: the pid-reuse guard). */
export function workerRecord(
  w: { pid: number; pgid: number; release: string; startedAt: number },
  role: PersistedWorker['role'],
  generation: number,
): PersistedWorker {
  const { pid, pgid, release, startedAt } = w;
  return { pid, pgid, release, startedAt, startTicks: readStat(pid)?.startTicks, role, generation };
}

/** The orphans of one start: recorded in the state (role `orphan`) until they are gone. */
export class Orphans {
  private readonly live: PersistedWorker[];
  private readonly stat: StatReader;
  private readonly waits: Promise<void>[] = [];
  /** Pids whose drain has started (recorded as `draining` then: never SIGTERMed twice). */
  private readonly draining = new Set<number>();
  private drained: Promise<void> | undefined;

  constructor(
    readonly plan: readonly OrphanDecision[],
    private readonly o: OrphanOptions,
  ) {
    this.stat = o.stat ?? readStat;
    this.live = plan.filter((d) => d.action !== 'forget').map((d) => ({ ...d.worker, role: 'orphan' as const }));
    for (const d of plan) {
      if (d.action === 'forget' && d.reason !== 'exited') o.log(`not adopting pid ${d.worker.pid}: ${d.reason}`);
    }
  }

  /** The orphans still alive (for the persisted state: a supervisor killed again adopts them too). */
  records(): PersistedWorker[] {
    return this.live
      .filter((w) => sameProcess(w, this.stat))
      .map((w) => (this.draining.has(w.pid) ? { ...w, role: 'draining' as const } : w));
  }

  /** How many orphans serve until a fresh worker is ready. */
  get serving(): number {
    return this.plan.filter((d) => d.action === 'drain_after_ready').length;
  }

  /** SIGTERM the never-ready ones; start the drain timeout of the ones already draining. */
  settleNow(): void {
    for (const d of this.plan) {
      if (d.action === 'stop_now') this.drain(d.worker, true);
      if (d.action === 'let_drain') this.drain(d.worker, false);
    }
  }

  /** A fresh worker is ready: drain the serving orphans. Resolves when every orphan is gone (or given up on). */
  drainServing(): Promise<void> {
    if (!this.drained) {
      for (const d of this.plan) if (d.action === 'drain_after_ready') this.drain(d.worker, true);
      this.drained = this.settled();
    }
    return this.drained;
  }

  /** Resolves once every drain started so far has finished. */
  async settled(): Promise<void> {
    await Promise.all(this.waits);
  }

  /** SIGKILL every orphan still alive now (second stop signal). */
  killAll(): void {
    for (const w of this.live) this.signal(w, 'SIGKILL');
  }

  private signal(w: PersistedWorker, signal: NodeJS.Signals): boolean {
    if (!sameProcess(w, this.stat)) return false;
    try {
      process.kill(-w.pgid, signal);
      return true;
    } catch {
      return false;
    }
  }

  private drain(w: PersistedWorker, term: boolean): void {
    if (!sameProcess(w, this.stat) || this.draining.has(w.pid)) return;
    this.draining.add(w.pid);
    this.o.log(`draining pid ${w.pid} left serving by the previous supervisor (release ${w.release.slice(0, 12)})`);
    if (term) this.signal(w, 'SIGTERM');
    const gone = () => !sameProcess(w, this.stat);
    const o = this.o;
    this.waits.push(
      (async () => {
        if (await waitUntil(gone, { timeoutMs: o.drainMs, everyMs: 50, clock: o.clock, timers: o.timers })) return;
        this.signal(w, 'SIGKILL');
        if (!(await waitUntil(gone, { timeoutMs: KILL_WAIT_MS, everyMs: 20, clock: o.clock, timers: o.timers }))) {
          o.log(`pid ${w.pid} left by the previous supervisor is still alive after SIGKILL`);
        }
      })(),
    );
  }
}
