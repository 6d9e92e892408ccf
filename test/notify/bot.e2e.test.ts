import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/notify/audit.js';
import { createNotifyHub, type NotifyHub } from '../../src/notify/events.js';
import { createZulipBot } from '../../src/notify/index.js';
import type { ZulipBot } from '../../src/notify/zulip/bot.js';
import { fixTopic } from '../../src/notify/zulip/format.js';
import { type Db, openStore } from '../../src/store/open.js';
import { createZulipTestServer, type ZulipTestMessage, type ZulipTestServer } from '../../src/testing/index.js';
import { asBotActions, TestActions } from './fixtures/sqlite-actions.js';

interface Rig {
  server: ZulipTestServer;
  db: Db;
  dbFile: string;
  hub: NotifyHub;
  actions: TestActions;
  bot: ZulipBot;
  errors: string[];
  botId: number;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const PATTERN = { id: 17, summary: "TypeError: Cannot read properties of undefined (reading 'id')", count: 1204 };

async function startServer(): Promise<ZulipTestServer> {
  const server = await createZulipTestServer({
    users: [
      { email: 'dancer-bot@dancer.test', fullName: 'Dancer', isBot: true },
      { email: 'alice@dancer.test', fullName: 'Alice Ops' },
      { email: 'mallory@dancer.test', fullName: 'Mallory' },
    ],
  });
  cleanups.push(() => server.close());
  return server;
}

async function startBot(server: ZulipTestServer, dbFile?: string): Promise<Rig> {
  const file = dbFile ?? path.join(mkdtempSync(path.join(tmpdir(), 'dancer-bot-')), 'dancer.db');
  const db = openStore(file);
  const hub = createNotifyHub();
  const actions = new TestActions(db, hub);
  const errors: string[] = [];
  const botUser = server.user('dancer-bot@dancer.test');
  const bot = createZulipBot({
    settings: {
      site: server.url,
      email: botUser.email,
      apiKeyEnv: 'TEST_ZULIP_KEY',
      stream: 'dancer',
      statusTopic: 'dancer',
      allow: ['alice@dancer.test'],
      reactions: { approve: 'check', reject: 'cross_mark' },
      digestHourUtc: 9,
      maxRetryDelaySeconds: 0.2,
    },
    env: { TEST_ZULIP_KEY: botUser.api_key },
    db,
    actions: asBotActions(actions),
    feed: hub,
    onError: (error, context) => errors.push(`${context}: ${(error as Error).message}`),
  });
  bot.start();
  cleanups.push(async () => {
    await bot.stop();
    db.close();
  });
  await server.waitFor(
    () => server.queues().some((q) => q.polling && q.userId === botUser.user_id) && bot.me !== undefined,
  );
  return { server, db, dbFile: file, hub, actions, bot, errors, botId: botUser.user_id };
}

const byBot = (rig: Rig) => (m: ZulipTestMessage) => m.sender_id === rig.botId;

describe('Zulip bot end to end (through the conformant test server)', () => {
  it('reports a fix in its own topic and an allow-listed user approves it by command', async () => {
    const server = await startServer();
    const rig = await startBot(server);
    rig.actions.propose(42, PATTERN);
    const topic = fixTopic({ id: 42, pattern: PATTERN });
    const approval = await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('needs approval'));
    await server.waitFor(() => approval.reactions.length === 2);
    expect(approval.topic).toBe(topic);
    expect(approval.reactions.map((r) => r.emoji_name).sort()).toEqual(['check', 'cross_mark']);
    const head = server.messages.find((m) => byBot(rig)(m) && m.content.startsWith('**Fix 42**'))!;
    expect(head.content).toContain('awaiting approval');

    server.sendMessage('alice@dancer.test', { stream: 'dancer', topic, content: '@**Dancer** approve 42' });
    const reply = await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('Fix 42 approved'));
    expect(reply.topic).toBe(topic);
    // The head was edited in place; a short step reply follows; the reaction buttons are gone.
    await server.waitFor(() => head.content.includes('**approved**') && approval.reactions.length === 0);
    expect(head.edits.length).toBeGreaterThan(0);
    await server.waitForMessage(
      (m) =>
        byBot(rig)(m) &&
        m.content.startsWith(':check: **approved** (from awaiting approval, by human:alice@dancer.test)'),
    );
    expect(rig.actions.calls).toContain('approve 42 human:alice@dancer.test');
    expect(listAudit(rig.db)).toEqual([
      expect.objectContaining({
        actor: 'human:alice@dancer.test',
        actorId: String(server.user('alice@dancer.test').user_id),
        source: 'zulip-command',
        action: 'approve',
        target: 'fix:42',
        outcome: 'ok',
      }),
    ]);
    // Its own messages (which contain `@**Dancer** approve 42` as instructions) were ignored.
    expect(rig.actions.calls.filter((c) => c.startsWith('approve'))).toHaveLength(1);
    expect(rig.errors).toEqual([]);
  });

