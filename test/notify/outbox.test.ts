import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ZulipClient } from '../../src/notify/zulip/client.js';
import { type OutboxItem, OutboxStore, planDelivery } from '../../src/notify/zulip/outbox.js';
import { OutboxWorker } from '../../src/notify/zulip/outbox-worker.js';
import { type Db, openStore } from '../../src/store/open.js';
import { createZulipTestServer, type ZulipTestServer } from '../../src/testing/index.js';

const servers: ZulipTestServer[] = [];
const dbs: Db[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const db of dbs.splice(0)) db.close();
});

function tempDb(): Db {
  const db = openStore(path.join(mkdtempSync(path.join(tmpdir(), 'dancer-outbox-')), 'dancer.db'));
  dbs.push(db);
  return db;
}

async function zulip(options: Parameters<typeof createZulipTestServer>[0] = {}) {
  const server = await createZulipTestServer({
    users: [{ email: 'bot@dancer.test', fullName: 'Dancer', isBot: true }],
    ...options,
  });
  servers.push(server);
  const bot = server.user('bot@dancer.test');
  return { server, client: new ZulipClient({ site: server.url, email: bot.email, apiKey: bot.api_key }) };
}

const T0 = Date.UTC(2026, 10, 25, 14, 0, 0);

function item(partial: Partial<OutboxItem> & { id: number }): OutboxItem {
  return {
    createdAt: T0,
    op: 'post',
    dest: 'stream',
    stream: 'dancer',
    topic: 'dancer',
    toUsers: null,
    content: `m${partial.id}`,
    refKey: null,
    targetKey: null,
    fixId: null,
    role: 'reply',
    collapsible: true,
    state: 'pending',
    attempts: 0,
    lastError: null,
    zulipId: null,
    ...partial,
  };
}

describe('OutboxStore.requeueFailed', () => {
  it('puts failed rows back to pending, clears their error, and leaves other rows alone', () => {
    const store = new OutboxStore(tempDb());
    const a = store.enqueue({ dest: 'stream', stream: 's', topic: 't', content: 'a' });
    const b = store.enqueue({ dest: 'stream', stream: 's', topic: 't', content: 'b' });
    const c = store.enqueue({ dest: 'stream', stream: 's', topic: 't', content: 'c' });
    store.markFailed([a, b], 'HTTP 400');
    store.markSent([c], 99);
    expect(store.requeueFailed([a, c, 12345])).toEqual([a]);
    expect(store.get(a)).toMatchObject({ state: 'pending' });
    expect(store.get(a)?.lastError ?? null).toBeNull();
    expect(store.get(b)).toMatchObject({ state: 'failed', lastError: 'HTTP 400' });
    expect(store.get(c)).toMatchObject({ state: 'sent' });
  });
});

