/**
 * One host's side of a fleet rollout: when its wave is current it fetches the fix from the
 * fleet's shared git remote, deploys it through its own supervisor (which builds the release),
 * waits out the observation window, and reports. When told to roll a fix back (a stopped rollout,
 * `dancer rollback`), it rolls back here if the fix serves here. Only while the host can act
 * (connected to the control plane); a partitioned host does nothing fleet-wide.
 */
import { errorMessage } from '../errors.js';
import { git } from '../process/index.js';
import type { Supervisor } from '../supervise/index.js';
import type { FleetPool } from './connect.js';
import { claimDeploy, getFleetFix, pendingFixesFor, reportDeploy } from './rollout.js';
import type { ReceivedSignal } from './signals.js';

/** What a host does to deploy, observe and roll back a fix: its supervisor, through a narrow seam. */
export interface HostDeployer {
  /** Make `commit` available locally (git fetch from the shared remote). */
  fetch(commit: string): Promise<void>;
  /** Build and start the release of `commit`; resolves once it serves, or with the failure. */
  deploy(
    commit: string,
    fixId: number,
  ): Promise<{ ok: true; deployId: number; release: string } | { ok: false; reason: string }>;
  /** The observation window's verdict on a deploy (the supervisor rolls back on its own when it fails). */
  observe(deployId: number): Promise<{ healthy: boolean; rolledBack: boolean; reason: string }>;
  /** Roll back to the previous release. */
  rollback(reason: string): Promise<void>;
  /** After the observation window passed (optional): e.g. bring the checkout's main up to the fix. */
  deployed?(commit: string): Promise<void>;
  /**
   * The supervisor's deploy of `commit`, if it made one (optional): after a restart mid-deploy,
   * the worker follows that deploy (the supervisor resumed its window) instead of deploying again.
   */
  find?(commit: string): Promise<number | undefined>;
}

/**
 * Fast-forward the checkout's main branch (`o.mainBranch`, default the checked-out branch) to
 * `commit` when main is an ancestor of it; otherwise leave it (it moved on here).
 */
export async function fastForwardMain(
  o: { repo: string; mainBranch?: string | undefined; log?: ((message: string) => void) | undefined },
  commit: string,
): Promise<void> {
  const head = (await git(o.repo, ['symbolic-ref', '--quiet', '--short', 'HEAD'], { allowFail: true })).stdout.trim();
  const main = o.mainBranch ?? head;
  if (!main) return;
  const ancestor = await git(o.repo, ['merge-base', '--is-ancestor', `refs/heads/${main}`, commit], {
    allowFail: true,
  });
  if (ancestor.exitCode !== 0) return; // main moved on here (or is the fix already): leave it
  if (head === main) {
    const r = await git(o.repo, ['merge', '--ff-only', '--quiet', commit], { allowFail: true });
    if (r.exitCode !== 0)
      o.log?.(`main not fast-forwarded to ${commit.slice(0, 12)}: ${r.stderr.trim().split('\n')[0]}`);
  } else {
    await git(o.repo, ['update-ref', `refs/heads/${main}`, commit]);
  }
}

/** Options of {@link supervisorDeployer}. */
export interface SupervisorDeployerOptions {
  supervisor: Supervisor;
  /** The service's git checkout, and the shared remote fixes are fetched from. */
  repo: string;
  remote: string;
  /** The branch fixes merge into (`fixes.mainBranch`); default: the checkout's current branch. */
  mainBranch?: string | undefined;
  /**
   * The local fix a commit belongs to, on the host that made it (the supervisor's deploy row
   * then names the fix, so the fix's rollback path and efficacy work as on a single host).
   */
  localFix?: ((commit: string) => { fixId: number; targetTemplateId?: number | undefined } | undefined) | undefined;
  log?: ((message: string) => void) | undefined;
}

/**
 * A {@link HostDeployer} backed by this host's running supervisor and its git checkout. Once a
 * fix is deployed here, the checkout's main branch is fast-forwarded to it (when it can be), so
 * a later fix made on this host starts from the code that serves.
 */
export function supervisorDeployer(o: SupervisorDeployerOptions): HostDeployer {
  return {
    async fetch(commit) {
      await git(o.repo, ['fetch', '--quiet', o.remote, '+refs/heads/*:refs/remotes/fleet/*']);
      await git(o.repo, ['cat-file', '-e', `${commit}^{commit}`]);
    },
    async deploy(commit, fixId) {
      try {
        const local = o.localFix?.(commit);
        const out = await o.supervisor.deploy(commit, {
          actor: 'fleet',
          reason: `fleet fix ${fixId}`,
          noWait: true,
          ...(local ? { fixId: local.fixId, targetTemplateId: local.targetTemplateId } : {}),
        });
        return { ok: true, deployId: out.deployId, release: out.release };
      } catch (error) {
        return { ok: false, reason: errorMessage(error) };
      }
    },
    async deployed(commit) {
      await fastForwardMain(o, commit);
    },
    async find(commit) {
      const tree = await git(o.repo, ['rev-parse', '--verify', '--quiet', `${commit}^{tree}`], { allowFail: true });
      if (tree.exitCode !== 0) return undefined;
      return o.supervisor.store
        .listDeploys(o.supervisor.name, 50)
        .find((d) => d.kind === 'deploy' && d.toRelease === tree.stdout.trim())?.id;
    },
    async observe(deployId) {
      // deployId 0: the tree already served here (nothing was deployed, nothing to observe)
      if (deployId === 0) return { healthy: true, rolledBack: false, reason: 'this tree already serves here' };
      const out = await o.supervisor.observation(deployId);
      const healthy = out.status === 'succeeded' || out.status === 'accepted';
      return {
        healthy,
        // rolled back by the supervisor, or failed with the old release still serving
        rolledBack: out.rollbackDeployId !== undefined || out.status === 'rolled_back' || out.status === 'failed',
        reason: `${out.status}: ${out.reasons.join('; ')}`,
      };
    },
    async rollback(reason) {
      await o.supervisor.rollback({ reason, actor: 'fleet' });
    },
  };
}

