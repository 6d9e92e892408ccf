/**
 * The second half of the one rollback path. The supervisor hands off to the last good release
 * first (users are safe within the handoff); this records the rollback everywhere else: the
 * revert in git (`dancer/rollback-*`, `git revert`, merge `--no-ff`, so HEAD's tree equals the
 * serving release's tree), the fix `rolled_back` with its actor and reason, and through the fix
 * transition the notifications, and an `audit` row. A rollback of a plain deploy (no fix) gets
 * its revert in git too ({@link revertDeploy}). The automatic rollback, `dancer rollback`, Zulip
 * and a supervisor restarted after a kill -9 all end here.
 */
import { DancerError, errorMessage } from '../errors.js';
import {
  type Actor,
  type FixRecord,
  getFix,
  type PipelineDeps,
  ROLLBACK_STATES,
  revertDeploy,
  rollbackFix,
} from '../fixes/index.js';
import { recordAudit } from '../notify/index.js';
import type { RollbackOutcome, Supervisor } from '../supervise/index.js';

/** Records rollbacks the supervisor made. */
export interface RollbackRecorder {
  /** Record `outcome` (once per rollback: a second call returns the same promise). */
  record(outcome: RollbackOutcome): Promise<FixRecord | undefined>;
  /** Record the rollbacks a previous process decided but did not record (after a kill -9). */
  resume(): Promise<FixRecord[]>;
  /**
   * Roll back fix `id` by hand (Zulip `rollback ID`, the dashboard), through the same path: while
   * its release serves, the supervisor hands off to the last good release and the rollback is
   * recorded as above; once it no longer serves (later deploys went on top), its merge is
   * reverted on main and the result deployed through the supervisor (observed like any new
   * code, unless its tree already served well). Either way: fix `rolled_back` with the actor and
   * reason, an audit row.
   *
   * @throws {DancerError} `DANCER_ILLEGAL_TRANSITION` when the fix is not merged or already rolled
   * back; `DANCER_ROLLBACK_FAILED` as {@link rollbackFix}.
   */
  rollbackFix(id: number, o: { actor: string; reason: string }): Promise<FixRecord>;
  /** Stop listening; resolves once every recording has settled. */
  stop(): Promise<void>;
}

const ROLLBACKABLE: ReadonlySet<string> = new Set(ROLLBACK_STATES);

/** The fix actor for a supervisor actor string (`observer`, `cli`, `alice`, `human:bob@x`). */
export function fixActorOf(actor: string): Actor {
  if (actor === 'observer' || actor === 'supervisor') return 'supervisor';
  return `human:${actor.replace(/^human:/, '')}`;
}

/** Record a rollback of a plain deploy in git, when both releases came from commits. */
async function recordPlainIn(
  supervisor: Supervisor,
  deps: PipelineDeps,
  outcome: RollbackOutcome,
  log: (message: string) => void,
): Promise<void> {
  const commitOf = (tree: string | null) =>
    tree ? supervisor.store.getRelease(supervisor.name, tree)?.commitSha : undefined;
  const fromCommit = commitOf(outcome.from);
  const toCommit = commitOf(outcome.to);
  if (!fromCommit || !toCommit) return; // the `worktree` pseudo-release: the service is not in git
  const result = await revertDeploy(
    { ...deps, signal: undefined },
    {
      rollbackId: outcome.deployId,
      fromCommit,
      toCommit,
      actor: outcome.actor,
      reason: outcome.reason,
    },
  );
  if (result?.created === false) return;
  const what = result ? `revert ${result.commit.slice(0, 12)} merged on main` : 'main already had the serving tree';
  audit(deps, outcome, `release:${outcome.from?.slice(0, 12) ?? '?'}`, what);
  log(`rollback #${outcome.deployId} recorded: ${what}`);
}

/** The audit row of a recorded rollback (the decision itself is the supervisor's deploys row). */
function audit(
  deps: PipelineDeps,
  outcome: Pick<RollbackOutcome, 'actor' | 'reason'> & Partial<RollbackOutcome>,
  target: string,
  detail: string,
): void {
  recordAudit(deps.db, {
    ts: (deps.clock ?? Date.now)(),
    actor: fixActorOf(outcome.actor),
    source: 'system',
    action: 'rollback',
    target,
    args: { rollbackId: outcome.deployId, from: outcome.from, to: outcome.to, reason: outcome.reason },
    outcome: 'ok',
    detail,
  });
}

