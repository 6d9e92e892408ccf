/**
 * The second half of the one rollback path. The supervisor hands off to the last good release
 * first (users are safe within the handoff); this records the rollback everywhere else: the
 * revert in git (`dancer/rollback-*`, `git revert`, merge `--no-ff`, so HEAD's tree equals the
 * serving release's tree), the fix `rolled_back` with its actor and reason, and through the fix
 * transition the audit rows and notifications. The automatic rollback, `dancer rollback`, Zulip
 * and a supervisor restarted after a kill -9 all end here.
 */
import { errorMessage } from '../errors.js';
import type { Actor } from '../fixes/index.js';
import { type FixRecord, getFix, type PipelineDeps, rollbackFix } from '../fixes/index.js';
import type { RollbackOutcome, Supervisor } from '../supervise/index.js';

/** Records rollbacks the supervisor made. */
export interface RollbackRecorder {
  /** Record `outcome` (once per rollback: a second call returns the same promise). */
  record(outcome: RollbackOutcome): Promise<FixRecord | undefined>;
  /** Record the rollbacks a previous process decided but did not record (after a kill -9). */
  resume(): Promise<FixRecord[]>;
  /** Stop listening; resolves once every recording has settled. */
  stop(): Promise<void>;
}

const ROLLBACKABLE = new Set(['deploying', 'observing', 'deployed']);

/** The fix actor for a supervisor actor string (`observer`, `cli`, `alice`, `human:bob@x`). */
export function fixActorOf(actor: string): Actor {
  if (actor === 'observer' || actor === 'supervisor') return 'supervisor';
  return `human:${actor.replace(/^human:/, '')}`;
}

/** Subscribe to the supervisor's rollbacks and record each one. */
export function startRollbackRecorder(o: {
  supervisor: Supervisor;
  deps: () => PipelineDeps;
  log: (message: string) => void;
}): RollbackRecorder {
  const inFlight = new Map<number, Promise<FixRecord | undefined>>();
  const record = (outcome: RollbackOutcome): Promise<FixRecord | undefined> => {
    const known = inFlight.get(outcome.deployId);
    if (known) return known;
    const run = (async () => {
      if (outcome.fixId === undefined) return undefined;
      const deps = o.deps();
      const fix = getFix(deps.db, outcome.fixId);
      if (!ROLLBACKABLE.has(fix.state)) return fix;
      // No abort signal: a rollback already served must end recorded, even during a stop.
      const after = await rollbackFix({ ...deps, signal: undefined }, fix.id, {
        actor: fixActorOf(outcome.actor),
        reason: outcome.reason,
      });
      o.log(`fix ${fix.id} rolled back: revert ${after.rollbackCommit?.slice(0, 12) ?? '?'} merged`);
      return after;
    })();
    inFlight.set(outcome.deployId, run);
    run.catch((error) => o.log(`recording rollback #${outcome.deployId} failed: ${errorMessage(error)}`));
    return run;
  };
  const unsubscribe = o.supervisor.onRollback((outcome) => void record(outcome).catch(() => undefined));
  return {
    record,
    async resume() {
      const out: FixRecord[] = [];
      const sup = o.supervisor;
      const rows = sup.store
        .listDeploys(sup.name, 100)
        .filter((d) => d.kind === 'rollback' && d.status === 'succeeded' && d.fixId !== null);
      for (const d of rows.reverse()) {
        const fix = getFix(o.deps().db, d.fixId as number);
        if (!ROLLBACKABLE.has(fix.state)) continue;
        const after = await record({
          deployId: d.id,
          from: d.fromRelease,
          to: d.toRelease,
          readyMs: (d.readyAt ?? d.startedAt) - d.startedAt,
          decidedAt: d.startedAt,
          fixId: fix.id,
          actor: d.actor ?? 'supervisor',
          reason: d.reason ?? 'rollback resumed after a restart',
        });
        if (after) out.push(after);
      }
      return out;
    },
    async stop() {
      unsubscribe();
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
