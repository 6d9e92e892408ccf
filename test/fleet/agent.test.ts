import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleetAgent } from '../../src/fleet/agent.js';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { acquireLease } from '../../src/fleet/leases.js';
import { enqueueFleetEvent, pendingFleetEvents } from '../../src/fleet/local.js';
import { fleetCounts, fleetTemplateIds, listHosts } from '../../src/fleet/queries.js';
import { type Db, openStore } from '../../src/store/open.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { startTcpProxy, type TcpProxy } from '../../src/testing/tcp-proxy.js';

let server: TestPostgres;
let url: string;
let admin: FleetPool;
let dir: string;

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('agent_test');
  admin = openFleetPool(url);
  await migrateFleet(admin);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-agent-'));
}, 60_000);

afterAll(async () => {
  await admin?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function bucket(db: Db, templateId: number, minute: number, count: number, errors: number) {
  db.prepare(
    `INSERT INTO template_buckets (template_id, minute, count, n_error) VALUES (?, ?, ?, ?)
     ON CONFLICT(template_id, minute) DO UPDATE SET count = excluded.count, n_error = excluded.n_error`,
  ).run(templateId, minute, count, errors);
}

function template(db: Db, id: number, text: string, fingerprint = '') {
  db.prepare(
    `INSERT INTO templates (id, text, tokens, token_count, fingerprint, first_seen, last_seen) VALUES (?, ?, '[]', 1, ?, 0, 0)`,
  ).run(id, text, fingerprint);
}

describe('the fleet agent of a host', () => {
  it('heartbeats, ships counts under fleet ids, and catches up after a partition', async () => {
    const db = openStore(path.join(dir, 'a.db'));
    // Local ids differ between hosts; the fleet id is by text and fingerprint.
    template(db, 5, 'TypeError: boom <*>', 'fp1');
    template(db, 9, 'GET <*> 200');
    bucket(db, 5, 1000, 4, 4);
    bucket(db, 9, 1000, 50, 0);
    const proxy: TcpProxy = await startTcpProxy(server.port);
    const pool = openFleetPool(
      url.replace(`:${server.port}/`, `:${proxy.port}/`),
      { connectTimeoutMs: 1000 },
      () => undefined,
    );
    const changes: boolean[] = [];
    const agent = startFleetAgent({
      pool,
      db,
      host: 'a',
      leaseSeconds: 60,
      heartbeatMs: 60_000,
      release: () => 'rel-1',
      log: () => undefined,
    });
    agent.onChange((c) => changes.push(c));
    try {
      expect(await agent.tick()).toBe(true);
      expect(agent.connected()).toBe(true);
      expect(agent.canAct()).toBe(true);
      const [fleetId] = await fleetTemplateIds(admin, [{ text: 'TypeError: boom <*>', fingerprint: 'fp1' }]);
      expect(agent.fleetTemplateId(5)).toBe(fleetId);
      expect(await fleetCounts(admin, fleetId as number, 0)).toEqual({ count: 4, errors: 4, hosts: { a: 4 } });
      expect((await listHosts(admin)).find((h) => h.name === 'a')).toMatchObject({ release: 'rel-1', state: 'up' });

      // The host holds a lease; it is renewed by the heartbeat.
      await acquireLease(admin, { patternKey: 'k', host: 'a', leaseSeconds: 60, reopenAfterSeconds: 60 });

      await proxy.cut('blackhole');
      // While cut off: local capture goes on (the minute grows, a new minute), events queue up.
      bucket(db, 5, 1000, 7, 7);
      bucket(db, 5, 1001, 3, 3);
      enqueueFleetEvent(db, 'decision', { kind: 'skip', reason: 'partitioned: no fleet action' }, 1_700_000_000_000);
      enqueueFleetEvent(db, 'audit', { actor: 'alice', action: 'approve', target: 'fix 1' }, 1_700_000_001_000);
      expect(await agent.tick()).toBe(false);
      expect(agent.connected()).toBe(false);
      expect(agent.canAct()).toBe(false);
      expect(pendingFleetEvents(db)).toHaveLength(2);
      expect(await fleetCounts(admin, fleetId as number, 0)).toEqual({ count: 4, errors: 4, hosts: { a: 4 } });

      await proxy.restore();
      expect(await agent.tick()).toBe(true);
      expect(changes).toEqual([true, false, true]);
      expect(await fleetCounts(admin, fleetId as number, 0)).toEqual({ count: 10, errors: 10, hosts: { a: 10 } });
      expect(pendingFleetEvents(db)).toEqual([]);
      const d = await admin.query(
        `SELECT host, kind, reason, EXTRACT(EPOCH FROM at)::float8 * 1000 AS at FROM fleet_decisions`,
      );
      expect(d.rows).toEqual([
        { host: 'a', kind: 'skip', reason: 'partitioned: no fleet action', at: 1_700_000_000_000 },
      ]);
      const a = await admin.query(`SELECT actor, action, target FROM fleet_audit`);
      expect(a.rows).toEqual([{ actor: 'alice', action: 'approve', target: 'fix 1' }]);
    } finally {
      await agent.stop();
      await pool.end();
      await proxy.close();
      db.close();
    }
  }, 60_000);

  it('maps the same template on two hosts (different local ids) to one fleet id and adds their counts', async () => {
    const a = openStore(path.join(dir, 'a2.db'));
    const b = openStore(path.join(dir, 'b2.db'));
    template(a, 1, 'ECONNRESET <*>');
    template(b, 42, 'ECONNRESET <*>');
    bucket(a, 1, 2000, 2, 2);
    bucket(b, 42, 2000, 5, 5);
    const pa = openFleetPool(url);
    const pb = openFleetPool(url);
    const agents = [
      startFleetAgent({ pool: pa, db: a, host: 'x', leaseSeconds: 60, heartbeatMs: 60_000, log: () => undefined }),
      startFleetAgent({ pool: pb, db: b, host: 'y', leaseSeconds: 60, heartbeatMs: 60_000, log: () => undefined }),
    ];
    try {
      await Promise.all(agents.map((g) => g.tick()));
      expect(agents[0]?.fleetTemplateId(1)).toBe(agents[1]?.fleetTemplateId(42));
      expect(await fleetCounts(admin, agents[0]?.fleetTemplateId(1) as number, 2000)).toEqual({
        count: 7,
        errors: 7,
        hosts: { x: 2, y: 5 },
      });
    } finally {
      await Promise.all(agents.map((g) => g.stop()));
      await pa.end();
      await pb.end();
      a.close();
      b.close();
    }
  });
});
