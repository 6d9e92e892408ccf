import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { createRollout, getFleetFix, rollbackFleetFix } from '../../src/fleet/rollout.js';
import { type HostDeployer, type RolloutWorker, startRolloutWorker } from '../../src/fleet/rollout-worker.js';
import { type FleetListener, listenFleet } from '../../src/fleet/signals.js';
import { nextRolloutStep, planWaves } from '../../src/fleet/waves.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { sh } from './git-remote.js';

describe('planWaves and nextRolloutStep (pure)', () => {
  it('puts the preferred canary first, then waves of waveSize in name order', () => {
    expect(planWaves(['c', 'a', 'b', 'd'], { canary: 1, waveSize: 2, preferCanary: ['c'] })).toEqual([
      ['c'],
      ['a', 'b'],
      ['d'],
    ]);
    expect(planWaves(['b', 'a'], { canary: 1, waveSize: 1 })).toEqual([['a'], ['b']]);
    expect(planWaves(['a', 'b', 'c'], { canary: 5, waveSize: 1 })).toEqual([['a', 'b', 'c']]);
    expect(planWaves([], { canary: 1, waveSize: 1 })).toEqual([]);
  });
  it('opens a wave only when every earlier wave is deployed; any failure stops', () => {
    const d = (host: string, wave: number, state: never) => ({ host, wave, state });
    expect(nextRolloutStep([d('a', 0, 'pending' as never), d('b', 1, 'pending' as never)])).toEqual({
      kind: 'wave',
      wave: 0,
    });
    expect(nextRolloutStep([d('a', 0, 'observing' as never), d('b', 1, 'pending' as never)])).toEqual({
      kind: 'wave',
      wave: 0,
    });
    expect(nextRolloutStep([d('a', 0, 'deployed' as never), d('b', 1, 'pending' as never)])).toEqual({
      kind: 'wave',
      wave: 1,
    });
    expect(nextRolloutStep([d('a', 0, 'deployed' as never), d('b', 1, 'deployed' as never)])).toEqual({
      kind: 'complete',
    });
    expect(nextRolloutStep([d('a', 0, 'rolled_back' as never), d('b', 1, 'pending' as never)])).toMatchObject({
      kind: 'stop',
      failedHosts: ['a'],
      reason: 'canary a rolled back',
    });
  });
});

