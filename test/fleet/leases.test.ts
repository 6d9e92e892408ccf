import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { acquireLease, orphanedLeases, releaseLease, renewLeases, saveLease } from '../../src/fleet/leases.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';

let server: TestPostgres;
let url: string;
let pools: FleetPool[];

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('lease_test');
  pools = [openFleetPool(url), openFleetPool(url), openFleetPool(url)];
  await migrateFleet(pools[0] as FleetPool);
}, 60_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await server?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pattern leases', () => {
  it('go to exactly one of many hosts racing for the same pattern', async () => {
    for (let round = 0; round < 10; round++) {
      const key = `race-${round}`;
      const results = await Promise.all(
        ['ra', 'rb', 'rc', 'rd', 're', 'rf'].map((host, i) =>
          acquireLease(pools[i % 3] as FleetPool, { patternKey: key, host, leaseSeconds: 30, reopenAfterSeconds: 600 }),
        ),
      );
      const won = results.filter((r) => r.kind === 'acquired');
      expect(won).toHaveLength(1);
      const holder = won[0]?.kind === 'acquired' ? won[0].lease.holder : '';
      for (const r of results.filter((x) => x.kind !== 'acquired')) expect(r).toMatchObject({ kind: 'held', holder });
    }
  });

  it('pass to another host after the holder stops renewing, with the persisted state to resume from', async () => {
    const [p] = pools as [FleetPool];
    const key = 'p-expire';
    const first = await acquireLease(p, { patternKey: key, host: 'a', leaseSeconds: 1, reopenAfterSeconds: 600 });
    expect(first.kind).toBe('acquired');
    await saveLease(p, {
      patternKey: key,
      host: 'a',
      leaseSeconds: 1,
      stage: 'consulting',
      state: { consultationId: 7 },
    });
    expect(
      await acquireLease(p, { patternKey: key, host: 'b', leaseSeconds: 1, reopenAfterSeconds: 600 }),
    ).toMatchObject({
      kind: 'held',
      holder: 'a',
      stage: 'consulting',
    });
    await sleep(1300);
    expect(await orphanedLeases(p)).toEqual([{ patternKey: key, holder: 'a', stage: 'consulting' }]);
    const second = await acquireLease(p, { patternKey: key, host: 'b', leaseSeconds: 30, reopenAfterSeconds: 600 });
    expect(second).toEqual({
      kind: 'acquired',
      lease: {
        patternKey: key,
        holder: 'b',
        stage: 'consulting',
        state: { consultationId: 7 },
        takeovers: 1,
        tookOverFrom: 'a',
      },
    });
    // The old holder is fenced off: it cannot write progress any more, nor renew.
    await expect(
      saveLease(p, { patternKey: key, host: 'a', leaseSeconds: 30, stage: 'gating', state: {} }),
    ).rejects.toMatchObject({ code: 'DANCER_FLEET_LEASE_LOST' });
    expect(await renewLeases(p, 'a', 30)).toEqual([]);
    expect(await renewLeases(p, 'b', 30)).toEqual([key]);
  });

  it('are renewed by the heartbeat, so a live holder keeps them past leaseSeconds', async () => {
    const [p] = pools as [FleetPool];
    const key = 'p-renew';
    await acquireLease(p, { patternKey: key, host: 'a', leaseSeconds: 1, reopenAfterSeconds: 600 });
    for (let i = 0; i < 4; i++) {
      await sleep(400);
      expect(await renewLeases(p, 'a', 1)).toContain(key);
    }
    expect(
      await acquireLease(p, { patternKey: key, host: 'b', leaseSeconds: 1, reopenAfterSeconds: 600 }),
    ).toMatchObject({
      kind: 'held',
    });
  });

  it('once the work is done, late triggers from other hosts do not start it again until reopened', async () => {
    const [p] = pools as [FleetPool];
    const key = 'p-done';
    await acquireLease(p, { patternKey: key, host: 'a', leaseSeconds: 30, reopenAfterSeconds: 600 });
    await saveLease(p, { patternKey: key, host: 'a', leaseSeconds: 30, stage: 'done', state: { fixId: 3 } });
    expect(await acquireLease(p, { patternKey: key, host: 'b', leaseSeconds: 30, reopenAfterSeconds: 600 })).toEqual({
      kind: 'finished',
      stage: 'done',
      state: { fixId: 3 },
    });
    expect(await orphanedLeases(p)).not.toContainEqual(expect.objectContaining({ patternKey: key }));
    await sleep(1100);
    const again = await acquireLease(p, { patternKey: key, host: 'b', leaseSeconds: 30, reopenAfterSeconds: 1 });
    expect(again).toMatchObject({ kind: 'acquired', lease: { stage: 'new', state: {} } });
  });

  it('given back on shutdown are free for another host at once', async () => {
    const [p] = pools as [FleetPool];
    await acquireLease(p, { patternKey: 'p-release', host: 'a', leaseSeconds: 60, reopenAfterSeconds: 600 });
    await releaseLease(p, 'p-release', 'a');
    expect(
      await acquireLease(p, { patternKey: 'p-release', host: 'b', leaseSeconds: 60, reopenAfterSeconds: 600 }),
    ).toMatchObject({ kind: 'acquired', lease: { holder: 'b' } });
  });
});
