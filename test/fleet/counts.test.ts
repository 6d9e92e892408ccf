/**
 * Fleet-wide counts in the detector's trigger rules, against a real PostgreSQL: a new error
 * pattern seen once on each of three hosts counts three on the host that evaluates it (the
 * real miner, real stores, counts shipped by the real agent); a host alone counts one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { startFleetAgent } from '../../src/fleet/agent.js';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { createRemoteCounts } from '../../src/fleet/counts.js';
import { createPatternsPipeline, type TriggerEvent } from '../../src/patterns/index.js';
import { LogWriter } from '../../src/store/log-writer.js';
import { type Db, openStore } from '../../src/store/open.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';

let server: TestPostgres;
let pool: FleetPool;
let dir: string;
const cleanups: Array<() => void | Promise<void>> = [];

beforeAll(async () => {
  server = await startPostgres();
  pool = openFleetPool(await server.createDatabase('counts_test'));
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-counts-'));
}, 60_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// More than 2 occurrences in 5 minutes fires the new-pattern rule.
const CONFIG = parseConfigText('patterns:\n  triggers:\n    newPattern: { minCount: 2 }\n', '<test>');

function host(name: string) {
  const db: Db = openStore(path.join(dir, `${name}.db`));
  const { plugins, detector } = createPatternsPipeline(db, CONFIG, { activeConsultations: () => [] });
  const writer = new LogWriter(db, { plugins, maxBatchDelayMs: 10_000 });
  const triggers: TriggerEvent[] = [];
  detector.on('trigger', (t) => triggers.push(t));
  cleanups.push(() => {
    writer.close();
    db.close();
  });
  const once = (pid: number, message = 'payment provider answered 502 for checkout') => {
    writer.write({
      ts: Date.now(),
      level: 50,
      message,
      stack:
        'Error: bad gateway\n    at charge (/srv/app/src/pay.ts:12:9)\n    at checkout (/srv/app/src/orders.ts:88:5)',
      pid,
    });
    writer.flush();
  };
  return { name, db, detector, triggers, once };
}

describe('fleet-wide counts in the trigger rules', () => {
  it('count a pattern seen once on each of three hosts as three', async () => {
    const [a, b, c, alone] = ['a', 'b', 'c', 'alone'].map(host) as [
      ReturnType<typeof host>,
      ReturnType<typeof host>,
      ReturnType<typeof host>,
      ReturnType<typeof host>,
    ];
    // a and b each saw it once (no trigger: 1 is not more than 2) and shipped their counts.
    for (const [i, h] of [a, b].entries()) {
      h.once(i);
      const agent = startFleetAgent({ pool, db: h.db, host: h.name, leaseSeconds: 60, log: () => undefined });
      expect(await agent.tick()).toBe(true);
      await agent.stop();
      expect(h.triggers).toEqual([]);
    }
    // c uses the fleet-wide counts: its one occurrence makes three.
    const counts = createRemoteCounts({ db: c.db, host: 'c', windowMinutes: 5 });
    await counts.refresh(pool);
    c.detector.setRemoteCounts((id, from, to) => counts.counts(id, from, to));
    c.once(7);
    expect(c.triggers).toHaveLength(1);
    expect(c.triggers[0]).toMatchObject({ kind: 'new_pattern' });
    expect(c.triggers[0]?.numbers).toMatchObject({ count: 3 });
    // Its own rows are never counted twice: the cache holds only the other hosts'.
    expect(counts.counts(c.triggers[0]?.templateId as number, 0, Number.MAX_SAFE_INTEGER)).toEqual({
      count: 2,
      errors: 2,
    });

    // The same single occurrence on a host that counts only its own fires nothing.
    alone.once(9);
    expect(alone.triggers).toEqual([]);
  });

  it('add nothing for a template no other host saw', async () => {
    const d = host('d');
    const counts = createRemoteCounts({ db: d.db, host: 'd', windowMinutes: 5 });
    await counts.refresh(pool);
    d.detector.setRemoteCounts((id, from, to) => counts.counts(id, from, to));
    for (let i = 0; i < 3; i++) d.once(i, 'disk quota exceeded on /var/data');
    // Its own three occurrences fire (more than 2), counted as three: nothing came from the fleet.
    expect(d.triggers).toHaveLength(1);
    expect(d.triggers[0]?.numbers).toMatchObject({ count: 3 });
    expect(counts.counts(d.triggers[0]?.templateId as number, 0, Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });
});
