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
}

/** A {@link HostDeployer} backed by this host's running supervisor and its git checkout. */
export function supervisorDeployer(o: { supervisor: Supervisor; repo: string; remote: string }): HostDeployer {
  return {
    async fetch(commit) {
      await git(o.repo, ['fetch', '--quiet', o.remote, '+refs/heads/*:refs/remotes/fleet/*']);
      await git(o.repo, ['cat-file', '-e', `${commit}^{commit}`]);
    },
    async deploy(commit, fixId) {
      try {
        const out = await o.supervisor.deploy(commit, { actor: 'fleet', reason: `fleet fix ${fixId}`, noWait: true });
        return { ok: true, deployId: out.deployId, release: out.release };
      } catch (error) {
        return { ok: false, reason: errorMessage(error) };
      }
    },
    async observe(deployId) {
      const out = await o.supervisor.observation(deployId);
      const healthy = out.status === 'succeeded' || out.status === 'accepted';
      return {
        healthy,
        rolledBack: out.rollbackDeployId !== undefined,
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
    const v = await o.deployer.observe(d.deployId);
    if (!v.healthy && !v.rolledBack) await o.deployer.rollback(`fleet fix ${fixId}: ${v.reason}`);
    const step = await reportDeploy(o.pool, {
      fixId,
      host: o.host,
      state: v.healthy ? 'deployed' : 'rolled_back',
      reason: v.reason,
    });
    log(`fix ${fixId}: ${v.healthy ? 'deployed' : 'rolled back'} here (${v.reason}); rollout: ${step.kind}`);
  };

  const rollbackOne = async (fixId: number, reason: string) => {
    const fix = await getFleetFix(o.pool, fixId);
    const mine = fix?.deploys.find((d) => d.host === o.host);
    if (!mine || !['deployed', 'observing', 'deploying'].includes(mine.state)) return;
    await o.deployer.rollback(`fleet fix ${fixId}: ${reason}`);
    await reportDeploy(o.pool, { fixId, host: o.host, state: 'rolled_back', reason });
  };

  const poke = () =>
    enqueue('rollout', async () => {
      if (!o.canAct()) return;
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