/** Subscribe to the supervisor's rollbacks and record each one. */
export function startRollbackRecorder(o: {
  supervisor: Supervisor;
  deps: () => PipelineDeps;
  log: (message: string) => void;
}): RollbackRecorder {
  const inFlight = new Map<number, Promise<FixRecord | undefined>>();
  const recordPlain = (deps: PipelineDeps, outcome: RollbackOutcome) =>
    recordPlainIn(o.supervisor, deps, outcome, o.log);
  const record = (outcome: RollbackOutcome): Promise<FixRecord | undefined> => {
    const known = inFlight.get(outcome.deployId);
    if (known) return known;
    const run = (async () => {
      const deps = o.deps();
      if (outcome.fixId === undefined) {
        await recordPlain(deps, outcome);
        return undefined;
      }
      const fix = getFix(deps.db, outcome.fixId);
      if (!ROLLBACKABLE.has(fix.state)) return fix;
      // No abort signal: a rollback already served must end recorded, even during a stop.
      const after = await rollbackFix({ ...deps, signal: undefined }, fix.id, {
        actor: fixActorOf(outcome.actor),
        reason: outcome.reason,
      });
      audit(deps, outcome, `fix:${fix.id}`, `revert ${after.rollbackCommit?.slice(0, 12) ?? '?'} merged on main`);
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
        .filter((d) => d.kind === 'rollback' && d.status === 'succeeded');
      const asOutcome = (d: (typeof rows)[number], fixId: number | undefined): RollbackOutcome => ({
        deployId: d.id,
        from: d.fromRelease,
        to: d.toRelease,
        readyMs: (d.readyAt ?? d.startedAt) - d.startedAt,
        decidedAt: d.startedAt,
        fixId,
        actor: d.actor ?? 'supervisor',
        reason: d.reason ?? 'rollback resumed after a restart',
      });
      for (const d of [...rows].reverse()) {
        if (d.fixId === null) continue;
        const fix = getFix(o.deps().db, d.fixId);
        if (!ROLLBACKABLE.has(fix.state)) continue;
        const after = await record(asOutcome(d, fix.id));
        if (after) out.push(after);
      }
      // The newest rollback of a plain deploy, while what it restored still serves (an older one
      // was overtaken by later deploys: reverting it now would undo them).
      const newest = rows[0];
      if (newest && newest.fixId === null && newest.toRelease === sup.status().currentRelease) {
        await record(asOutcome(newest, undefined));
      }
      return out;
    },
    async rollbackFix(id, by) {
      const deps = o.deps();
      const fix = getFix(deps.db, id);
      if (!ROLLBACKABLE.has(fix.state) || !fix.mergeCommit) {
        throw new DancerError(
          'DANCER_ILLEGAL_TRANSITION',
          `Fix ${id} is ${fix.state}; only a merged fix can be rolled back`,
          {
            details: { id, state: fix.state },
          },
        );
      }
      const sup = o.supervisor;
      const current = sup.status().currentRelease;
      const serving = sup.store
        .listDeploys(sup.name, 50)
        .some((d) => d.kind === 'deploy' && d.fixId === id && d.toRelease === current);
      if (serving) {
        const outcome = await sup.rollback({ reason: by.reason, actor: by.actor });
        return (await record(outcome)) ?? getFix(deps.db, id);
      }
      const after = await rollbackFix({ ...deps, signal: undefined }, id, {
        actor: fixActorOf(by.actor),
        reason: by.reason,
      });
      const revert = after.rollbackCommit?.slice(0, 12) ?? '?';
      audit(
        deps,
        { actor: by.actor, reason: by.reason, fixId: id },
        `fix:${id}`,
        `revert ${revert} merged on main and deployed (the fix no longer served)`,
      );
      o.log(`fix ${id} rolled back by ${by.actor}: revert ${revert} merged and deployed`);
      return after;
    },
    async stop() {
      unsubscribe();
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