describe('planDelivery', () => {
  const opts = { now: T0, collapseAfterMs: 60_000, maxLength: 10_000 };

  it('keeps order and sends each row alone when there is no backlog', () => {
    const plan = planDelivery([item({ id: 1 }), item({ id: 2, topic: 'fix 1: x' }), item({ id: 3 })], opts);
    expect(plan.map((op) => (op.kind === 'post' ? op.ids : op.kind))).toEqual([[1], [2], [3]]);
  });

  it('folds the newest edit into a pending head and supersedes older edits', () => {
    const plan = planDelivery(
      [
        item({ id: 1, refKey: 'fix:1:head', role: 'head', collapsible: false, content: 'v1' }),
        item({ id: 2, op: 'edit', targetKey: 'fix:1:head', content: 'v2' }),
        item({ id: 3, op: 'edit', targetKey: 'fix:1:head', content: 'v3' }),
        item({ id: 4, op: 'edit', targetKey: 'fix:9:head', content: 'a' }),
        item({ id: 5, op: 'edit', targetKey: 'fix:9:head', content: 'b' }),
      ],
      opts,
    );
    expect(plan).toEqual([
      expect.objectContaining({ kind: 'post', ids: [1], content: 'v3' }),
      { kind: 'supersede', ids: [2], by: 1 },
      { kind: 'fold', postId: 1, content: 'v3', editIds: [3] },
      { kind: 'supersede', ids: [4], by: 5 },
      { kind: 'edit', ids: [5], targetKey: 'fix:9:head', content: 'b' },
    ]);
  });

  it('in a backlog merges consecutive replies per topic, broken by non-collapsible posts', () => {
    const old = T0 - 3_600_000;
    const plan = planDelivery(
      [
        item({ id: 1, createdAt: old }),
        item({ id: 2, createdAt: old + 1, topic: 'fix 1: x' }),
        item({ id: 3, createdAt: old + 2 }),
        item({ id: 4, createdAt: old + 3, collapsible: false, role: 'approval', refKey: 'k' }),
        item({ id: 5, createdAt: old + 4 }),
        item({ id: 6, createdAt: old + 5, topic: 'fix 1: x' }),
      ],
      opts,
    );
    // 4 (an approval request) sits between 3 and 5 in the same topic: 5 may not jump over it.
    expect(plan.map((op) => (op.kind === 'post' ? op.ids : op.kind))).toEqual([[1, 3], [2, 6], [4], [5]]);
  });

  it('splits a merge that would not fit the length limit', () => {
    const old = T0 - 3_600_000;
    const long = 'x'.repeat(400);
    const plan = planDelivery(
      [1, 2, 3, 4].map((id) => item({ id, createdAt: old + id, content: long })),
      { ...opts, maxLength: 1000 },
    );
    expect(plan.map((op) => (op.kind === 'post' ? op.ids : op.kind))).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });
});

