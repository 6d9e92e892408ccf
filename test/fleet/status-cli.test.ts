/** `dancer fleet status [--json]` through the built CLI, against a real PostgreSQL. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { acquireLease } from '../../src/fleet/leases.js';
import { fleetTemplateIds, heartbeatHost, setFleetStop, shipCounts } from '../../src/fleet/queries.js';
import { createRollout, reportDeploy } from '../../src/fleet/rollout.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';

const BIN = fileURLToPath(new URL('../../bin/dancer.js', import.meta.url));
let server: TestPostgres;
let url: string;
let pool: FleetPool;
let dir: string;

beforeAll(async () => {
  if (!existsSync(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)))) {
    throw new Error('dist/ is missing: run npm run build before the CLI tests');
  }
  server = await startPostgres();
  url = await server.createDatabase('status_test');
  pool = openFleetPool(url);
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-cli-'));
  writeFileSync(
    path.join(dir, 'dancer.yaml'),
    'fleet:\n  postgres: { urlEnv: MY_FLEET_URL }\n  host: h1\n  leaseSeconds: 30\n',
  );
  writeFileSync(path.join(dir, 'single.yaml'), 'store: { path: x.db }\n');
  await heartbeatHost(pool, 'h1', { release: 'rel-a' });
  await heartbeatHost(pool, 'h2', { release: 'rel-b' });
  await pool.query(`UPDATE fleet_hosts SET heartbeat_at = now() - interval '2 minutes' WHERE name = 'h2'`);
  const [t] = await fleetTemplateIds(pool, [{ text: 'TypeError: x is undefined', fingerprint: 'f' }]);
  const minute = Math.floor(Date.now() / 60_000);
  await shipCounts(pool, 'h1', [{ templateId: t as number, minute, count: 5, errors: 5 }]);
  await shipCounts(pool, 'h2', [{ templateId: t as number, minute, count: 7, errors: 7 }]);
  await acquireLease(pool, { patternKey: String(t), host: 'h1', leaseSeconds: 30, reopenAfterSeconds: 60 });
  const fixId = await createRollout(pool, {
    patternKey: String(t),
    branch: 'dancer/fix-20261206-2000-abcd',
    commit: 'c'.repeat(40),
    host: 'h1',
    hosts: ['h1', 'h2'],
    canary: 1,
    waveSize: 1,
  });
  await reportDeploy(pool, { fixId, host: 'h1', state: 'observing', release: 'rel-c' });
  await setFleetStop(pool, 'h1', { engaged: true, actor: 'alice', reason: 'look first' });
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function dancer(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, MY_FLEET_URL: url, NO_COLOR: '1' },
  });
}

describe('dancer fleet status', () => {
  it('--json gives hosts with heartbeat age, patterns per host, fixes with each host deploy state', () => {
    const r = dancer(['fleet', 'status', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.hosts.map((h: { name: string; alive: boolean; release: string }) => [h.name, h.alive, h.release])).toEqual(
      [
        ['h1', true, 'rel-a'],
        ['h2', false, 'rel-b'],
      ],
    );
    expect(s.hosts[1].heartbeatAgeSeconds).toBeGreaterThan(100);
    expect(s.patterns).toEqual([
      expect.objectContaining({ text: 'TypeError: x is undefined', total: 12, hosts: { h1: 5, h2: 7 } }),
    ]);
    expect(s.fixes[0]).toMatchObject({
      state: 'rolling_out',
      deploys: [
        { host: 'h1', wave: 0, state: 'observing', release: 'rel-c' },
        { host: 'h2', wave: 1, state: 'pending' },
      ],
    });
    expect(s.leases[0]).toMatchObject({ holder: 'h1', stage: 'new' });
    expect(s.stop).toEqual({ engaged: true, actor: 'alice', reason: 'look first' });
  });

  it('prints tables for humans, without colour under NO_COLOR', () => {
    const r = dancer(['fleet', 'status']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('EMERGENCY STOP engaged by alice: look first');
    expect(r.stdout).toMatch(/h2\s+unreachable/);
    expect(r.stdout).toMatch(/observing \(canary\)\s+pending/);
    expect(r.stdout).not.toContain('\u001b[');
  });

  it('says plainly when there is no fleet section or no URL', () => {
    const single = dancer(['fleet', 'status', '-c', 'single.yaml']);
    expect(single.status).not.toBe(0);
    expect(single.stderr).toContain('no fleet: section');
    const noUrl = spawnSync(process.execPath, [BIN, 'fleet', 'status'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, MY_FLEET_URL: '' },
    });
    expect(noUrl.status).not.toBe(0);
    expect(noUrl.stderr).toContain('MY_FLEET_URL');
  });
});
