/**
 * A dead lease holder's work resumed from its persisted stage (real PostgreSQL, real git with a
 * bare remote and a clone): a merge that reached the shared remote is rolled out by the host
 * that takes the lease over; a rollout whose canary died mid-window is stopped; a merge that never
 * reached the remote is consulted again; and a host restarted mid-deploy follows its supervisor's
 * deploy rather than deploying twice.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { createFleetGate } from '../../src/fleet/gate.js';
import { acquireLease, saveLease } from '../../src/fleet/leases.js';
import { heartbeatHost } from '../../src/fleet/queries.js';
import { claimDeploy, createRollout, getFleetFix, reportDeploy } from '../../src/fleet/rollout.js';
import { createFleetPipeline } from '../../src/fleet/rollout-handoff.js';
import { type HostDeployer, startRolloutWorker } from '../../src/fleet/rollout-worker.js';
import { openStore } from '../../src/store/open.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { seedRemote, sh } from './git-remote.js';

let server: TestPostgres;
let pool: FleetPool;
let dir: string;
let bare: string;
let clone: string;
let pushed: string;
let unpushed: string;

beforeAll(async () => {
  server = await startPostgres();
  pool = openFleetPool(await server.createDatabase('resume_test'));
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-resume-'));
  bare = seedRemote(dir);
  const seed = path.join(dir, 'seed');
  clone = path.join(dir, 'h2');
  execFileSync('git', ['clone', '-q', bare, clone]);
  // The dead holder's merge, pushed before it died...
  writeFileSync(path.join(seed, 'app.js'), 'console.log(2)\n');
  sh(seed, 'commit', '-qam', 'merge of the fix');
  sh(seed, 'push', '-q', bare, 'main');
  pushed = sh(seed, 'rev-parse', 'HEAD');
  // ...and one that never left it.
  writeFileSync(path.join(seed, 'app.js'), 'console.log(3)\n');
  sh(seed, 'commit', '-qam', 'merge never pushed');
  unpushed = sh(seed, 'rev-parse', 'HEAD');
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `host` takes the lease of `patternKey` for one second, persists `stage`, then dies (stops renewing). */
async function deadHolder(patternKey: string, host: string, stage: 'merged' | 'rolling_out', state: object) {
  const got = await acquireLease(pool, { patternKey, host, leaseSeconds: 1, reopenAfterSeconds: 60 });
  expect(got.kind).toBe('acquired');
  await saveLease(pool, { patternKey, host, leaseSeconds: 1, stage, state: { host, ...state } });
  await new Promise((r) => setTimeout(r, 1200));
}

function pipelineFor(host: string) {
  const db = openStore(path.join(dir, `${host}-${Math.random().toString(36).slice(2)}.db`));
  const logs: string[] = [];
  const pipeline = createFleetPipeline({
    pool,
    db,
    host,
    leaseSeconds: 30,
    canary: 1,
    waveSize: 1,
    cooldownMinutes: 30,
    repo: clone,
    remote: 'origin',
    mainBranch: 'main',
    canAct: () => true,
    log: (m) => logs.push(m),
  });
  return { db, pipeline, logs };
}

