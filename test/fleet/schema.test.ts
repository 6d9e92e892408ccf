import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetSchema } from '../../src/config/schema/fleet.js';
import { configSchema } from '../../src/config/schema/index.js';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { FLEET_MIGRATIONS } from '../../src/fleet/migrations.js';
import {
  fleetCooldownUntil,
  fleetCounts,
  fleetPatterns,
  fleetSpentSince,
  fleetStop,
  fleetTemplateIds,
  heartbeatHost,
  listHosts,
  liveHosts,
  recordDecision,
  setFleetStop,
  shipCounts,
} from '../../src/fleet/queries.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';

let pgServer: TestPostgres;
let pool: FleetPool;

beforeAll(async () => {
  pgServer = await startPostgres();
  pool = openFleetPool(await pgServer.createDatabase('schema_test'));
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await pgServer?.stop();
});

describe('fleet config', () => {
  it('takes the section exactly as the issue writes it, with defaults', () => {
    const c = configSchema.parse({
      fleet: { postgres: { urlEnv: 'DANCER_FLEET_URL' }, host: 'a', canary: 1, waveSize: 1, leaseSeconds: 60 },
    });
    expect(c.fleet).toEqual({
      postgres: { urlEnv: 'DANCER_FLEET_URL' },
      host: 'a',
      canary: 1,
      waveSize: 1,
      leaseSeconds: 60,
    });
    expect(fleetSchema.parse({})).toEqual({
      postgres: { urlEnv: 'DANCER_FLEET_URL' },
      canary: 1,
      waveSize: 1,
      leaseSeconds: 60,
    });
  });
  it('is absent without a fleet section, and rejects unknown keys', () => {
    expect(configSchema.parse({}).fleet).toBeUndefined();
    expect(() => configSchema.parse({ fleet: { canary: 0 } })).toThrow();
    expect(() => configSchema.parse({ fleet: { leader: true } })).toThrow();
  });
});

