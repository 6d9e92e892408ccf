/**
 * The fix pipeline's hand-off to the fleet, on the host that holds a pattern's lease. The local
 * pipeline consults, gates, waits for approval and merges as on a single host; then, instead of
 * deploying through its own supervisor only, it pushes the fix branch and the merged main to the
 * shared remote (`fixes.pushRemote`) and creates the fleet rollout with itself as the canary.
 * Its own deploy and observation window are then those of the canary: this host's rollout worker
 * deploys the fix like every other host's, and the local fix follows what the canary's row in
 * `fleet_deploys` says (observing → live; deployed → healthy; failed / rolled back → the local
 * fix is rolled back, and the rollout has stopped: no other host deploys it).
 *
 * Each step is persisted in the pattern's lease (`fleet_leases.stage` and `state`): `consulting`
 * (the gate), `gating`, `merged` (the merge commit and branch), `rolling_out` (the fleet fix id).
 * A host that takes over an expired lease resumes from there ({@link FleetPipeline.resumeOrphans}):
 * a merge already on the shared remote is rolled out, a rollout already created is left to the
 * workers; only a consultation or a gate that was cut short starts again.
 */
import { DancerError, errorMessage } from '../errors.js';
import { git } from '../process/index.js';
import type { Db } from '../store/index.js';
import type { FleetPool } from './connect.js';
import { acquireLease, type Lease, orphanedLeases, releaseLease, saveLease } from './leases.js';
import { localTemplateKey } from './local.js';
import { fleetTemplateIds, liveHosts, recordAudit } from './queries.js';
import { pushMerged, type RecheckFn } from './remerge.js';
import { createRollout, getFleetFix, recordFixEvent, reportDeploy } from './rollout.js';
import { fastForwardMain } from './rollout-worker.js';
import type { HostDeployState } from './waves.js';

