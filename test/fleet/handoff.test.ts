/**
 * The lease holder's hand-off on its own (real PostgreSQL, real git: a bare remote and a clone
 * with a merge on its main): the deploy step pushes the fix branch and main, creates the rollout
 * with this host as the canary and follows the canary's row; a canary whose build fails stops the
 * rollout (no other host deploys) and the pipeline's deploy says why; a lease held by another host
 * refuses the rollout, and nothing is pushed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { acquireLease } from '../../src/fleet/leases.js';
import { heartbeatHost } from '../../src/fleet/queries.js';
import { getFleetFix } from '../../src/fleet/rollout.js';
import { createFleetPipeline, type PipelineDeployFunctions } from '../../src/fleet/rollout-handoff.js';
import { type HostDeployer, startRolloutWorker } from '../../src/fleet/rollout-worker.js';
import { openStore } from '../../src/store/open.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { seedRemote, sh } from './git-remote.js';

let server: TestPostgres;
let pool: FleetPool;
let dir: string;
let bare: string;

beforeAll(async () => {
  server = await startPostgres();
  pool = openFleetPool(await server.createDatabase('handoff_test'));
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-handoff-'));
  bare = seedRemote(dir);
  for (const h of ['h1', 'h2', 'h3']) await heartbeatHost(pool, h);
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A clone of the remote where host `host` merged a fix branch into main (what the pipeline's merge leaves). */
function mergedClone(host: string, branch: string): { repo: string; merge: string } {
  const repo = path.join(dir, `${host}-${branch.replace(/\W/g, '-')}`);
  execFileSync('git', ['clone', '-q', bare, repo]);
  sh(repo, 'checkout', '-q', '-b', branch);
  writeFileSync(path.join(repo, 'app.js'), `console.log('${branch}')\n`);
  sh(repo, 'commit', '-qam', `fix on ${branch}`);
  sh(repo, 'checkout', '-q', 'main');
  sh(repo, 'merge', '-q', '--no-ff', '-m', `merge ${branch}`, branch);
  return { repo, merge: sh(repo, 'rev-parse', 'HEAD') };
}

const local: PipelineDeployFunctions = {
  async deploy() {
    throw new Error('a fix deploy must not go to the local supervisor alone');
  },
  async observe() {
    throw new Error('a fix is observed through the canary row');
  },
};

async function setup(host: string, repo: string, patternKey: string, deployer: HostDeployer) {
  for (const h of ['h1', 'h2', 'h3']) await heartbeatHost(pool, h);
  const db = openStore(path.join(dir, `${host}-${patternKey}.db`));
  const logs: string[] = [];
  const worker = startRolloutWorker({ pool, host, deployer, canAct: () => true, pollMs: 60_000, log: () => undefined });
  const pipeline = createFleetPipeline({
    pool,
    db,
    host,
    leaseSeconds: 30,
    canary: 1,
    waveSize: 1,
    cooldownMinutes: 30,
    repo,
    remote: 'origin',
    canAct: () => true,
    onRollout: () => void worker.poke(),
    pollMs: 50,
    log: (m) => logs.push(m),
  });
  return { db, worker, pipeline, logs, fns: pipeline.deployFunctions(local) };
}

function deployerThat(events: string[], build: 'ok' | 'fails'): HostDeployer {
  return {
    async fetch(commit) {
      events.push(`fetch ${commit}`);
    },
    async deploy(commit) {
      events.push(`deploy ${commit}`);
      return build === 'ok'
        ? { ok: true, deployId: 5, release: commit.slice(0, 12) }
        : { ok: false, reason: 'build failed: npm run build exited 1' };
    },
    async observe() {
      events.push('observe');
      return { healthy: true, rolledBack: false, reason: 'window passed' };
    },
    async rollback() {
      events.push('rollback');
    },
  };
}

