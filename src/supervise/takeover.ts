/**
 * The sockets a starting supervisor serves on, and what becomes of the workers a previous one
 * left: with sockets inherited from the launcher (socket activation) those workers still serve
 * and are adopted (drained once a fresh worker is ready, see ./orphans); otherwise they are
 * stopped first and the sockets are bound anew.
 */
import type { Clock, Timers } from './clock.js';
import { takeInheritedSockets } from './inherit.js';
import { Orphans, planAdoption } from './orphans.js';
import type { ServiceConfig } from './paths.js';
import { readStat } from './proc.js';
import { reapLeftovers } from './reconcile.js';
import { assertPortsFree, bindSockets, type HeldSocket } from './sockets.js';
import type { PersistedWorker } from './state-store.js';

/** What {@link takeOver} found or made. */
export interface TakeOver {
  sockets: HeldSocket[];
  /** Set when the sockets were inherited (even with no orphan left). */
  orphans: Orphans | undefined;
}

/**
 * Take the inherited sockets and adopt the previous workers, or reap them and bind.
 *
 * @throws {DancerError} `DANCER_SPAWN_FAILED` (port in use), `DANCER_CONFIG_INVALID` (inherited sockets that do not fit).
 */
export async function takeOver(
  svc: ServiceConfig,
  previous: readonly PersistedWorker[],
  o: { drainMs: number; clock: Clock; timers: Timers; log?: ((message: string) => void) | undefined },
): Promise<TakeOver> {
  const opts = { ...o, log: o.log ?? (() => {}) };
  const specs = svc.listen.map((l) => ({ name: l.name, host: l.host, port: l.port }));
  const inherited = svc.mode === 'socket' ? await takeInheritedSockets(specs) : undefined;
  if (inherited) {
    const orphans = new Orphans(planAdoption(previous, readStat, process.pid), opts);
    orphans.settleNow();
    for (const [i, s] of inherited.entries()) {
      const want = specs[i]?.port;
      if (want && want !== s.port)
        opts.log(`warning: listen ${s.name} says port ${want}; the inherited socket is on ${s.port}`);
    }
    const where = inherited.map((s) => `${s.name} ${s.host}:${s.port}`).join(', ');
    opts.log(
      `serving on inherited sockets (${where}); ${orphans.serving} worker(s) of the previous supervisor serve meanwhile`,
    );
    return { sockets: inherited, orphans };
  }
  await reapLeftovers(previous, opts);
  if (svc.mode !== 'socket') return { sockets: [], orphans: undefined };
  await assertPortsFree(specs);
  return { sockets: bindSockets(specs), orphans: undefined };
}
