/**
 * Claims of the fleet's voice expire with the leadership (real PostgreSQL, real SQLite outboxes
 * of two hosts): a leader killed after queueing events in its own outbox but before Zulip took
 * them leaves claims the next leader takes again and posts; when the first host leads again it
 * drops its leftovers, so each event is posted once. A leader's own claims (a restart) are never
 * queued twice here, and are marked posted once its outbox sent them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { insertVoice, startVoiceRelay, type VoiceEvent, type VoiceRelay } from '../../src/fleet/voice.js';
import {
  discardOutboxRange,
  type OutboxMarks,
  OutboxStore,
  outboxMarks,
  outboxSettled,
} from '../../src/notify/index.js';
import { type Db, openStore } from '../../src/store/open.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';

let server: TestPostgres;
let pool: FleetPool;
let dir: string;

beforeAll(async () => {
  server = await startPostgres();
  pool = openFleetPool(await server.createDatabase('voice_claims_test'));
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-voice-'));
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A host's voice as `dancer run` wires it: the event becomes an outbox row (as the bot plans it), with a receipt. */
function hostVoice(name: string) {
  const db: Db = openStore(path.join(dir, `${name}.db`));
  const outbox = new OutboxStore(db);
  let leading = false;
  const relay = (): VoiceRelay =>
    startVoiceRelay({
      pool,
      host: name,
      isLeader: () => leading,
      deliver: (e: VoiceEvent) => {
        const from = outboxMarks(db);
        outbox.enqueue({ dest: 'stream', stream: 'dancer', topic: 'fleet', content: JSON.stringify(e.payload) });
        return { from, to: outboxMarks(db) };
      },
      settled: (r) => outboxSettled(db, (r as { from: OutboxMarks }).from, (r as { to: OutboxMarks }).to),
      discard: (r) =>
        discardOutboxRange(db, (r as { from: OutboxMarks }).from, (r as { to: OutboxMarks }).to, 'superseded: test'),
      pollMs: 60_000,
      log: () => undefined,
    });
  return {
    db,
    outbox,
    relay,
    lead(l: boolean) {
      leading = l;
    },
    /** What the outbox worker does once Zulip accepted the pending rows. */
    sendAll() {
      const pending = outbox.pending();
      for (const item of pending) outbox.markSent([item.id], 1000 + item.id);
      return pending.map((i) => i.content);
    },
    contents: (state: string) =>
      outbox
        .all()
        .filter((i) => i.state === state)
        .map((i) => i.content),
  };
}

const voiceRows = async (tag: string) =>
  (
    await pool.query(
      `SELECT delivered_by, posted_at IS NOT NULL AS posted, abandoned FROM fleet_voice WHERE payload->>'tag' = $1 ORDER BY id`,
      [tag],
    )
  ).rows;