/** A deploy the fix pipeline asks for (the shape of the pipeline's `DeployRequest`). */
export interface PipelineDeployRequest {
  kind: 'fix' | 'rollback';
  fixId: number;
  commit: string;
  patternId: string;
  /** The fix branch (set by the pipeline; the lease's copy is only as fresh as its last save). */
  branch?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** The pipeline's deploy and observe functions (the shapes of `DeployFn` and `ObserveFn`). */
export interface PipelineDeployFunctions {
  /** `commit`: the fix went out as another merge commit (re-merged onto a main that moved). */
  deploy(
    request: PipelineDeployRequest,
  ): Promise<{ ok: true; commit?: string | undefined } | { ok: false; reason: string }>;
  observe(
    request: PipelineDeployRequest,
  ): Promise<{ verdict: 'healthy'; reason?: string | undefined } | { verdict: 'rollback'; reason: string }>;
}

/** The parts of a local fix record the hand-off reads on each transition. */
export interface PipelineFix {
  id: number;
  patternId: string;
  state: string;
  branch: string | null;
  headCommit: string | null;
  mergeCommit: string | null;
  reason: string | null;
}

/** What the fleet gate hands over when this host took a pattern's lease. */
export interface ClaimedPattern {
  patternKey: string;
  /** Records the end of the work (consultation outcome, lease `done`/`failed`). Idempotent. */
  finish(outcome: { ok: boolean; details?: Record<string, unknown> }): Promise<void>;
}

/** Options of {@link createFleetPipeline}. */
export interface FleetPipelineOptions {
  pool: FleetPool;
  db: Db;
  host: string;
  leaseSeconds: number;
  canary: number;
  waveSize: number;
  /** fixes.retryCooldownMinutes (a finished lease reopens after it). */
  cooldownMinutes: number;
  /** The service's git checkout and the shared remote (`fixes.pushRemote`). */
  repo: string;
  remote: string;
  /** The branch fixes merge into (`fixes.mainBranch`); default: the checkout's current branch. */
  mainBranch?: string | undefined;
  /** May this host act fleet-wide now (connected, leases fresh)? */
  canAct: () => boolean;
  /** A rollout was created here: wake this host's rollout worker. */
  onRollout?: (() => void) | undefined;
  /** How many times the shared remote's main may be found moved before a fix's push gives up. Default 3. */
  pushAttempts?: number | undefined;
  /** Poll period while waiting for the canary's deploy, ms. Default 250. */
  pollMs?: number | undefined;
  log?: (message: string) => void;
}

/** The lease holder's side of a fleet rollout (see the module comment). */
export interface FleetPipeline {
  /**
   * Wrap the host's own deploy and observe: a fix deploy becomes push + fleet rollout (this host
   * the canary) and follows the canary's row; a rollback (the revert of a rolled-back fix) stays
   * local and its revert is pushed to the shared remote. `recheck` runs the gate on a combined
   * tree: a fix whose push finds the remote's main moved is re-merged onto it and pushed only
   * when that gate passes (src/fleet/remerge.ts).
   */
  deployFunctions(local: PipelineDeployFunctions, recheck?: RecheckFn): PipelineDeployFunctions;
  /**
   * After each recorded transition of a local fix: persist the stage in the lease; finish it at
   * the end. Returns, when the fix ended (deployed here, rolled back) after reaching the fleet, a
   * line on what became of its rollout, for the host's own audit log. Never throws.
   */
  onTransition(fix: PipelineFix): Promise<string | undefined>;
  /**
   * The fleet gate granted this host the lease of `localPatternId`'s pattern: remember it, and
   * bring the checkout's main up to the shared remote's (a fix starts from the fleet's main, so
   * its merge pushes cleanly). Never throws.
   */
  claimed(localPatternId: string, claim: ClaimedPattern): Promise<void>;
  /** The local fix a commit this host deploys belongs to (the supervisor records it on the deploy). */
  localFixFor(commit: string): { fixId: number; targetTemplateId?: number | undefined } | undefined;
  /**
   * Take over the expired leases of dead holders whose work reached `merged` or `rolling_out`
   * and finish it from there. Returns what was done, in words.
   */
  resumeOrphans(): Promise<string[]>;
  /**
   * Resume a lease this host just took over at its persisted stage. Returns a reason to skip
   * the consultation (the work was resumed), or undefined to consult (nothing to resume).
   */
  resumeLease(lease: Lease): Promise<string | undefined>;
}

const FINAL_ROW: readonly HostDeployState[] = ['deployed', 'failed', 'rolled_back', 'skipped'];
const ENDED_FIX = new Set(['deployed', 'rolled_back', 'failed', 'rejected', 'superseded']);

/** The lease holder's hand-off of its fix to the fleet rollout. */
export function createFleetPipeline(o: FleetPipelineOptions): FleetPipeline {
  const log = o.log ?? ((m: string) => process.stderr.write(`dancer: fleet: ${m}\n`));
  const pollMs = o.pollMs ?? 250;
  const claims = new Map<string, ClaimedPattern>();
  const fleetFixOf = new Map<number, number>();
  const localFixes = new Map<string, { fixId: number; targetTemplateId?: number | undefined }>();
  const reopenAfterSeconds = o.cooldownMinutes * 60;

  const patternKeyOf = async (patternId: string): Promise<string> => {
    const claim = claims.get(patternId);
    if (claim) return claim.patternKey;
    const key = /^\d+$/.test(patternId) ? localTemplateKey(o.db, Number(patternId)) : undefined;
    return key ? String((await fleetTemplateIds(o.pool, [key]))[0]) : `kind:${patternId}`;
  };

  const mainBranch = async (): Promise<string> =>
    o.mainBranch ?? (await git(o.repo, ['symbolic-ref', '--short', 'HEAD'])).stdout.trim();

  const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });

  /** Wait until this host may act fleet-wide (a partition holds the fix where it is). */
  const untilConnected = async (signal?: AbortSignal) => {
    let said = false;
    while (!o.canAct() && !signal?.aborted) {
      if (!said) log('cut off from the control plane: the fix waits here until it is back');
      said = true;
      await sleep(1000, signal);
    }
  };

  /** Push the fix branch and the merged main to the shared remote. */
  const push = async (branch: string | undefined) => {
    const main = await mainBranch();
    const refs = [`refs/heads/${main}:refs/heads/${main}`];
    if (branch) refs.unshift(`+refs/heads/${branch}:refs/heads/${branch}`);
    const r = await git(o.repo, ['push', '--porcelain', o.remote, ...refs], { allowFail: true });
    if (r.exitCode !== 0) {
      const line = r.stderr.split('\n').find((l) => l.trim() && !l.startsWith('To ')) ?? `exit ${r.exitCode}`;
      throw new DancerError('DANCER_PUSH_FAILED', `git push to ${o.remote} failed: ${line}`, {
        details: { remote: o.remote, stdout: r.stdout.slice(-2000), stderr: r.stderr.slice(-2000) },
      });
    }
  };

  /** The rollout of `commit` for the pattern when one exists (idempotent resume), else a new one. */
  const rolloutFor = async (patternKey: string, commit: string, branch: string): Promise<number> => {
    const existing = await o.pool.query(
      `SELECT id FROM fleet_fixes WHERE pattern_key = $1 AND commit_sha = $2 ORDER BY id DESC LIMIT 1`,
      [patternKey, commit],
    );
    if (existing.rows[0]) return Number(existing.rows[0].id);
    const hosts = new Set(await liveHosts(o.pool, o.leaseSeconds));
    hosts.add(o.host);
    const id = await createRollout(o.pool, {
      patternKey,
      branch,
      commit,
      host: o.host,
      hosts: [...hosts],
      canary: o.canary,
      waveSize: o.waveSize,
    });
    await recordAudit(o.pool, {
      host: o.host,
      actor: o.host,
      action: 'rollout',
      target: `fleet-fix:${id}`,
      details: { patternKey, commit, branch, hosts: [...hosts].sort() },
    });
    log(`fix ${branch || commit.slice(0, 12)} pushed to ${o.remote}; fleet rollout ${id} created (canary ${o.host})`);
    return id;
  };

  /** This host's row of a fleet fix once `done` says so (or the signal aborts). */
  const waitForRow = async (
    fleetFixId: number,
    done: (state: HostDeployState, fixState: string) => boolean,
    signal?: AbortSignal,
  ) => {
    for (;;) {
      if (signal?.aborted) return undefined;
      try {
        const fix = await getFleetFix(o.pool, fleetFixId);
        const row = fix?.deploys.find((d) => d.host === o.host);
        if (!fix) throw new DancerError('DANCER_NOT_FOUND', `No fleet fix ${fleetFixId}.`);
        if (!row) return { state: 'skipped' as HostDeployState, reason: 'this host has no deploy in the rollout', fix };
        if (done(row.state, fix.state)) return { state: row.state, reason: row.reason ?? '', fix };
      } catch (error) {
        if (error instanceof DancerError && error.code === 'DANCER_NOT_FOUND') throw error;
        log(`fleet fix ${fleetFixId}: waiting for the control plane (${errorMessage(error)})`);
      }
      await sleep(pollMs, signal);
    }
  };

  const fleetFixFor = async (request: PipelineDeployRequest): Promise<number | undefined> => {
    const known = fleetFixOf.get(request.fixId);
    if (known !== undefined) return known;
    const r = await o.pool.query(
      'SELECT id FROM fleet_fixes WHERE commit_sha = $1 AND created_by = $2 ORDER BY id DESC LIMIT 1',
      [request.commit, o.host],
    );
    return r.rows[0] ? Number(r.rows[0].id) : undefined;
  };

  const deployFix = async (
    request: PipelineDeployRequest,
    recheck: RecheckFn | undefined,
  ): Promise<{ ok: true; commit?: string | undefined } | { ok: false; reason: string }> => {
    await untilConnected(request.signal);
    if (request.signal?.aborted) return { ok: true }; // resumed at the next start, from the lease
    // Known before the rollout exists: this host's worker may claim the canary deploy at once.
    localFixes.set(request.commit, {
      fixId: request.fixId,
      targetTemplateId: /^\d+$/.test(request.patternId) ? Number(request.patternId) : undefined,
    });
    let patternKey = '';
    let got: Awaited<ReturnType<typeof acquireLease>> | undefined;
    while (!got) {
      try {
        patternKey = await patternKeyOf(request.patternId);
        got = await acquireLease(o.pool, {
          patternKey,
          host: o.host,
          leaseSeconds: o.leaseSeconds,
          reopenAfterSeconds,
        });
      } catch (error) {
        log(`fix ${request.fixId}: the control plane failed (${errorMessage(error)}); retrying`);
        await sleep(1000, request.signal);
        await untilConnected(request.signal);
        if (request.signal?.aborted) return { ok: true };
      }
    }
    if (got.kind !== 'acquired') {
      const why =
        got.kind === 'held'
          ? `host ${got.holder} holds pattern ${patternKey} (${got.stage})`
          : `pattern ${patternKey} was already handled by the fleet (${got.stage})`;
      return { ok: false, reason: `fleet: ${why}; this host's fix is not rolled out` };
    }
    const lease = got.lease;
    const state = lease.state;
    const branch = request.branch || (typeof state.branch === 'string' ? state.branch : '');
    // `localCommit`: the pipeline's merge when the fix went out re-merged as `commit`.
    const resumable =
      lease.stage === 'rolling_out' &&
      (state.commit === request.commit || state.localCommit === request.commit) &&
      typeof state.fleetFixId === 'number';
    let fleetFixId = resumable ? (state.fleetFixId as number) : undefined;
    let commit = resumable && typeof state.commit === 'string' ? state.commit : request.commit;
    try {
      if (fleetFixId === undefined) {
        let merged: Record<string, unknown> = {
          ...state,
          host: o.host,
          localFixId: request.fixId,
          commit: request.commit,
          branch,
        };
        const fence = (c: string) => {
          merged = { ...merged, commit: c, ...(c !== request.commit ? { localCommit: request.commit } : {}) };
          return saveLease(o.pool, {
            patternKey,
            host: o.host,
            leaseSeconds: o.leaseSeconds,
            stage: 'merged',
            state: merged,
          });
        };
        const pushed = await pushMerged({
          repo: o.repo,
          remote: o.remote,
          main: await mainBranch(),
          branch,
          merge: request.commit,
          fixId: request.fixId,
          attempts: o.pushAttempts ?? 3,
          recheck,
          fence: async (c) => {
            await fence(c);
            localFixes.set(c, localFixes.get(request.commit) as { fixId: number });
          },
          signal: request.signal,
          log,
        });
        if (!pushed.ok) {
          return { ok: false, reason: `fleet: the fix was not pushed to ${o.remote}: ${pushed.reason}` };
        }
        commit = pushed.commit;
        fleetFixId = await rolloutFor(patternKey, commit, branch);
        await saveLease(o.pool, {
          patternKey,
          host: o.host,
          leaseSeconds: o.leaseSeconds,
          stage: 'rolling_out',
          state: { ...merged, fleetFixId },
        });
      }
    } catch (error) {
      return { ok: false, reason: `fleet: ${errorMessage(error)}` };
    }
    localFixes.set(commit, localFixes.get(request.commit) as { fixId: number });
    fleetFixOf.set(request.fixId, fleetFixId);
    o.onRollout?.();
    const row = await waitForRow(fleetFixId, (s) => s !== 'pending' && s !== 'deploying', request.signal);
    if (!row) return { ok: true }; // aborted: resumed later from the lease
    if (row.state === 'failed' || row.state === 'skipped') {
      return { ok: false, reason: `fleet: the canary deploy on ${o.host} ${row.state}: ${row.reason}` };
    }
    return commit === request.commit ? { ok: true } : { ok: true, commit };
  };

  const observeFix = async (request: PipelineDeployRequest) => {
    const fleetFixId = await fleetFixFor(request);
    if (fleetFixId === undefined) {
      return { verdict: 'rollback' as const, reason: `fleet: no fleet rollout of ${request.commit.slice(0, 12)}` };
    }
    fleetFixOf.set(request.fixId, fleetFixId);
    const row = await waitForRow(fleetFixId, (s) => FINAL_ROW.includes(s), request.signal);
    if (!row) return { verdict: 'healthy' as const, reason: 'aborted' }; // the pipeline ignores an aborted verdict
    if (row.state === 'deployed') {
      return {
        verdict: 'healthy' as const,
        reason: `fleet: the canary's observation window passed on ${o.host} (${row.reason}); the rollout goes on (fleet fix ${fleetFixId})`,
      };
    }
    return {
      verdict: 'rollback' as const,
      reason: `fleet: the canary ${o.host} ${row.state.replace('_', ' ')}: ${row.reason}; rollout ${fleetFixId} stopped, no other host deploys it`,
    };
  };

  const finishLease = async (fix: PipelineFix) => {
    const ok = fix.state !== 'failed' && fix.state !== 'rolled_back';
    const details = { fixState: fix.state, localFixId: fix.id, branch: fix.branch, fleetFixId: fleetFixOf.get(fix.id) };
    const claim = claims.get(fix.patternId);
    if (claim) {
      claims.delete(fix.patternId);
      await claim.finish({ ok, details });
      return;
    }
    const patternKey = await patternKeyOf(fix.patternId);
    await saveLease(o.pool, {
      patternKey,
      host: o.host,
      leaseSeconds: o.leaseSeconds,
      stage: ok ? 'done' : 'failed',
      state: { host: o.host, ...details },
    });
  };

  /** What became of the fleet rollout of a local fix that ended, in one line. */
  const rolloutNote = async (fix: PipelineFix): Promise<string | undefined> => {
    const id = fleetFixOf.get(fix.id);
    if (id === undefined) return undefined;
    // The supervisor's rollback may be recorded before this host's worker reported it.
    if (fix.state === 'rolled_back') await waitForRow(id, (st) => FINAL_ROW.includes(st), AbortSignal.timeout(30_000));
    const f = await getFleetFix(o.pool, id);
    if (!f) return undefined;
    const hosts = f.deploys.map((d) => `${d.host} ${d.state}`).join(', ');
    const state = f.state === 'rolling_out' ? 'rolling out' : f.state;
    return `fleet fix ${id} ${state}${f.reason ? `: ${f.reason}` : ''} (${hosts})`;
  };

  const onTransition = async (fix: PipelineFix): Promise<string | undefined> => {
    if (!o.canAct()) return undefined; // the lease is fenced: what matters is re-checked before the rollout
    try {
      if (ENDED_FIX.has(fix.state)) {
        await finishLease(fix);
        if (fix.state === 'rolled_back' && fleetFixOf.has(fix.id)) {
          // The revert on main reaches the shared remote, so the next fix (any host) pushes cleanly.
          await push(undefined).catch((error) =>
            log(`the revert of fix ${fix.id} was not pushed to ${o.remote}: ${errorMessage(error)}`),
          );
        }
        return await rolloutNote(fix);
      }
      const stage =
        fix.state === 'testing' || fix.state === 'awaiting_approval' || fix.state === 'approved' ? 'gating' : undefined;
      if (!stage && fix.state !== 'deploying') return undefined;
      const patternKey = await patternKeyOf(fix.patternId);
      if (fix.state === 'deploying') {
        // merged: the deploy hand-off persists `merged` with the commit; the branch is known here
        const r = await o.pool.query('SELECT stage, state FROM fleet_leases WHERE pattern_key = $1 AND holder = $2', [
          patternKey,
          o.host,
        ]);
        const cur = r.rows[0];
        if (!cur || cur.stage === 'rolling_out') return undefined;
        await saveLease(o.pool, {
          patternKey,
          host: o.host,
          leaseSeconds: o.leaseSeconds,
          stage: 'merged',
          state: {
            ...(cur.state ?? {}),
            host: o.host,
            localFixId: fix.id,
            branch: fix.branch,
            commit: fix.mergeCommit,
          },
        });
        return undefined;
      }
      const r = await o.pool.query('SELECT state FROM fleet_leases WHERE pattern_key = $1 AND holder = $2', [
        patternKey,
        o.host,
      ]);
      await saveLease(o.pool, {
        patternKey,
        host: o.host,
        leaseSeconds: o.leaseSeconds,
        stage: 'gating',
        state: {
          ...(r.rows[0]?.state ?? {}),
          host: o.host,
          localFixId: fix.id,
          branch: fix.branch,
          headCommit: fix.headCommit,
          fixState: fix.state,
        },
      });
    } catch (error) {
      log(`fix ${fix.id}: the fleet lease was not updated: ${errorMessage(error)}`);
    }
    return undefined;
  };

  /** Finish a dead holder's work from its persisted stage (this host holds the lease now). */
  const resumeLease = async (lease: Lease): Promise<string | undefined> => {
    const s = lease.state;
    const from = lease.tookOverFrom ?? (typeof s.host === 'string' ? s.host : 'a previous holder');
    const save = (stage: 'rolling_out' | 'done' | 'failed', state: Record<string, unknown>) =>
      saveLease(o.pool, { patternKey: lease.patternKey, host: o.host, leaseSeconds: o.leaseSeconds, stage, state });
    if (lease.stage === 'rolling_out' && typeof s.fleetFixId === 'number') {
      const fix = await getFleetFix(o.pool, s.fleetFixId);
      if (fix) {
        // The dead holder was the canary: a deploy it left unfinished stops the rollout (safe).
        const stale = fix.deploys.filter(
          (d) => d.host === from && (d.state === 'deploying' || d.state === 'observing'),
        );
        for (const d of stale) {
          await reportDeploy(o.pool, {
            fixId: fix.id,
            host: d.host,
            state: 'failed',
            reason: `host ${d.host} stopped (its lease expired) during its ${d.state === 'observing' ? 'observation window' : 'deploy'}`,
          });
        }
        await save('done', { ...s, host: o.host, resumedFrom: from });
        return `fleet: took over pattern ${lease.patternKey} from ${from} at rolling_out: fleet fix ${fix.id} is ${stale.length > 0 ? 'stopped (its canary died mid-deploy)' : 'left to the rollout'}`;
      }
    }
    if ((lease.stage === 'merged' || lease.stage === 'rolling_out') && typeof s.commit === 'string') {
      const commit = s.commit;
      const main = await mainBranch();
      await git(o.repo, ['fetch', '--quiet', o.remote, `+refs/heads/${main}:refs/remotes/fleet/${main}`]);
      const onRemote =
        (await git(o.repo, ['merge-base', '--is-ancestor', commit, `refs/remotes/fleet/${main}`], { allowFail: true }))
          .exitCode === 0;
      if (onRemote) {
        const branch = typeof s.branch === 'string' ? s.branch : '';
        const fleetFixId = await rolloutFor(lease.patternKey, commit, branch);
        await recordFixEvent(o.pool, {
          fixId: fleetFixId,
          host: o.host,
          actor: o.host,
          event: 'resumed',
          reason: `took over from ${from} at ${lease.stage}`,
        });
        await save('done', { ...s, host: o.host, fleetFixId, resumedFrom: from });
        return `fleet: took over pattern ${lease.patternKey} from ${from} at ${lease.stage}: its merge ${commit.slice(0, 12)} is on ${o.remote}, rolled out as fleet fix ${fleetFixId}`;
      }
      log(
        `pattern ${lease.patternKey}: ${from}'s merge ${commit.slice(0, 12)} never reached ${o.remote}; consulting again`,
      );
    }
    return undefined;
  };

  return {
    deployFunctions(local, recheck) {
      return {
        async deploy(request) {
          if (request.kind === 'rollback') {
            const r = await local.deploy(request);
            // The revert on main reaches the shared remote too, so main there matches what serves.
            await push(undefined).catch((error) =>
              log(`the revert of fix ${request.fixId} was not pushed to ${o.remote}: ${errorMessage(error)}`),
            );
            return r;
          }
          return deployFix(request, recheck);
        },
        async observe(request) {
          if (request.kind === 'rollback') return local.observe(request);
          return observeFix(request);
        },
      };
    },
    onTransition,
    async claimed(localPatternId, claim) {
      claims.set(localPatternId, claim);
      try {
        const main = await mainBranch();
        await git(o.repo, ['fetch', '--quiet', o.remote, `+refs/heads/${main}:refs/remotes/fleet/${main}`]);
        await fastForwardMain({ repo: o.repo, mainBranch: main, log }, `refs/remotes/fleet/${main}`);
      } catch (error) {
        log(`main not brought up to ${o.remote}'s: ${errorMessage(error)}`);
      }
    },
    localFixFor: (commit) => localFixes.get(commit),
    async resumeOrphans() {
      if (!o.canAct()) return [];
      const out: string[] = [];
      for (const orphan of await orphanedLeases(o.pool)) {
        if (orphan.stage !== 'merged' && orphan.stage !== 'rolling_out') continue;
        const got = await acquireLease(o.pool, {
          patternKey: orphan.patternKey,
          host: o.host,
          leaseSeconds: o.leaseSeconds,
          reopenAfterSeconds,
        });
        if (got.kind !== 'acquired') continue;
        try {
          const what = await resumeLease(got.lease);
          if (what) out.push(what);
          else {
            // Nothing to resume from (the merge never reached the remote): the next trigger on any
            // host consults again.
            await saveLease(o.pool, { ...leaseKey(got.lease), stage: 'new', state: {} });
            await releaseLease(o.pool, orphan.patternKey, o.host);
          }
        } catch (error) {
          log(`pattern ${orphan.patternKey}: resuming failed: ${errorMessage(error)}`);
        }
      }
      for (const line of out) log(line);
      return out;
    },
    resumeLease,
  };

  function leaseKey(lease: Lease) {
    return { patternKey: lease.patternKey, host: o.host, leaseSeconds: o.leaseSeconds };
  }
}