  it('an allow-listed user approves by reaction; a non-listed user is refused and audited', async () => {
    const server = await startServer();
    const rig = await startBot(server);
    rig.actions.propose(43, PATTERN);
    const approval = await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('Fix 43 needs approval'));
    await server.waitFor(() => approval.reactions.length === 2);

    server.addReaction('mallory@dancer.test', approval.id, 'check');
    server.sendMessage('mallory@dancer.test', {
      stream: 'dancer',
      topic: approval.topic,
      content: '@**Dancer** approve 43',
    });
    server.sendMessage('mallory@dancer.test', { to: ['dancer-bot@dancer.test'], content: 'stop' });
    await server.waitFor(
      () => server.messages.filter((m) => byBot(rig)(m) && m.content.startsWith('Sorry @_**Mallory')).length === 3,
    );
    expect(rig.actions.fixes.get(43)!.state).toBe('awaiting_approval');
    expect(rig.actions.stoppedFlag()).toBeUndefined();
    const refusals = listAudit(rig.db).filter((a) => a.outcome === 'refused');
    expect(refusals.map((a) => [a.actor, a.source, a.action, a.target ?? null])).toEqual([
      ['human:mallory@dancer.test', 'zulip-reaction', 'approve', 'fix:43'],
      ['human:mallory@dancer.test', 'zulip-command', 'approve', 'fix:43'],
      ['human:mallory@dancer.test', 'zulip-command', 'stop', null],
    ]);
    const dm = server.messages.find((m) => byBot(rig)(m) && m.type === 'private')!;
    expect(dm.recipients).toContain(server.user('mallory@dancer.test').user_id);

    server.addReaction('alice@dancer.test', approval.id, 'check');
    await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('Fix 43 approved'));
    expect(rig.actions.fixes.get(43)!.state).toBe('approved');
    expect(listAudit(rig.db).filter((a) => a.outcome === 'ok')).toEqual([
      expect.objectContaining({
        actor: 'human:alice@dancer.test',
        source: 'zulip-reaction',
        action: 'approve',
        target: 'fix:43',
      }),
    ]);
  });

  it('answers read commands by DM, rejects with a reason, and explains bad commands', async () => {
    const server = await startServer();
    const rig = await startBot(server);
    rig.actions.propose(44, PATTERN);
    await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('Fix 44 needs approval'));
    for (const text of [
      'help',
      'status',
      'fixes',
      'patterns',
      'show 44',
      'budget',
      'approve',
      'reject 44 not this way',
    ]) {
      server.sendMessage('alice@dancer.test', { to: ['dancer-bot@dancer.test'], content: text });
    }
    await server.waitFor(() => server.messages.filter((m) => byBot(rig)(m) && m.type === 'private').length === 8);
    const dms = server.messages.filter((m) => byBot(rig)(m) && m.type === 'private').map((m) => m.content);
    expect(dms[0]).toContain('`reject ID REASON`');
    expect(dms[1]).toContain(':green_circle: **Running**');
    expect(dms[1]).toContain('**Awaiting approval:** fix 44');
    expect(dms[2]).toContain('| 44 |');
    expect(dms[3]).toContain('| 17 |');
    expect(dms[4]).toContain('**Proposed fix 44**');
    expect(dms[5]).toContain('**Spent today:** $0.24 of $10.00');
    expect(dms[6]).toContain('Usage: approve ID');
    expect(dms[7]).toContain('Fix 44 rejected.');
    expect(rig.actions.calls).toContain('reject 44 human:alice@dancer.test not this way');
    expect(listAudit(rig.db).map((a) => `${a.action}:${a.outcome}`)).toEqual([
      'help:ok',
      'status:ok',
      'fixes:ok',
      'patterns:ok',
      'show:ok',
      'budget:ok',
      'approve:invalid',
      'reject:ok',
    ]);
  });

  it('survives an expired event queue and a 429 storm', async () => {
    const server = await startServer();
    const rig = await startBot(server);
    const [lost] = server.expireQueues({ userId: rig.botId });
    await server.waitFor(() => server.queues().some((q) => q.polling && q.id !== lost));
    server.rateLimitNext(6, 0.05);
    server.sendMessage('alice@dancer.test', { stream: 'dancer', topic: 'ops', content: '@**Dancer** status' });
    const reply = await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('**Running**'), 10_000);
    expect(reply.topic).toBe('ops');
    expect(server.requests.filter((r) => r.status === 429).length).toBe(6);
    expect(rig.bot.poller.stats.queueLost).toBe(1);
    expect(rig.errors.some((e) => e.includes('bad_queue'))).toBe(true);
  });

  it('loses nothing while the server is down and delivers the backlog in order when it is back', async () => {
    const server = await startServer();
    const rig = await startBot(server);
    await server.down();
    rig.actions.propose(45, PATTERN);
    rig.hub.publish({ type: 'failure', at: Date.now(), component: 'consult', message: 'agent crashed' });
    expect(rig.bot.outbox.counts().pending).toBeGreaterThan(0);
    await server.up();
    const failure = await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('agent crashed'), 10_000);
    const approval = await server.waitForMessage(
      (m) => byBot(rig)(m) && m.content.includes('Fix 45 needs approval'),
      10_000,
    );
    const head = server.messages.find((m) => byBot(rig)(m) && m.content.startsWith('**Fix 45**'))!;
    const proposal = server.messages.find((m) => byBot(rig)(m) && m.content.includes('**Proposed fix 45**'))!;
    expect([head.id, proposal.id, approval.id, failure.id]).toEqual(
      [...[head.id, proposal.id, approval.id, failure.id]].sort((a, b) => a - b),
    );
    // The bot also listens again (a new queue after the restart) and takes commands.
    await server.waitFor(() => server.queues().some((q) => q.polling && q.userId === rig.botId), 10_000);
    server.sendMessage('alice@dancer.test', {
      stream: 'dancer',
      topic: approval.topic,
      content: '@**Dancer** approve',
    });
    await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('Fix 45 approved'), 10_000);
    await server.waitFor(() => rig.bot.outbox.counts().pending === 0);
    expect(rig.bot.outbox.counts().failed).toBe(0);
  });

  it('`stop` mid-deploy: the deploy sees it within 1 s and rolls back; the flag survives a restart until `resume`', async () => {
    const server = await startServer();
    const rig = await startBot(server);
    rig.actions.propose(46, PATTERN);
    rig.actions.approve(46, 'human:alice@dancer.test');
    const deploy = rig.actions.startDeploy(46, { steps: 500, stepMs: 20 });
    await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('**Deploy started**'));
    const sentAt = Date.now();
    server.sendMessage('alice@dancer.test', {
      stream: 'dancer',
      topic: 'dancer',
      content: '@**Dancer** stop deploy looks wrong',
    });
    await deploy;
    const record = rig.actions.deploys[0]!;
    expect(record.outcome).toBe('rolled_back');
    expect(record.stopObservedAt! - sentAt).toBeLessThanOrEqual(1000);
    const reply = await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes('Emergency stop engaged.'));
    expect(reply.content).toContain('deploy of fix 46 is being rolled back');
    await server.waitForMessage((m) => byBot(rig)(m) && m.content.includes(':rewind: **Rolled back** fix 46'));
    expect(listAudit(rig.db)).toContainEqual(
      expect.objectContaining({ action: 'stop', outcome: 'ok', args: { reason: 'deploy looks wrong' } }),
    );

    // Restart: a new bot over the same database still sees the stop.
    await cleanups.pop()!();
    const again = await startBot(server, rig.dbFile);
    expect(again.actions.stoppedFlag()).toMatchObject({
      set_by: 'human:alice@dancer.test',
      reason: 'deploy looks wrong',
    });
    again.actions.fixes.set(47, { id: 47, state: 'awaiting_approval', pattern: PATTERN });
    server.sendMessage('alice@dancer.test', { to: ['dancer-bot@dancer.test'], content: 'approve 47' });
    await server.waitForMessage((m) => byBot(again)(m) && m.content.includes('DANCER_EMERGENCY_STOP'));
    server.sendMessage('alice@dancer.test', { to: ['dancer-bot@dancer.test'], content: 'status' });
    await server.waitForMessage(
      (m) => byBot(again)(m) && m.content.includes('**Emergency stop engaged** by human:alice@dancer.test'),
    );
    server.sendMessage('alice@dancer.test', { to: ['dancer-bot@dancer.test'], content: 'resume' });
    await server.waitForMessage((m) => byBot(again)(m) && m.content.includes('Emergency stop lifted.'));
    expect(again.actions.stoppedFlag()).toBeUndefined();
  });
});

