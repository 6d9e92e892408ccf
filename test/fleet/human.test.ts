/**
 * A human's rollback on one host reaches every host of the fleet (real PostgreSQL, LISTEN/NOTIFY,
 * the real rollout workers): the hosts serving the fleet fix roll back, the host the human
 * rolled back by hand does not roll back a second time; and an approval given on the leader
 * for a fix another host made is routed to that host. The time from the call to each host's
 * rollback is measured (and only loosely bounded).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { fleetFixServedBy, humanFleetRollback, routeFixCommand } from '../../src/fleet/human.js';
import { createRollout, getFleetFix, reportDeploy } from '../../src/fleet/rollout.js';
import { type HostDeployer, startRolloutWorker } from '../../src/fleet/rollout-worker.js';
import { type FleetListener, listenFleet, type ReceivedSignal } from '../../src/fleet/signals.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';

let server: TestPostgres;
let url: string;
let pool: FleetPool;

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('human_test');
  pool = openFleetPool(url);
  await migrateFleet(pool);
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
});

async function until<T>(what: string, ms: number, f: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('human commands fleet-wide', () => {
  it('a rollback on one host rolls the fleet fix back on every other host serving it, within 2 s', async () => {
    const names = ['h1', 'h2', 'h3'];
    const rolledBackAt: Record<string, number[]> = { h1: [], h2: [], h3: [] };
    const listeners: FleetListener[] = [];
    const workers = names.map((name) => {
      const deployer: HostDeployer = {
        fetch: async () => undefined,
        deploy: async () => ({ ok: true, deployId: 1, release: 'r' }),
        observe: async () => ({ healthy: true, rolledBack: false, reason: 'ok' }),
        rollback: async () => {
          rolledBackAt[name]?.push(Date.now());
        },
      };
      const w = startRolloutWorker({ pool, host: name, deployer, canAct: () => true, pollMs: 60_000, log: () => {} });
      listeners.push(listenFleet({ url, log: () => undefined, onSignal: (s) => w.onSignal(s) }));
      return w;
    });
    try {
      await until('listeners', 10_000, () => (listeners.every((l) => l.connected()) ? true : undefined));
      const fixId = await createRollout(pool, {
        patternKey: '42',
        branch: 'dancer/fix-42',
        commit: 'a'.repeat(40),
        host: 'h1',
        hosts: names,
        canary: 1,
        waveSize: 2,
      });
      for (const h of names) await reportDeploy(pool, { fixId, host: h, state: 'deployed', release: 'r' });
      expect(await fleetFixServedBy(pool, 'h2')).toBe(fixId);

      // h1's supervisor already rolled back (dancer rollback there); now the word goes out.
      const t0 = Date.now();
      expect(await humanFleetRollback(pool, 'h1', { actor: 'cli:erin', reason: 'drill' })).toBe(fixId);
      await until('h2 and h3 to roll back', 10_000, () =>
        rolledBackAt.h2?.length && rolledBackAt.h3?.length ? true : undefined,
      );
      const figures = ['h2', 'h3'].map((h) => (rolledBackAt[h]?.[0] as number) - t0);
      process.stderr.write(`fleet rollback reached h2, h3 in ${figures.join(', ')} ms\n`);
      for (const ms of figures) expect(ms).toBeLessThan(2000);
      // Give a second rollback of h1 time to show up if it were going to.
      await new Promise((r) => setTimeout(r, 500));
      expect(rolledBackAt.h1).toEqual([]);
      expect(rolledBackAt.h2).toHaveLength(1);
      const fix = await getFleetFix(pool, fixId);
      expect(fix?.state).toBe('rolled_back');
      // Each worker reported its own rollback.
      expect(fix?.deploys.map((d) => [d.host, d.state]).sort()).toEqual([
        ['h1', 'rolled_back'],
        ['h2', 'rolled_back'],
        ['h3', 'rolled_back'],
      ]);
      expect(await fleetFixServedBy(pool, 'h2')).toBeUndefined();
      // A host that serves no fleet fix: its rollback stays local.
      expect(await humanFleetRollback(pool, 'h2', { actor: 'cli:erin', reason: 'again' })).toBeUndefined();
    } finally {
      for (const w of workers) await w.stop();
      for (const l of listeners) await l.stop();
    }
  });

  it('an approval given on one host reaches the host that made the fix, audited', async () => {
    const got: ReceivedSignal[] = [];
    const l = listenFleet({ url, log: () => undefined, onSignal: (s) => got.push(s) });
    try {
      await until('listener', 10_000, () => (l.connected() ? true : undefined));
      await routeFixCommand(pool, 'h1', { name: 'approve', fixId: 7, host: 'h3', actor: 'human:alice@x.test' });
      const s = await until('the command', 10_000, () => got.find((x) => x.kind === 'command'));
      expect(s).toMatchObject({ kind: 'command', name: 'approve', fixId: 7, host: 'h3', from: 'h1' });
      const audit = await pool.query(`SELECT host, actor, action, target FROM fleet_audit WHERE action = 'approve'`);
      expect(audit.rows).toEqual([{ host: 'h1', actor: 'human:alice@x.test', action: 'approve', target: 'h3:fix:7' }]);
    } finally {
      await l.stop();
    }
  });
});
