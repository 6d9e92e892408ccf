/**
 * Reconciliation at start: what a previous supervisor (stopped, crashed or killed -9) left
 * behind. Leftover workers are stopped (pid-reuse safe, every wait bounded) and deploys it never
 * finished are settled.
 */
import { type Clock, type Timers, waitUntil } from './clock.js';
import { isAlive, readStat } from './proc.js';
import type { DeployRow, PersistedWorker, SuperviseStore } from './state-store.js';
import { shortRelease } from './types.js';

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
  const unfinished = store.unfinishedDeploys(service);
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
