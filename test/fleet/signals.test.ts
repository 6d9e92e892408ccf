import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { type LeaderElection, startLeaderElection } from '../../src/fleet/leader.js';
import { fleetStop } from '../../src/fleet/queries.js';
import { type FleetListener, listenFleet, type ReceivedSignal, sendFleetSignal } from '../../src/fleet/signals.js';
import { setFleetWideStop, syncStop } from '../../src/fleet/stop.js';
import { openStore } from '../../src/store/open.js';
import { emergencyStop, setEmergencyStop } from '../../src/supervise/index.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { startTcpProxy } from '../../src/testing/tcp-proxy.js';

let server: TestPostgres;
let url: string;
let pool: FleetPool;
let dir: string;

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('signal_test');
  pool = openFleetPool(url);
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-signals-'));
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, ms: number, f: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('fleet signals (LISTEN/NOTIFY)', () => {
  it('bring the stop to every host, persisted, and mirrored into each host store', async () => {
    const hosts = ['a', 'b', 'c'];
    const dbs = hosts.map((h) => openStore(path.join(dir, `${h}.db`)));
    const got: ReceivedSignal[][] = hosts.map(() => []);
    const listeners: FleetListener[] = hosts.map((_, i) =>
      listenFleet({ url, log: () => undefined, onSignal: (s) => got[i]?.push(s) }),
    );
    try {
      await until('listeners', 10_000, () => (listeners.every((l) => l.connected()) ? true : undefined));
      await setFleetWideStop(pool, 'a', { engaged: true, actor: 'alice', reason: 'bad rollout' });
      await until('every host', 10_000, () => (got.every((g) => g.length === 1) ? true : undefined));
      for (const g of got)
        expect(g[0]).toMatchObject({ kind: 'stop', actor: 'alice', reason: 'bad rollout', from: 'a' });
      expect(await fleetStop(pool)).toMatchObject({ engaged: true });
      for (const db of dbs) {
        expect(await syncStop(pool, db)).toBe(true);
        expect(emergencyStop(db)).toMatchObject({ setBy: 'fleet:alice', reason: 'bad rollout' });
      }
      // A stop a human engaged on one host is not lifted by the fleet's resume.
      await setFleetWideStop(pool, 'b', { engaged: false, actor: 'bob', reason: 'fixed' });
      await until('resume', 10_000, () => (got.every((g) => g.length === 2) ? true : undefined));
      expect(got[0]?.[1]).toMatchObject({ kind: 'resume', from: 'b' });
      const [d0, d1] = dbs as [ReturnType<typeof openStore>, ReturnType<typeof openStore>];
      expect(await syncStop(pool, d0)).toBe(true);
      expect(emergencyStop(d0)).toBeUndefined();
      (await import('../../src/supervise/index.js')).clearEmergencyStop(d1);
      setEmergencyStop(d1, 'carol', 'local');
      expect(await syncStop(pool, d1)).toBe(false);
      expect(emergencyStop(d1)).toMatchObject({ setBy: 'carol' });
    } finally {
      await Promise.all(listeners.map((l) => l.stop()));
      for (const db of dbs) db.close();
    }
  });

  it('reach a host again after its connection was cut, and it re-reads the state on reconnect', async () => {
    const proxy = await startTcpProxy(server.port);
    const got: ReceivedSignal[] = [];
    let reconnects = 0;
    const l = listenFleet({
      url: url.replace(`:${server.port}/`, `:${proxy.port}/`),
      log: () => undefined,
      retryMs: 200,
      onSignal: (s) => got.push(s),
      onReconnect: () => {
        reconnects++;
      },
    });
    try {
      await until('connected', 10_000, () => (l.connected() ? true : undefined));
      await proxy.cut('refuse');
      await until('noticed the cut', 5000, () => (l.connected() ? undefined : true));
      await sendFleetSignal(pool, 'x', { kind: 'rollback', actor: 'alice', reason: 'missed while cut', fixId: 1 });
      await proxy.restore();
      await until('reconnected', 10_000, () => (l.connected() && reconnects === 2 ? true : undefined));
      expect(got).toEqual([]); // NOTIFY is not queued for a disconnected listener: hence onReconnect
      await sendFleetSignal(pool, 'x', { kind: 'command', actor: 'alice', text: 'status' });
      await until('signal after reconnect', 10_000, () => (got.length === 1 ? true : undefined));
      expect(got[0]).toMatchObject({ kind: 'command', text: 'status', from: 'x' });
    } finally {
      await l.stop();
      await proxy.close();
    }
  });
});

describe('the fleet leader', () => {
  it('is exactly one host; when it dies another takes over', async () => {
    const proxies = await Promise.all([0, 1, 2].map(() => startTcpProxy(server.port)));
    const changes: string[] = [];
    const elections: LeaderElection[] = proxies.map((p, i) =>
      startLeaderElection({
        url: url.replace(`:${server.port}/`, `:${p.port}/`),
        host: `h${i}`,
        leaseSeconds: 6,
        retryMs: 200,
        log: () => undefined,
        onChange: (l) => changes.push(`h${i}:${l}`),
      }),
    );
    try {
      const first = await until('a leader', 10_000, () => {
        const ls = elections.filter((e) => e.isLeader());
        return ls.length === 1 ? elections.indexOf(ls[0] as LeaderElection) : undefined;
      });
      await new Promise((r) => setTimeout(r, 600));
      expect(elections.filter((e) => e.isLeader())).toHaveLength(1);
      // The leader's connection dies (as with kill -9: the socket closes).
      await proxies[first]?.cut('refuse');
      const second = await until('a new leader', 10_000, () => {
        const i = elections.findIndex((e, j) => j !== first && e.isLeader());
        return i >= 0 ? i : undefined;
      });
      expect(second).not.toBe(first);
      await until('old leader stepped down', 5000, () => (elections[first]?.isLeader() ? undefined : true));
      expect(elections.filter((e) => e.isLeader())).toHaveLength(1);
      expect(changes).toContain(`h${first}:false`);
    } finally {
      await Promise.all(elections.map((e) => e.stop()));
      await Promise.all(proxies.map((p) => p.close()));
    }
  });
});