describe("the lease holder's hand-off to the fleet", () => {
  it('pushes the branch and main, creates the rollout with itself as canary, follows the canary row', async () => {
    const { repo, merge } = mergedClone('h2', 'dancer/fix-a');
    const events: string[] = [];
    const h = await setup('h2', repo, 'kind:a', deployerThat(events, 'ok'));
    try {
      expect(
        (await acquireLease(pool, { patternKey: 'kind:a', host: 'h2', leaseSeconds: 30, reopenAfterSeconds: 60 })).kind,
      ).toBe('acquired');
      await h.pipeline.onTransition({
        id: 1,
        patternId: 'a',
        state: 'deploying',
        branch: 'dancer/fix-a',
        headCommit: null,
        mergeCommit: merge,
        reason: null,
      });
      const request = { kind: 'fix' as const, fixId: 1, commit: merge, patternId: 'a' };
      expect(await h.fns.deploy(request)).toEqual({ ok: true });
      expect(sh(dir, '--git-dir', bare, 'rev-parse', 'refs/heads/main')).toBe(merge);
      expect(sh(dir, '--git-dir', bare, 'rev-parse', 'refs/heads/dancer/fix-a')).toBe(
        sh(repo, 'rev-parse', 'dancer/fix-a'),
      );
      const verdict = await h.fns.observe(request);
      expect(verdict).toMatchObject({ verdict: 'healthy' });
      const r = await pool.query("SELECT id FROM fleet_fixes WHERE pattern_key = 'kind:a'");
      const fix = await getFleetFix(pool, Number(r.rows[0].id));
      expect(fix?.deploys.map((d) => [d.host, d.wave, d.state])).toEqual([
        ['h2', 0, 'deployed'],
        ['h1', 1, 'pending'],
        ['h3', 2, 'pending'],
      ]);
      expect(events).toEqual([`fetch ${merge}`, `deploy ${merge}`, 'observe']);
      expect(h.pipeline.localFixFor(merge)).toEqual({ fixId: 1 });
      const lease = await pool.query("SELECT stage, state FROM fleet_leases WHERE pattern_key = 'kind:a'");
      expect(lease.rows[0]).toMatchObject({
        stage: 'rolling_out',
        state: { commit: merge, branch: 'dancer/fix-a', fleetFixId: fix?.id, localFixId: 1 },
      });
      // A second deploy call (a restart of the pipeline step) creates no second rollout.
      expect(await h.fns.deploy(request)).toEqual({ ok: true });
      expect(
        (await pool.query("SELECT count(*)::int AS n FROM fleet_fixes WHERE pattern_key = 'kind:a'")).rows[0].n,
      ).toBe(1);
    } finally {
      await h.worker.stop();
      h.db.close();
    }
  });

  it('stops the rollout when the canary build fails; the pipeline deploy fails with the reason', async () => {
    const { repo, merge } = mergedClone('h1', 'dancer/fix-b');
    const events: string[] = [];
    const h = await setup('h1', repo, 'kind:b', deployerThat(events, 'fails'));
    try {
      const out = await h.fns.deploy({ kind: 'fix', fixId: 2, commit: merge, patternId: 'b' });
      expect(out).toEqual({
        ok: false,
        reason: 'fleet: the canary deploy on h1 failed: build failed: npm run build exited 1',
      });
      const r = await pool.query("SELECT id FROM fleet_fixes WHERE pattern_key = 'kind:b'");
      const fix = await getFleetFix(pool, Number(r.rows[0].id));
      expect(fix?.state).toBe('stopped');
      expect(fix?.deploys.map((d) => [d.host, d.state])).toEqual([
        ['h1', 'failed'],
        ['h2', 'skipped'],
        ['h3', 'skipped'],
      ]);
      // (h1's worker also takes its wave of the earlier rollout: only this fix's steps count here)
      expect(events.filter((e) => e.endsWith(merge))).toEqual([`fetch ${merge}`, `deploy ${merge}`]);
    } finally {
      await h.worker.stop();
      h.db.close();
    }
  });

  it('refuses the rollout when another host holds the lease: nothing is pushed', async () => {
    const { repo, merge } = mergedClone('h3', 'dancer/fix-c');
    expect(
      (await acquireLease(pool, { patternKey: 'kind:c', host: 'h1', leaseSeconds: 30, reopenAfterSeconds: 60 })).kind,
    ).toBe('acquired');
    const before = sh(dir, '--git-dir', bare, 'rev-parse', 'refs/heads/main');
    const events: string[] = [];
    const h = await setup('h3', repo, 'kind:c', deployerThat(events, 'ok'));
    try {
      const out = await h.fns.deploy({ kind: 'fix', fixId: 3, commit: merge, patternId: 'c' });
      expect(out).toEqual({
        ok: false,
        reason: "fleet: host h1 holds pattern kind:c (new); this host's fix is not rolled out",
      });
      expect(sh(dir, '--git-dir', bare, 'rev-parse', 'refs/heads/main')).toBe(before);
      expect(
        (await pool.query("SELECT count(*)::int AS n FROM fleet_fixes WHERE pattern_key = 'kind:c'")).rows[0].n,
      ).toBe(0);
      expect(events).toEqual([]);
    } finally {
      await h.worker.stop();
      h.db.close();
    }
  });
});