describe("a killed leader's claims", () => {
  it('are claimed again by the next leader and posted once; the old leader drops its leftovers when it leads again', async () => {
    for (const n of [1, 2]) {
      await insertVoice(pool, { host: 'c', channel: 'zulip', payload: { tag: 'kill', n }, at: Date.now() });
    }
    const a = hostVoice('a');
    const b = hostVoice('b');
    a.lead(true);
    const ra = a.relay();
    expect(await ra.poke()).toBe(2);
    expect(a.contents('pending')).toHaveLength(2);
    expect(await voiceRows('kill')).toEqual([
      { delivered_by: 'a', posted: false, abandoned: [] },
      { delivered_by: 'a', posted: false, abandoned: [] },
    ]);
    // a is killed before Zulip took them (its relay and bot stop; its outbox keeps the rows).
    a.lead(false);
    await ra.stop();
    b.lead(true);
    const rb = b.relay();
    expect(await rb.poke()).toBe(2);
    expect(b.sendAll()).toEqual(['{"n":1,"tag":"kill"}', '{"n":2,"tag":"kill"}']);
    expect(await rb.poke()).toBe(0); // acknowledged, nothing claimed twice
    const rows = await voiceRows('kill');
    expect(rows.map((r) => [r.delivered_by, r.posted])).toEqual([
      ['b', true],
      ['b', true],
    ]);
    expect(rows[0].abandoned).toMatchObject([{ host: 'a', receipt: { from: { zulip: 0 }, to: { zulip: 1 } } }]);
    expect(b.outbox.all()).toHaveLength(2);
    // a leads again (b died): before its bot starts it drops the two rows b posted.
    b.lead(false);
    await rb.stop();
    a.lead(true);
    const ra2 = a.relay();
    expect(await ra2.takeOver()).toBe(2);
    expect(a.contents('pending')).toEqual([]);
    expect(a.contents('superseded')).toHaveLength(2);
    expect(await ra2.poke()).toBe(0);
    expect((await voiceRows('kill')).map((r) => r.abandoned)).toEqual([[], []]);
    expect(await ra2.takeOver()).toBe(0); // once
    // Posted once in all: b's two sent rows; a's never left.
    expect([...a.contents('sent'), ...b.contents('sent')]).toHaveLength(2);
    await ra2.stop();
    a.db.close();
    b.db.close();
  });

  it('a restarted leader does not queue its own claims twice, and acknowledges them once sent', async () => {
    await insertVoice(pool, { host: 'c', channel: 'webhook', payload: { tag: 'own' }, at: Date.now() });
    const d = hostVoice('d');
    d.lead(true);
    const r1 = d.relay();
    expect(await r1.poke()).toBe(1);
    await r1.stop(); // the process restarts; the outbox row is still pending
    const r2 = d.relay();
    expect(await r2.poke()).toBe(0);
    expect(d.outbox.all()).toHaveLength(1);
    expect((await voiceRows('own'))[0]).toMatchObject({ delivered_by: 'd', posted: false });
    d.sendAll();
    await r2.poke();
    expect((await voiceRows('own'))[0]).toMatchObject({ delivered_by: 'd', posted: true });
    await r2.stop();
    d.db.close();
  });

  it('a leader whose bot is not attached yet leaves events unclaimed, and delivers them once it is', async () => {
    await insertVoice(pool, { host: 'c', channel: 'zulip', payload: { tag: 'early' }, at: Date.now() });
    const got: VoiceEvent[] = [];
    let ready = false;
    const relay = startVoiceRelay({
      pool,
      host: 'f',
      isLeader: () => true,
      ready: () => ready,
      deliver: (e) => {
        if ((e.payload as { tag?: string }).tag === 'early') got.push(e);
      },
      pollMs: 60_000,
      log: () => undefined,
    });
    expect(await relay.poke()).toBe(0);
    expect(got).toEqual([]);
    expect((await voiceRows('early'))[0]).toMatchObject({ delivered_by: null, posted: false });
    ready = true;
    expect(await relay.poke()).toBeGreaterThanOrEqual(1);
    expect(got).toHaveLength(1);
    expect((await voiceRows('early'))[0]).toMatchObject({ delivered_by: 'f', posted: true });
    await relay.stop();
  });

  it('a relay that cannot check its outboxes counts a delivery as posted (the behaviour before claims)', async () => {
    await insertVoice(pool, { host: 'c', channel: 'zulip', payload: { tag: 'plain' }, at: Date.now() });
    const got: VoiceEvent[] = [];
    const relay = startVoiceRelay({
      pool,
      host: 'e',
      isLeader: () => true,
      deliver: (e) => {
        if ((e.payload as { tag?: string }).tag === 'plain') got.push(e);
      },
      pollMs: 60_000,
      log: () => undefined,
    });
    await relay.poke();
    expect(got).toHaveLength(1);
    expect((await voiceRows('plain'))[0]).toMatchObject({ delivered_by: 'e', posted: true });
    await relay.stop();
  });
});
