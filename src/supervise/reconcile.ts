/**
 * Reconciliation at start: what a previous supervisor (stopped, crashed or killed -9) left
 * behind. Leftover workers are stopped (pid-reuse safe, every wait bounded) and deploys it never
 * finished are settled.
 */
import { existsSync } from 'node:fs';
import { DancerError } from '../errors.js';
import { gitSync } from '../process/index.js';
import { type Clock, type Timers, waitUntil } from './clock.js';
import type { ServiceConfig, SupervisorPaths } from './paths.js';
import { isAlive, readStat } from './proc.js';
import type { ReleaseQuality } from './release-quality.js';
import { buildRelease, resolveRelease, WORKTREE_RELEASE } from './releases.js';
import type { DeployRow, PersistedWorker, SuperviseStore } from './state-store.js';
import { type SupervisorHooks, shortRelease } from './types.js';

/** How long a SIGKILLed group may take to disappear before the supervisor moves on. */
export const KILL_WAIT_MS = 5000;

/** Options of {@link reapLeftovers}. */
export interface ReapOptions {
  drainMs: number;
  clock: Clock;
  timers: Timers;
  log: (message: string) => void;
}

/**
 * SIGTERM each leftover worker's group, SIGKILL it after `drainMs`, and wait (bounded) until it
 * is gone. A recorded pid whose start time differs is another process now and is left alone.
 * Resolves with the pids that were still alive when the waits ran out.
 */
export async function reapLeftovers(workers: readonly PersistedWorker[], o: ReapOptions): Promise<number[]> {
  const waits: Promise<number | undefined>[] = [];
  for (const w of workers) {
    const st = readStat(w.pid);
    if (!st || st.state === 'Z') continue;
    if (w.startTicks !== undefined && st.startTicks !== w.startTicks) continue;
    o.log(`stopping leftover worker pid ${w.pid} from the previous supervisor`);
    try {
      process.kill(-w.pgid, 'SIGTERM');
    } catch {
      continue;
    }
    waits.push(
      (async () => {
        const gone = () => !isAlive(w.pid);
        await waitUntil(gone, { timeoutMs: o.drainMs, everyMs: 50, clock: o.clock, timers: o.timers });
        try {
          process.kill(-w.pgid, 'SIGKILL');
        } catch {
          // gone
        }
        const ok = await waitUntil(gone, { timeoutMs: KILL_WAIT_MS, everyMs: 20, clock: o.clock, timers: o.timers });
        if (!ok) o.log(`leftover worker pid ${w.pid} is still alive after SIGKILL`);
        return ok ? undefined : w.pid;
      })(),
    );
  }
  return (await Promise.all(waits)).filter((p): p is number => p !== undefined);
}

/**
 * Settle the deploys a previous supervisor left unfinished, given the release it will start:
 * one still observing that release is resumed (returned); every other one is marked failed.
 */
export function settleUnfinishedDeploys(
  store: SuperviseStore,
  service: string,
  release: string,
  o: { now: number; log: (message: string) => void },
): { resumed: DeployRow | undefined } {
  const unfinished = store.unfinishedDeploys(service).filter((d) => d.kind !== 'rollback');
  for (const d of unfinished) {
    if (d.status !== 'observing' || d.toRelease !== release) {
      store.updateDeploy(d.id, {
        status: 'failed',
        reason: 'interrupted: the supervisor stopped before the new release served; the previous release was kept',
        finishedAt: o.now,
      });
      o.log(`deploy #${d.id} was interrupted before it served; keeping ${shortRelease(release)}`);
    }
  }
  return { resumed: unfinished.find((d) => d.status === 'observing' && d.toRelease === release) };
}

/** A rollback a previous supervisor decided but did not see through (killed before the handoff ended). */
export function pendingRollback(store: SuperviseStore, service: string): DeployRow | undefined {
  return store.unfinishedDeploys(service).find((d) => d.kind === 'rollback' && d.status === 'starting');
}

/** Mark a pending rollback done once its target serves again. */
export function finishPendingRollback(store: SuperviseStore, row: DeployRow, now: number): void {
  store.updateDeploy(row.id, {
    status: 'succeeded',
    readyAt: now,
    finishedAt: now,
    verdict: { readyMs: now - row.startedAt, resumedAfterRestart: true },
  });
  store.saveState(row.service, { lastGoodRelease: row.toRelease });
}

/** What {@link startRelease} needs from the supervisor. */
export interface StartReleaseHost {
  readonly name: string;
  readonly service: ServiceConfig;
  readonly paths: SupervisorPaths;
  readonly store: SuperviseStore;
  readonly quality: ReleaseQuality;
  readonly hooks: SupervisorHooks;
  /** Variables of Dancer's environment the build does not inherit. */
  readonly withholdEnv: readonly string[];
  log(message: string): void;
}

/**
 * The release a starting supervisor serves. Outside git: the working tree. In git: after a
 * crash, the release that served (built, immutable); after a clean stop or on the first run,
 * the release built once from the commit at HEAD, never the mutable checkout. The HEAD release
 * is what the humans had, so it counts as good unless it was rolled back.
 *
 * @throws {DancerError} `DANCER_DEPLOY_FAILED` when HEAD does not build.
 */
export async function startRelease(host: StartReleaseHost, o: { cleanStop: boolean }): Promise<string> {
  const { paths, store } = host;
  if (!paths.repo) return WORKTREE_RELEASE;
  const stored = store.getState(host.name)?.currentRelease;
  if (!o.cleanStop && stored && stored !== WORKTREE_RELEASE) {
    const row = store.getRelease(host.name, stored);
    if (row?.status === 'ready' && existsSync(row.dir)) return stored;
  }
  const { commit, tree } = resolveRelease(paths.repo, 'HEAD');
  const dirty = gitSync(paths.repo, ['status', '--porcelain=v1', '--untracked-files=no'], { allowFail: true });
  if (dirty.exitCode === 0 && dirty.stdout.trim() !== '') {
    host.log(`the checkout has uncommitted changes: they are not served (serving commit ${shortRelease(commit)})`);
  }
  host.log(`release from HEAD ${shortRelease(commit)} (tree ${shortRelease(tree)})`);
  await buildRelease({
    service: host.name,
    repo: paths.repo,
    commit,
    tree,
    releasesDir: paths.releasesDir,
    build: host.service.build,
    store,
    env: host.service.env,
    withholdEnv: host.withholdEnv,
    onOutput: (chunk) => host.hooks.onLog?.(chunk.toString('utf8').trimEnd()),
  });
  if (host.quality.isBad(tree)) host.log(`warning: HEAD's tree ${shortRelease(tree)} was rolled back before`);
  else host.quality.markGood(tree, Date.now());
  return tree;
}

/**
 * Refuse to start beside a live supervisor of the same service that does not serve a control
 * socket (one that does answered it, and the CLI told the user).
 *
 * @throws {DancerError} `DANCER_SUPERVISOR_RUNNING`
 */
export function assertNoLiveSupervisor(
  previous: { supervisorPid: number | null; state: string } | undefined,
  controlOn: boolean,
): void {
  const pid = previous?.supervisorPid;
  if (!pid || pid === process.pid || !isAlive(pid)) return;
  if (readStat(pid) && previous.state !== 'stopped' && !controlOn) {
    throw new DancerError('DANCER_SUPERVISOR_RUNNING', `Supervisor pid ${pid} still runs.`);
  }
}
