/**
 * Fix ids are each host's own: web-1's fix 7 and web-2's fix 7 are two fixes. Through the fleet's
 * one voice (real PostgreSQL, the real relay, the real Zulip bot against the Zulip-compatible test
 * server) each gets its own topic, `fix N (host #7): ...`, N its fleet number; a command naming N
 * (or given in N's topic without an id) reaches the host that made the fix, with that host's own
 * id, and no other host's fix 7.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetBotActions } from '../../src/cli/run-fleet.js';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { fleetFixRef, resolveFleetFixRef } from '../../src/fleet/fix-refs.js';
import { listenFleet, type ReceivedSignal } from '../../src/fleet/signals.js';
import { insertVoice, startVoiceRelay, type VoiceRelay } from '../../src/fleet/voice.js';
import { createNotifyHub, type NotifyEvent } from '../../src/notify/events.js';
import { createZulipBot } from '../../src/notify/index.js';
import type { ZulipBot } from '../../src/notify/zulip/bot.js';
import { fixIdFromTopic } from '../../src/notify/zulip/commands.js';
import { fixTopic } from '../../src/notify/zulip/format.js';
import { type Db, openStore } from '../../src/store/open.js';
import { createZulipTestServer, type ZulipTestServer } from '../../src/testing/index.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { asBotActions, TestActions } from '../notify/fixtures/sqlite-actions.js';

let server: TestPostgres;
let pool: FleetPool;
let url: string;
let dir: string;

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('zulip_topics_test');
  pool = openFleetPool(url);
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-topics-'));
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('fleet fix topics', () => {
  it('the single-host topic is unchanged; a fleet topic names the host and parses back to its fleet number', () => {
    const pattern = { id: 3, summary: 'TypeError: x is undefined', count: 4 };
    expect(fixTopic({ id: 7, pattern })).toBe('fix 7: TypeError: x is undefined');
    const fleet = fixTopic({ id: 12, pattern, origin: { host: 'web-2', fixId: 7 } });
    expect(fleet).toBe('fix 12 (web-2 #7): TypeError: x is undefined');
    expect(fixIdFromTopic(fleet)).toBe(12);
    expect(fixIdFromTopic('fix 7: TypeError')).toBe(7);
    expect(fixIdFromTopic('fix 7')).toBe(7);
    expect(fixIdFromTopic('fix 7x')).toBeUndefined();
  });

  it('fleet numbers are stable per (host, fix id) and distinct across hosts', async () => {
    const a = await fleetFixRef(pool, 'h-a', 7);
    const b = await fleetFixRef(pool, 'h-b', 7);
    expect(a).not.toBe(b);
    expect(await fleetFixRef(pool, 'h-a', 7)).toBe(a);
    expect(await resolveFleetFixRef(pool, b)).toEqual({ host: 'h-b', localId: 7 });
    expect(await resolveFleetFixRef(pool, 999_999)).toBeUndefined();
  });

  it("two hosts' fix 7 get two topics on the leader's bot; commands by fleet number reach the right host", async () => {
    const zulip: ZulipTestServer = await createZulipTestServer({
      users: [
        { email: 'dancer-bot@dancer.test', fullName: 'Dancer', isBot: true },
        { email: 'alice@dancer.test', fullName: 'Alice Ops' },
      ],
    });
    const dbs: Db[] = [];
    let bot: ZulipBot | undefined;
    let relay: VoiceRelay | undefined;
    const signals: ReceivedSignal[] = [];
    const listener = listenFleet({ url, onSignal: (s) => signals.push(s), log: () => undefined });
    try {
      // Each host's own events (its TestActions publish on its hub) are shipped into fleet_voice.
      const hostActions = (name: string) => {
        const db = openStore(path.join(dir, `${name}.db`));
        dbs.push(db);
        const hub = createNotifyHub();
        hub.subscribe(
          (e: NotifyEvent) => void insertVoice(pool, { host: name, channel: 'zulip', payload: e, at: e.at }),
        );
        return new TestActions(db, hub);
      };
      const web1 = hostActions('web-1');
      const web2 = hostActions('web-2');
      // web-1 leads: its bot hears the relayed events of every host.
      const leaderDb = openStore(path.join(dir, 'web-1-bot.db'));
      dbs.push(leaderDb);
      const relayHub = createNotifyHub();
      const botUser = zulip.user('dancer-bot@dancer.test');
      bot = createZulipBot({
        settings: {
          site: zulip.url,
          email: botUser.email,
          apiKeyEnv: 'K',
          stream: 'dancer',
          statusTopic: 'dancer',
          allow: ['alice@dancer.test'],
          reactions: { approve: 'check', reject: 'cross_mark' },
          digestHourUtc: 9,
          maxRetryDelaySeconds: 0.2,
        },
        env: { K: botUser.api_key },
        db: leaderDb,
        actions: fleetBotActions(asBotActions(web1), { pool, host: 'web-1' }, () => undefined, 'fleet'),
        feed: relayHub,
      });
      bot.start();
      relay = startVoiceRelay({
        pool,
        host: 'web-1',
        isLeader: () => true,
        deliver: (e) => relayHub.publish(e.payload as NotifyEvent),
        pollMs: 100,
        log: () => undefined,
      });
      const pattern = { id: 17, summary: 'TypeError: x is undefined', count: 9 };
      web1.propose(7, pattern);
      web2.propose(7, { ...pattern, id: 18, summary: 'RangeError: Invalid array length' });
      const isBot = (m: { sender_id: number }) => m.sender_id === botUser.user_id;
      await zulip.waitFor(
        () => zulip.messages.filter((m) => isBot(m) && m.content.includes('needs approval')).length === 2,
      );
      const topics = [...new Set(zulip.messages.filter(isBot).map((m) => m.topic))].sort();
      const n1 = await fleetFixRef(pool, 'web-1', 7);
      const n2 = await fleetFixRef(pool, 'web-2', 7);
      expect(topics).toEqual(
        [
          `fix ${n1} (web-1 #7): TypeError: x is undefined`,
          `fix ${n2} (web-2 #7): RangeError: Invalid array length`,
        ].sort(),
      );
      const t2 = topics.find((t) => t.includes('web-2')) as string;
      const t1 = topics.find((t) => t.includes('web-1')) as string;
      // approve N2 (web-2's fix 7): sent to web-2 with its own id 7; web-1's fix 7 untouched.
      zulip.sendMessage('alice@dancer.test', { stream: 'dancer', topic: t2, content: `@**Dancer** approve ${n2}` });
      await zulip.waitFor(() => signals.some((s) => s.kind === 'command'));
      expect(signals.filter((s) => s.kind === 'command')).toMatchObject([
        { kind: 'command', name: 'approve', fixId: 7, host: 'web-2', from: 'web-1', actor: 'human:alice@dancer.test' },
      ]);
      const sent = await zulip.waitForMessage((m) => isBot(m) && m.content.includes('sent to web-2'));
      expect(sent.topic).toBe(t2);
      expect(sent.content).toContain(`approve of fix ${n2} (web-2's fix 7) sent to web-2`);
      expect(web1.calls.filter((c) => c.startsWith('approve'))).toEqual([]);
      // reject without an id in web-1's topic: the topic's fleet number, web-1's own fix 7, here.
      zulip.sendMessage('alice@dancer.test', { stream: 'dancer', topic: t1, content: '@**Dancer** reject too risky' });
      await zulip.waitFor(() => web1.calls.some((c) => c.startsWith('reject')));
      expect(web1.calls.filter((c) => c.startsWith('reject'))).toEqual(['reject 7 human:alice@dancer.test too risky']);
      expect(signals.filter((s) => s.kind === 'command')).toHaveLength(1);
      // A number no fix has is refused, not run on the leader's own fix of that number.
      zulip.sendMessage('alice@dancer.test', { stream: 'dancer', topic: t1, content: '@**Dancer** approve 7' });
      const none = await zulip.waitForMessage((m) => isBot(m) && m.content.includes('No fix 7 in the fleet'));
      expect(none.topic).toBe(t1);
      expect(web1.calls.filter((c) => c.startsWith('approve'))).toEqual([]);
    } finally {
      await relay?.stop();
      await bot?.stop();
      await listener.stop();
      for (const db of dbs) db.close();
      await zulip.close();
    }
  }, 60_000);
});