describe('fleet migrations on PostgreSQL 15', () => {
  it('apply once, in order, and concurrently from several hosts without a race', async () => {
    const pools = [1, 2, 3].map(() => openFleetPool(pgServer.url.replace('/postgres', '/schema_test')));
    const results = await Promise.all(pools.map((p) => migrateFleet(p)));
    await Promise.all(pools.map((p) => p.end()));
    const applied = results.flat().sort();
    expect(applied).toEqual(FLEET_MIGRATIONS.map((m) => m.version));
    expect(await migrateFleet(pool)).toEqual([]);
    const v = await pool.query('SELECT version FROM fleet_schema_migrations ORDER BY version');
    expect(v.rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
    const tables = await pool.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'fleet_%' ORDER BY 1`,
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      'fleet_audit',
      'fleet_consultations',
      'fleet_decisions',
      'fleet_deploys',
      'fleet_fix_events',
      'fleet_fix_refs',
      'fleet_fixes',
      'fleet_hosts',
      'fleet_leases',
      'fleet_ledger',
      'fleet_schema_migrations',
      'fleet_stop',
      'fleet_template_counts',
      'fleet_templates',
      'fleet_voice',
    ]);
  });

  it('refuses a fleet schema newer than this Dancer', async () => {
    await expect(migrateFleet(pool, FLEET_MIGRATIONS.slice(0, 2))).rejects.toMatchObject({
      code: 'DANCER_FLEET_MIGRATION_FAILED',
    });
  });

  it('gives one template id per text and fingerprint on every host', async () => {
    const a = await fleetTemplateIds(pool, [
      { text: 'TypeError: cannot read <*>', fingerprint: 'f1' },
      { text: 'GET <*> 500', fingerprint: '' },
    ]);
    const b = await fleetTemplateIds(pool, [
      { text: 'GET <*> 500', fingerprint: '' },
      { text: 'TypeError: cannot read <*>', fingerprint: 'f1' },
      { text: 'TypeError: cannot read <*>', fingerprint: 'f2' },
    ]);
    expect(b[0]).toBe(a[1]);
    expect(b[1]).toBe(a[0]);
    expect(new Set([...a, ...b]).size).toBe(3);
  });

  it('sums per-host counts fleet-wide; re-shipping a minute overwrites instead of doubling', async () => {
    const [id] = await fleetTemplateIds(pool, [{ text: 'counted <*>', fingerprint: '' }]);
    const t = id as number;
    await shipCounts(pool, 'a', [
      { templateId: t, minute: 100, count: 3, errors: 3 },
      { templateId: t, minute: 101, count: 2, errors: 2 },
    ]);
    await shipCounts(pool, 'b', [{ templateId: t, minute: 101, count: 4, errors: 4 }]);
    await shipCounts(pool, 'a', [{ templateId: t, minute: 101, count: 5, errors: 5 }]);
    expect(await fleetCounts(pool, t, 100)).toEqual({ count: 12, errors: 12, hosts: { a: 8, b: 4 } });
    expect(await fleetCounts(pool, t, 101)).toEqual({ count: 9, errors: 9, hosts: { a: 5, b: 4 } });
    const patterns = await fleetPatterns(pool, 100);
    expect(patterns.find((p) => p.id === t)).toMatchObject({ text: 'counted <*>', total: 12, hosts: { a: 8, b: 4 } });
  });

  it('tracks hosts with heartbeat age and release; a stale host is not live', async () => {
    await heartbeatHost(pool, 'h1', { release: 'r1', pid: 11 });
    await heartbeatHost(pool, 'h2', { release: 'r2' });
    await pool.query(`UPDATE fleet_hosts SET heartbeat_at = now() - interval '5 minutes' WHERE name = 'h2'`);
    const hosts = await listHosts(pool);
    expect(hosts.find((h) => h.name === 'h1')).toMatchObject({ release: 'r1', state: 'up', pid: 11 });
    expect(hosts.find((h) => h.name === 'h2')?.heartbeatAgeSeconds).toBeGreaterThan(290);
    expect(await liveHosts(pool, 60)).toContain('h1');
    expect(await liveHosts(pool, 60)).not.toContain('h2');
    await heartbeatHost(pool, 'h1', {});
    expect((await listHosts(pool)).find((h) => h.name === 'h1')?.release).toBe('r1');
  });

  it('keeps the emergency stop, audited, and fleet-wide budgets and cooldowns', async () => {
    expect(await fleetStop(pool)).toBeUndefined();
    await setFleetStop(pool, 'h1', { engaged: true, actor: 'alice', reason: 'bad deploy' });
    expect(await fleetStop(pool)).toEqual({ engaged: true, actor: 'alice', reason: 'bad deploy' });
    await setFleetStop(pool, 'h1', { engaged: false, actor: 'alice', reason: 'ok' });
    expect(await fleetStop(pool)).toBeUndefined();
    const audit = await pool.query(`SELECT action FROM fleet_audit ORDER BY id`);
    expect(audit.rows.map((r) => r.action)).toEqual(['stop', 'resume']);

    const since = Date.now() - 60_000;
    await pool.query(`INSERT INTO fleet_ledger (host, cost_usd) VALUES ('a', 0.25), ('b', 0.5)`);
    await pool.query(`INSERT INTO fleet_ledger (host, cost_usd, at) VALUES ('c', 9, now() - interval '2 days')`);
    expect(await fleetSpentSince(pool, since)).toBeCloseTo(0.75);

    expect(await fleetCooldownUntil(pool, 'p1', 30)).toBeUndefined();
    await pool.query(
      `INSERT INTO fleet_fixes (pattern_key, branch, state, created_by) VALUES ('p1', 'dancer/fix-x', 'rolled_back', 'a')`,
    );
    const until = await fleetCooldownUntil(pool, 'p1', 30);
    expect(until).toBeGreaterThan(Date.now() + 29 * 60_000);
    expect(await fleetCooldownUntil(pool, 'p1', 0)).toBeUndefined();

    await recordDecision(pool, { host: 'a', kind: 'skip', reason: 'held by b', at: 1_700_000_000_000 });
    const d = await pool.query(`SELECT EXTRACT(EPOCH FROM at)::float8 * 1000 AS at FROM fleet_decisions`);
    expect(Number(d.rows[0].at)).toBe(1_700_000_000_000);
  });
});