describe('daily digest and other reports', () => {
  it('posts the digest once a day at the configured hour, and consultations and failures in place', async () => {
    const server = await startServer();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'dancer-bot-')), 'dancer.db');
    const db = openStore(file);
    const hub = createNotifyHub();
    const actions = new TestActions(db, hub);
    let now = Date.UTC(2026, 10, 25, 9, 5);
    const botUser = server.user('dancer-bot@dancer.test');
    const { ZulipBot } = await import('../../src/notify/zulip/bot.js');
    const { ZulipClient } = await import('../../src/notify/zulip/client.js');
    const bot = new ZulipBot({
      db,
      client: new ZulipClient({ site: server.url, email: botUser.email, apiKey: botUser.api_key }),
      settings: {
        stream: 'dancer',
        statusTopic: 'dancer',
        allow: [],
        reactions: { approve: 'check', reject: 'cross_mark' },
        digestHourUtc: 9,
      },
      actions: {
        ...asBotActions(actions),
        digest: (from, to) => ({
          from,
          to,
          fixes: { proposed: 2, deployed: 1, rolledBack: 0, rejected: 1, failed: 0, open: 1 },
          costUsd: 0.5,
          budgetUsd: 10,
          topPatterns: [PATTERN],
        }),
      },
      feed: hub,
      clock: () => now,
    });
    bot.start();
    cleanups.push(async () => {
      await bot.stop();
      db.close();
    });
    expect(await bot.maybeDigest()).toBe(true);
    expect(await bot.maybeDigest()).toBe(false);
    await server.waitFor(() => server.messages.length === 1); // else the next day's rows form a backlog
    now += 86_400_000;
    expect(await bot.maybeDigest()).toBe(true);
    hub.publish({
      type: 'consultation_started',
      at: now,
      consultationId: 3,
      pattern: PATTERN,
      trigger: 'new error pattern',
    });
    hub.publish({
      type: 'consultation_started',
      at: now,
      consultationId: 4,
      fixId: 50,
      pattern: PATTERN,
      trigger: 'rate > 3x',
    });
    hub.publish({
      type: 'failure',
      at: now,
      component: 'gate',
      message: 'npm test timed out',
      code: 'DANCER_GATE_FAILED',
      fixId: 50,
    });
    await server.waitFor(() => server.messages.length === 5);
    const [d1, d2, c3, c4, f] = server.messages;
    expect([d1!.topic, d2!.topic, c3!.topic]).toEqual(['dancer', 'dancer', 'dancer']);
    expect(d1!.content).toContain('**Daily digest** (2026-11-24 09:00 → 2026-11-25 09:05 UTC)');
    expect(d2!.content).toContain('2 proposed, 1 deployed');
    expect(c3!.content).toContain('**Consultation 3 started**');
    expect(c4!.topic).toBe(fixTopic({ id: 50, pattern: PATTERN }));
    expect(f!.topic).toBe(c4!.topic);
    expect(f!.content).toContain('`DANCER_GATE_FAILED`');
  });
});