/** Options of {@link startRolloutWorker}. */
export interface RolloutWorkerOptions {
  pool: FleetPool;
  host: string;
  deployer: HostDeployer;
  /** Whether the host may act fleet-wide now (the fleet agent's canAct). */
  canAct: () => boolean;
  /** Poll period for missed wake-ups, ms. Default 2000. */
  pollMs?: number;
  log?: (message: string) => void;
}

/** A running rollout worker. */
export interface RolloutWorker {
  /** Feed a fleet signal (rollout, rollback). */
  onSignal(signal: ReceivedSignal): void;
  /** Check for work now; resolves when done. */
  poke(): Promise<void>;
  stop(): Promise<void>;
}

/** Run this host's side of every rollout until stopped. Work is serial. */
export function startRolloutWorker(o: RolloutWorkerOptions): RolloutWorker {
  const log = o.log ?? ((m: string) => process.stderr.write(`dancer: fleet: ${m}\n`));
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  const enqueue = (what: string, f: () => Promise<void>) => {
    chain = chain.then(() => (stopped ? undefined : f())).catch((error) => log(`${what}: ${errorMessage(error)}`));
    return chain;
  };

  const deployOne = async (fixId: number) => {
    const commit = await claimDeploy(o.pool, fixId, o.host);
    if (!commit) return;
    log(`fix ${fixId}: deploying ${commit.slice(0, 12)} (this host's wave is current)`);
    await runDeploy(fixId, commit, undefined);
  };

  /** Deploy (or, after a restart, follow the supervisor's deploy `resumed`), observe, report. */
  const runDeploy = async (fixId: number, commit: string, resumed: number | undefined) => {
    let deployId = resumed;
    if (deployId === undefined) {
      try {
        await o.deployer.fetch(commit);
      } catch (error) {
        await reportDeploy(o.pool, { fixId, host: o.host, state: 'failed', reason: `fetch: ${errorMessage(error)}` });
        return;
      }
      const d = await o.deployer.deploy(commit, fixId);
      if (!d.ok) {
        await reportDeploy(o.pool, { fixId, host: o.host, state: 'failed', reason: d.reason });
        return;
      }
      await reportDeploy(o.pool, { fixId, host: o.host, state: 'observing', release: d.release });
      deployId = d.deployId;
    }
    const v = await o.deployer.observe(deployId);
    if (!v.healthy && !v.rolledBack) await o.deployer.rollback(`fleet fix ${fixId}: ${v.reason}`);
    const step = await reportDeploy(o.pool, {
      fixId,
      host: o.host,
      state: v.healthy ? 'deployed' : 'rolled_back',
      reason: v.reason,
    });
    if (v.healthy) {
      await o.deployer.deployed?.(commit).catch((error) => log(`fix ${fixId}: after deploy: ${errorMessage(error)}`));
    }
    log(`fix ${fixId}: ${v.healthy ? 'deployed' : 'rolled back'} here (${v.reason}); rollout: ${step.kind}`);
  };

  const rollbackOne = async (fixId: number, reason: string) => {
    const fix = await getFleetFix(o.pool, fixId);
    const mine = fix?.deploys.find((d) => d.host === o.host);
    if (!mine || !['deployed', 'observing', 'deploying'].includes(mine.state)) return;
    await o.deployer.rollback(`fleet fix ${fixId}: ${reason}`);
    await reportDeploy(o.pool, { fixId, host: o.host, state: 'rolled_back', reason });
  };

  /**
   * Once, after a (re)start: this host's deploys left `deploying` or `observing` by a previous
   * process. The supervisor resumed its own window; the worker follows it and reports. A deploy
   * the supervisor never recorded is made again.
   */
  let resumedOwn = false;
  const resumeOwn = async () => {
    resumedOwn = true;
    const r = await o.pool.query(
      `SELECT d.fix_id, f.commit_sha FROM fleet_deploys d JOIN fleet_fixes f ON f.id = d.fix_id
       WHERE f.state = 'rolling_out' AND d.host = $1 AND d.state IN ('deploying', 'observing') ORDER BY d.fix_id`,
      [o.host],
    );
    for (const row of r.rows) {
      const fixId = Number(row.fix_id);
      const commit = row.commit_sha as string;
      const deployId = await o.deployer.find?.(commit);
      log(`fix ${fixId}: resuming this host's deploy of ${commit.slice(0, 12)} after a restart`);
      await runDeploy(fixId, commit, deployId);
    }
  };

  const poke = () =>
    enqueue('rollout', async () => {
      if (!o.canAct()) return;
      if (!resumedOwn) await resumeOwn();
      for (const fixId of await pendingFixesFor(o.pool, o.host)) await deployOne(fixId);
    });

  const timer = setInterval(() => void poke(), o.pollMs ?? 2000);
  timer.unref();

  return {
    onSignal(s) {
      if (s.kind === 'rollout') void poke();
      else if (s.kind === 'rollback' && s.fixId !== undefined) {
        const fixId = s.fixId;
        void enqueue(`rollback of fix ${fixId}`, () => rollbackOne(fixId, s.reason));
      }
    },
    poke,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await chain;
    },
  };
}
