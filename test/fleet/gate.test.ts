import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { createFleetGate, type FleetGateDecision } from '../../src/fleet/gate.js';
import { pendingFleetEvents } from '../../src/fleet/local.js';
import { setFleetStop } from '../../src/fleet/queries.js';
import { openStore } from '../../src/store/open.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';

let server: TestPostgres;
let pool: FleetPool;
let dir: string;

beforeAll(async () => {
  server = await startPostgres();
  pool = openFleetPool(await server.createDatabase('gate_test'));
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-gate-'));
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function gateFor(host: string, canAct = () => true, leaseSeconds = 30) {
  const db = openStore(path.join(dir, `${host}-${Math.random().toString(36).slice(2)}.db`));
  return { db, gate: createFleetGate({ pool, db, agent: { canAct }, host, leaseSeconds, cooldownMinutes: 30 }) };
}

describe('the fleet gate before a consultation', () => {
  it('lets exactly one of three hosts consult on the same bug (different local ids), once', async () => {
    const hosts = ['a', 'b', 'c'].map((h) => gateFor(h));
    const input = (id: string) => ({
      patternId: id,
      templateText: 'TypeError: Cannot read <*> of undefined',
      fingerprint: 'fp',
    });
    const decisions = await Promise.all(hosts.map((h, i) => h.gate(input(String(i + 3)))));
    const consults = decisions.filter((d) => d.kind === 'consult');
    expect(consults).toHaveLength(1);
    for (const d of decisions.filter((x) => x.kind === 'skip'))
      expect(d).toMatchObject({ reason: expect.stringMatching(/holds pattern \d+/) });
    await (consults[0] as Extract<FleetGateDecision, { kind: 'consult' }>).finish({
      ok: true,
      details: { branch: 'dancer/fix-1' },
    });
    // Late triggers on the other hosts: handled already, no second consultation.
    const late = await Promise.all(hosts.map((h) => h.gate(input('9'))));
    expect(late.map((d) => d.kind)).toEqual(['skip', 'skip', 'skip']);
    expect(late[0]).toMatchObject({ reason: expect.stringContaining('already handled (done)') });
    const c = await pool.query(`SELECT count(*)::int AS n, max(outcome) AS o FROM fleet_consultations`);
    expect(c.rows[0]).toEqual({ n: 1, o: 'done' });
    for (const h of hosts) h.db.close();
  });

  it('takes no fleet action while cut off, and records why locally for catch-up', async () => {
    const { db, gate } = gateFor('d', () => false);
    expect(await gate({ patternId: '1', templateText: 'x <*>' })).toMatchObject({
      kind: 'skip',
      reason: expect.stringContaining('cut off'),
    });
    expect(pendingFleetEvents(db).map((e) => e.kind)).toEqual(['decision']);
    db.close();
  });

  it('obeys the fleet-wide stop, and a dead holder loses the pattern to another host after leaseSeconds', async () => {
    const a = gateFor('e', () => true, 1);
    const b = gateFor('f', () => true, 1);
    await setFleetStop(pool, 'e', { engaged: true, actor: 'alice', reason: 'x' });
    expect(await a.gate({ patternId: '1', templateText: 'boom <*>' })).toMatchObject({
      kind: 'skip',
      reason: expect.stringContaining('emergency stop'),
    });
    await setFleetStop(pool, 'e', { engaged: false, actor: 'alice', reason: 'x' });
    expect((await a.gate({ patternId: '1', templateText: 'boom <*>' })).kind).toBe('consult');
    expect((await b.gate({ patternId: '2', templateText: 'boom <*>' })).kind).toBe('skip');
    // e dies (no heartbeat renews its lease): after leaseSeconds f takes over and consults.
    await new Promise((r) => setTimeout(r, 1300));
    const taken = await b.gate({ patternId: '2', templateText: 'boom <*>' });
    expect(taken).toMatchObject({ kind: 'consult', lease: { tookOverFrom: 'e', stage: 'consulting' } });
    a.db.close();
    b.db.close();
  });
});