describe('OutboxWorker', () => {
  it('Zulip down for an hour: nothing lost, bounded retries, delivered in order and collapsed on return', async () => {
    const { server, client } = await zulip();
    const db = tempDb();
    let now = T0;
    const clock = () => now;
    const store = new OutboxStore(db, clock);
    const failures: number[] = [];
    const worker = new OutboxWorker({
      store,
      client,
      clock,
      maxLength: () => 10_000,
      random: () => 0,
      backoff: { baseMs: 1000, maxMs: 300_000 },
      onError: (_e, info) => failures.push(info.retryInMs ?? -1),
    });
    store.enqueue({
      dest: 'stream',
      stream: 'dancer',
      topic: 'fix 1: boom',
      content: 'head v1',
      refKey: 'fix:1:head',
      role: 'head',
      fixId: 1,
    });
    await server.down();
    const expected: string[] = [];
    // One hour, in 10-second steps: a status line every 5 minutes, a head edit every 20.
    for (let t = 0; t <= 3_600_000; t += 10_000) {
      now = T0 + t;
      if (t % 300_000 === 0) {
        const content = `status at minute ${t / 60_000}`;
        expected.push(content);
        expect(
          typeof store.enqueue({ dest: 'stream', stream: 'dancer', topic: 'dancer', content, role: 'status' }),
        ).toBe('number');
      }
      if (t % 1_200_000 === 0) {
        store.enqueue({
          dest: 'stream',
          stream: 'dancer',
          topic: 'fix 1: boom',
          op: 'edit',
          targetKey: 'fix:1:head',
          content: `head at minute ${t / 60_000}`,
          role: 'head',
          fixId: 1,
        });
      }
      if (now >= worker.retryAt) await worker.runOnce();
    }
    expect(store.counts().pending).toBe(1 + expected.length + 4);
    // Backoff doubled from 1 s to the 5-minute cap: about 20 tries in the hour, not hundreds.
    expect(failures.slice(0, 10)).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000]);
    expect(failures.length).toBeLessThan(25);
    expect(server.requests).toEqual([]);

    await server.up();
    now = worker.retryAt;
    const report = await worker.drain();
    expect(report.retryAt).toBeUndefined();
    expect(store.counts()).toMatchObject({ pending: 0, failed: 0 });
    // The head went out once, with its latest content (the edits were folded in).
    expect(server.messages.filter((m) => m.topic === 'fix 1: boom').map((m) => m.content)).toEqual([
      'head at minute 60',
    ]);
    expect(server.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
    // The status lines: one collapsed message, every line, in order, with its time.
    const status = server.messages.filter((m) => m.topic === 'dancer');
    expect(status).toHaveLength(1);
    expect(status[0]!.content).toMatch(/^_13 updates queued while Zulip was unreachable \(14:00–15:00 UTC\):_/);
    const positions = expected.map((line) => status[0]!.content.indexOf(line));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('a 429 storm: waits Retry-After between tries and delivers everything in order', async () => {
    const { server, client } = await zulip();
    const db = tempDb();
    const store = new OutboxStore(db);
    const worker = new OutboxWorker({ store, client, maxLength: () => 10_000, collapseAfterMs: 3_600_000 });
    server.rateLimitNext(4, 0.05);
    worker.start();
    try {
      for (const n of [1, 2, 3]) {
        store.enqueue({ dest: 'stream', stream: 'dancer', topic: 'storm', content: `message ${n}` });
        worker.nudge();
      }
      await server.waitFor(() => server.messages.length === 3, 5000);
    } finally {
      await worker.stop();
    }
    expect(server.messages.map((m) => m.content)).toEqual(['message 1', 'message 2', 'message 3']);
    const posts = server.requests.filter((r) => r.path === '/messages');
    expect(posts.map((r) => r.status)).toEqual([429, 429, 429, 429, 200, 200, 200]);
    for (let i = 1; i <= 4; i++) expect(posts[i]!.at - posts[i - 1]!.at).toBeGreaterThanOrEqual(48);
  });

  it('an edit refused by the server (edit time limit) becomes a new post that later edits target', async () => {
    let serverNow = T0;
    const { server, client } = await zulip({ now: () => serverNow });
    const store = new OutboxStore(tempDb());
    const worker = new OutboxWorker({ store, client, maxLength: () => 10_000, onError: () => {} });
    worker.start();
    try {
      store.enqueue({
        dest: 'stream',
        stream: 'dancer',
        topic: 'fix 2: y',
        content: 'v1',
        refKey: 'fix:2:head',
        role: 'head',
        fixId: 2,
      });
      worker.nudge();
      await server.waitFor(() => server.messages.length === 1);
      serverNow += 3_600_000;
      store.enqueue({
        dest: 'stream',
        stream: 'dancer',
        topic: 'fix 2: y',
        op: 'edit',
        targetKey: 'fix:2:head',
        content: 'v2',
        role: 'head',
        fixId: 2,
      });
      worker.nudge();
      await server.waitFor(() => server.messages.length === 2);
      store.enqueue({
        dest: 'stream',
        stream: 'dancer',
        topic: 'fix 2: y',
        op: 'edit',
        targetKey: 'fix:2:head',
        content: 'v3',
      });
      worker.nudge();
      await server.waitFor(() => server.messages[1]?.content === 'v3');
    } finally {
      await worker.stop();
    }
    expect(server.messages.map((m) => m.content)).toEqual(['v1', 'v3']);
    expect(store.counts()).toMatchObject({ pending: 0, failed: 0 });
    // Reactions on the re-posted head still stand for the fix.
    expect(store.fixForMessage(server.messages[1]!.id)).toEqual({ fixId: 2, role: 'head' });
  });

  it('trims content over the server limit with a pointer instead of letting Zulip truncate', async () => {
    const { server, client } = await zulip({ maxMessageLength: 500 });
    const store = new OutboxStore(tempDb());
    const worker = new OutboxWorker({ store, client, maxLength: () => 500, trimPointer: '`dancer fixes show 3`' });
    store.enqueue({ dest: 'stream', stream: 'dancer', topic: 't', content: 'y'.repeat(2000) });
    await worker.drain();
    expect(server.messages[0]!.truncated).toBe(false);
    expect(server.messages[0]!.content).toContain('full text: `dancer fixes show 3`');
  });
});