let server: TestPostgres;
let url: string;
let pool: FleetPool;
let dir: string;
let fixCommit: string;
const clones: Record<string, string> = {};

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('rollout_test');
  pool = openFleetPool(url);
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-rollout-'));
  const bare = path.join(dir, 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  const seed = path.join(dir, 'seed');
  execFileSync('git', ['init', '-q', '-b', 'main', seed]);
  writeFileSync(path.join(seed, 'app.js'), 'console.log(1)\n');
  sh(seed, 'add', '.');
  sh(seed, 'commit', '-qm', 'base');
  sh(seed, 'remote', 'add', 'origin', bare);
  sh(seed, 'push', '-q', 'origin', 'main');
  for (const h of ['h1', 'h2', 'h3']) {
    clones[h] = path.join(dir, h);
    execFileSync('git', ['clone', '-q', bare, clones[h] as string]);
  }
  // The fix, merged and pushed by one host: the others do not have it until they fetch.
  writeFileSync(path.join(seed, 'app.js'), 'console.log(2)\n');
  sh(seed, 'commit', '-qam', 'fix');
  sh(seed, 'push', '-q', 'origin', 'main');
  fixCommit = sh(seed, 'rev-parse', 'HEAD');
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Host {
  name: string;
  worker: RolloutWorker;
  listener: FleetListener;
  serving: string;
}

/** Three hosts whose deployers fetch for real from the shared remote and record what they do. */
function startHosts(healthy: (host: string) => boolean, events: string[]): Host[] {
  const hosts: Host[] = [];
  for (const name of ['h1', 'h2', 'h3']) {
    const repo = clones[name] as string;
    const host = { name, serving: 'base' } as Host;
    const deployer: HostDeployer = {
      async fetch(commit) {
        sh(repo, 'fetch', '-q', 'origin');
        sh(repo, 'cat-file', '-e', `${commit}^{commit}`);
      },
      async deploy(commit) {
        events.push(`${name}:deploy`);
        host.serving = commit;
        return { ok: true, deployId: 1, release: commit.slice(0, 12) };
      },
      async observe() {
        await new Promise((r) => setTimeout(r, 150));
        const ok = healthy(name);
        events.push(`${name}:${ok ? 'healthy' : 'unhealthy'}`);
        return { healthy: ok, rolledBack: false, reason: ok ? 'window passed' : 'error rate +300%' };
      },
      async rollback() {
        events.push(`${name}:rollback`);
        host.serving = 'base';
      },
    };
    host.worker = startRolloutWorker({
      pool,
      host: name,
      deployer,
      canAct: () => true,
      pollMs: 60_000,
      log: () => undefined,
    });
    host.listener = listenFleet({ url, log: () => undefined, onSignal: (s) => host.worker.onSignal(s) });
    hosts.push(host);
  }
  return hosts;
}

async function stopHosts(hosts: Host[]) {
  for (const h of hosts) {
    await h.listener.stop();
    await h.worker.stop();
  }
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a fleet rollout on PostgreSQL', () => {
  it('deploys on the canary first, then wave by wave, each host fetching the fix from the shared remote', async () => {
    const events: string[] = [];
    const hosts = startHosts(() => true, events);
    try {
      await until('listeners', 10_000, async () => (hosts.every((h) => h.listener.connected()) ? true : undefined));
      const fixId = await createRollout(pool, {
        patternKey: '17',
        branch: 'dancer/fix-x',
        commit: fixCommit,
        host: 'h2',
        hosts: ['h1', 'h2', 'h3'],
        canary: 1,
        waveSize: 1,
      });
      const fix = await until('rollout complete', 20_000, async () => {
        const f = await getFleetFix(pool, fixId);
        return f?.state === 'deployed' ? f : undefined;
      });
      // h2 made the fix, so it is the canary; then h1, then h3, each after the previous passed.
      expect(events).toEqual(['h2:deploy', 'h2:healthy', 'h1:deploy', 'h1:healthy', 'h3:deploy', 'h3:healthy']);
      expect(fix.deploys.map((d) => [d.host, d.wave, d.state])).toEqual([
        ['h2', 0, 'deployed'],
        ['h1', 1, 'deployed'],
        ['h3', 2, 'deployed'],
      ]);
      expect(hosts.map((h) => h.serving)).toEqual([fixCommit, fixCommit, fixCommit]);
      const ev = await pool.query('SELECT host, event FROM fleet_fix_events WHERE fix_id = $1 ORDER BY id', [fixId]);
      expect(ev.rows.map((r) => `${r.host}:${r.event}`)).toEqual([
        'h2:rollout_started',
        'h2:deploying',
        'h2:observing',
        'h2:deployed',
        'h1:deploying',
        'h1:observing',
        'h1:deployed',
        'h3:deploying',
        'h3:observing',
        'h3:deployed',
        'h3:rollout_complete',
      ]);
      // `dancer rollback` of the fix reaches every host that serves it.
      await rollbackFleetFix(pool, { fixId, host: 'h1', actor: 'alice', reason: 'manual' });
      await until('rolled back everywhere', 10_000, async () =>
        (await getFleetFix(pool, fixId))?.deploys.every((d) => d.state === 'rolled_back') ? true : undefined,
      );
      expect(hosts.map((h) => h.serving)).toEqual(['base', 'base', 'base']);
      expect((await getFleetFix(pool, fixId))?.state).toBe('rolled_back');
    } finally {
      await stopHosts(hosts);
    }
  });

  it('stops a wrong fix at the canary, rolled back there only; the other hosts never deploy it', async () => {
    const events: string[] = [];
    const hosts = startHosts((h) => h !== 'h1', events);
    try {
      await until('listeners', 10_000, async () => (hosts.every((h) => h.listener.connected()) ? true : undefined));
      const fixId = await createRollout(pool, {
        patternKey: '18',
        branch: 'dancer/fix-y',
        commit: fixCommit,
        host: 'h1',
        hosts: ['h1', 'h2', 'h3'],
        canary: 1,
        waveSize: 2,
      });
      const fix = await until('rollout stopped', 20_000, async () => {
        const f = await getFleetFix(pool, fixId);
        return f?.state === 'stopped' ? f : undefined;
      });
      await new Promise((r) => setTimeout(r, 500)); // a late wake-up must not deploy anything
      expect(events).toEqual(['h1:deploy', 'h1:unhealthy', 'h1:rollback']);
      expect(fix.reason).toBe('canary h1 rolled back');
      expect(fix.deploys.map((d) => [d.host, d.wave, d.state])).toEqual([
        ['h1', 0, 'rolled_back'],
        ['h2', 1, 'skipped'],
        ['h3', 1, 'skipped'],
      ]);
      expect(hosts.map((h) => h.serving)).toEqual(['base', 'base', 'base']);
    } finally {
      await stopHosts(hosts);
    }
  });
});