describe('resuming a dead lease holder from its persisted stage', () => {
  it('rolls out a merge that reached the shared remote, with the successor as the canary', async () => {
    await heartbeatHost(pool, 'h2');
    await heartbeatHost(pool, 'h3');
    await deadHolder('p-merged', 'h1', 'merged', { commit: pushed, branch: 'dancer/fix-1', localFixId: 4 });
    const { db, pipeline } = pipelineFor('h2');
    const done = await pipeline.resumeOrphans();
    expect(done).toEqual([
      expect.stringMatching(
        /took over pattern p-merged from h1 at merged: its merge [0-9a-f]{12} is on origin, rolled out as fleet fix \d+/,
      ),
    ]);
    const r = await pool.query("SELECT id FROM fleet_fixes WHERE pattern_key = 'p-merged'");
    const fix = await getFleetFix(pool, Number(r.rows[0].id));
    expect(fix).toMatchObject({ commit: pushed, branch: 'dancer/fix-1', createdBy: 'h2', state: 'rolling_out' });
    // h1 is dead (no heartbeat): the plan has only the live hosts, the successor first.
    expect(fix?.deploys.map((d) => [d.host, d.wave, d.state])).toEqual([
      ['h2', 0, 'pending'],
      ['h3', 1, 'pending'],
    ]);
    const lease = await pool.query("SELECT stage, holder FROM fleet_leases WHERE pattern_key = 'p-merged'");
    expect(lease.rows).toEqual([{ stage: 'done', holder: null }]);
    const ev = await pool.query('SELECT host, event, reason FROM fleet_fix_events WHERE fix_id = $1 ORDER BY id', [
      fix?.id,
    ]);
    expect(ev.rows.map((e) => `${e.host}:${e.event}`)).toEqual(['h2:rollout_started', 'h2:resumed']);
    // A second sweep finds nothing left to do: one rollout for the merge.
    expect(await pipeline.resumeOrphans()).toEqual([]);
    db.close();
  });

  it('stops a rollout whose canary died in its observation window (a trigger on another host takes over)', async () => {
    const fixId = await createRollout(pool, {
      // a pattern with no template is keyed by its trigger kind fleet-wide
      patternKey: 'kind:p-rolling',
      branch: 'dancer/fix-2',
      commit: pushed,
      host: 'h1',
      hosts: ['h1', 'h2', 'h3'],
      canary: 1,
      waveSize: 1,
    });
    expect(await claimDeploy(pool, fixId, 'h1')).toBe(pushed);
    await reportDeploy(pool, { fixId, host: 'h1', state: 'observing', release: 'r' });
    await deadHolder('kind:p-rolling', 'h1', 'rolling_out', {
      commit: pushed,
      branch: 'dancer/fix-2',
      fleetFixId: fixId,
    });
    const { db, pipeline } = pipelineFor('h3');
    const gate = createFleetGate({
      pool,
      db,
      agent: { canAct: () => true },
      host: 'h3',
      leaseSeconds: 30,
      cooldownMinutes: 30,
      pipeline,
    });
    const d = await gate({ patternId: 'p-rolling' });
    expect(d).toEqual({
      kind: 'skip',
      reason:
        'fleet: took over pattern kind:p-rolling from h1 at rolling_out: fleet fix ' +
        fixId +
        ' is stopped (its canary died mid-deploy)',
    });
    const fix = await getFleetFix(pool, fixId);
    expect(fix?.state).toBe('stopped');
    expect(fix?.deploys.map((x) => [x.host, x.state])).toEqual([
      ['h1', 'failed'],
      ['h2', 'skipped'],
      ['h3', 'skipped'],
    ]);
    expect(fix?.deploys[0]?.reason).toBe('host h1 stopped (its lease expired) during its observation window');
    const c = await pool.query(
      "SELECT count(*)::int AS n FROM fleet_consultations WHERE pattern_key = 'kind:p-rolling'",
    );
    expect(c.rows[0].n).toBe(0);
    db.close();
  });

  it('consults again when the dead holder merged but never pushed', async () => {
    await deadHolder('p-lost', 'h1', 'merged', { commit: unpushed, branch: 'dancer/fix-3' });
    const { db, pipeline, logs } = pipelineFor('h2');
    expect(await pipeline.resumeOrphans()).toEqual([]);
    expect(logs.join('\n')).toContain('merge ' + unpushed.slice(0, 12) + ' never reached origin; consulting again');
    const lease = await pool.query("SELECT stage, holder FROM fleet_leases WHERE pattern_key = 'p-lost'");
    expect(lease.rows).toEqual([{ stage: 'new', holder: null }]);
    const r = await pool.query("SELECT count(*)::int AS n FROM fleet_fixes WHERE pattern_key = 'p-lost'");
    expect(r.rows[0].n).toBe(0);
    db.close();
  });
});

describe('a host restarted mid-deploy', () => {
  it('follows the deploy its supervisor resumed instead of deploying the fix again', async () => {
    const fixId = await createRollout(pool, {
      patternKey: 'p-restart',
      branch: 'dancer/fix-4',
      commit: pushed,
      host: 'h1',
      hosts: ['h1', 'h2'],
      canary: 1,
      waveSize: 1,
    });
    expect(await claimDeploy(pool, fixId, 'h1')).toBe(pushed);
    await reportDeploy(pool, { fixId, host: 'h1', state: 'observing', release: 'r' });
    // The process died here; the new one's worker starts.
    const calls: string[] = [];
    const deployer: HostDeployer = {
      async fetch() {
        calls.push('fetch');
      },
      async deploy() {
        calls.push('deploy');
        return { ok: true, deployId: 99, release: 'r' };
      },
      async observe(id) {
        calls.push(`observe ${id}`);
        return { healthy: true, rolledBack: false, reason: 'window passed' };
      },
      async rollback() {
        calls.push('rollback');
      },
      async find(commit) {
        calls.push(`find ${commit === pushed}`);
        return 7;
      },
    };
    const worker = startRolloutWorker({
      pool,
      host: 'h1',
      deployer,
      canAct: () => true,
      pollMs: 60_000,
      log: () => undefined,
    });
    try {
      await worker.poke();
      expect(calls).toEqual(['find true', 'observe 7']);
      const fix = await getFleetFix(pool, fixId);
      expect(fix?.deploys.map((x) => [x.host, x.state])).toEqual([
        ['h1', 'deployed'],
        ['h2', 'pending'],
      ]);
    } finally {
      await worker.stop();
    }
  });
});
