import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { DancerError } from '../../src/errors.js';
import { classifyZulipError, retryDelayMs, ZulipClient, type ZulipEvent } from '../../src/notify/zulip/client.js';
import { normalizeSite, parseZuliprc, resolveCredentials } from '../../src/notify/zulip/credentials.js';
import { EventQueuePoller } from '../../src/notify/zulip/event-queue.js';
import { createZulipTestServer, type ZulipTestServer } from '../../src/testing/index.js';

const servers: ZulipTestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(options: Parameters<typeof createZulipTestServer>[0] = {}) {
  const server = await createZulipTestServer({
    users: [
      { email: 'bot@dancer.test', fullName: 'Dancer', isBot: true },
      { email: 'alice@dancer.test', fullName: 'Alice Ops' },
    ],
    ...options,
  });
  servers.push(server);
  const bot = server.user('bot@dancer.test');
  const client = new ZulipClient({ site: server.url, email: bot.email, apiKey: bot.api_key });
  return { server, client, bot };
}

describe('credentials', () => {
  it('parses a .zuliprc as Zulip writes it', () => {
    const rc = parseZuliprc(
      '[api]\nemail=dancer-bot@chat.example.com\nkey=abcdefghijklmnopqrstuvwxyz012345\nsite=https://chat.example.com\n',
    );
    expect(rc).toEqual({
      email: 'dancer-bot@chat.example.com',
      key: 'abcdefghijklmnopqrstuvwxyz012345',
      site: 'https://chat.example.com',
    });
    expect(() => parseZuliprc('email=x\n')).toThrowError(DancerError);
    expect(normalizeSite('chat.example.com/')).toBe('https://chat.example.com');
    expect(normalizeSite('localhost:9991')).toBe('http://localhost:9991');
    expect(normalizeSite('https://chat.example.com/api/v1')).toBe('https://chat.example.com');
  });

  it('reads the key from the variable named by apiKeyEnv, or from the zuliprc file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-zuliprc-'));
    writeFileSync(
      path.join(dir, 'bot.zuliprc'),
      '[api]\nemail=bot@x.test\nkey=K1234567890123456789012345678901\nsite=chat.x.test\n',
    );
    expect(resolveCredentials({ zuliprc: 'bot.zuliprc' }, { baseDir: dir })).toEqual({
      site: 'https://chat.x.test',
      email: 'bot@x.test',
      apiKey: 'K1234567890123456789012345678901',
    });
    expect(
      resolveCredentials(
        { site: 'https://zulip.example.com', email: 'dancer@example.com', apiKeyEnv: 'DANCER_ZULIP_KEY' },
        { env: { DANCER_ZULIP_KEY: 'secret' } },
      ),
    ).toEqual({ site: 'https://zulip.example.com', email: 'dancer@example.com', apiKey: 'secret' });
    expect(() => resolveCredentials({ site: 'https://z', email: 'e', apiKeyEnv: 'NOPE' }, { env: {} })).toThrowError(
      expect.objectContaining({ code: 'DANCER_CONFIG_ENV_MISSING' }),
    );
    expect(() => resolveCredentials({ zuliprc: 'missing.zuliprc' }, { baseDir: dir })).toThrowError(
      expect.objectContaining({ code: 'DANCER_ZULIPRC_INVALID' }),
    );
  });

  it('accepts exactly the documented dancer.yaml keys', () => {
    const config = parseConfigText(
      [
        'notify:',
        '  zulip:',
        '    site: https://zulip.example.com',
        '    email: dancer-bot@zulip.example.com',
        '    apiKeyEnv: DANCER_ZULIP_API_KEY',
        '    stream: ops',
        '    allow: [alice@example.com, 42]',
      ].join('\n'),
      'dancer.yaml',
    );
    expect(config.notify.zulip).toMatchObject({
      site: 'https://zulip.example.com',
      stream: 'ops',
      allow: ['alice@example.com', 42],
      reactions: { approve: 'check', reject: 'cross_mark' },
    });
    expect(() => parseConfigText('notify:\n  zulip:\n    site: https://z.example.com\n', 'dancer.yaml')).toThrowError(
      /apiKeyEnv/,
    );
  });
});

describe('ZulipClient against the test server', () => {
  it('sends, edits, reacts, and reads its own user', async () => {
    const { server, client, bot } = await setup();
    const me = await client.getOwnUser();
    expect(me).toMatchObject({ user_id: bot.user_id, email: bot.email, is_bot: true });
    const id = await client.sendStreamMessage({ stream: 'dancer', topic: 'fix 1: x', content: 'héllo 🙂' });
    await client.editMessage(id, { content: 'edited' });
    await client.addReaction(id, 'check');
    await client.removeReaction(id, 'check');
    await client.sendDirectMessage({ to: [server.user('alice@dancer.test').user_id], content: 'dm' });
    expect(server.message(id)).toMatchObject({ content: 'edited', topic: 'fix 1: x', reactions: [] });
    expect(server.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'GET /users/me 200',
      'POST /messages 200',
      `PATCH /messages/${id} 200`,
      `POST /messages/${id}/reactions 200`,
      `DELETE /messages/${id}/reactions 200`,
      'POST /messages 200',
    ]);
    // Form-encoded, JSON inside fields where the API wants it.
    expect(server.requests[5]!.params).toEqual({
      type: 'private',
      to: `[${server.user('alice@dancer.test').user_id}]`,
      content: 'dm',
    });
  });

  it('turns errors into DancerErrors with the Zulip code, and classifies them', async () => {
    const { server, client } = await setup();
    const stream = await client
      .sendStreamMessage({ stream: 'nope', topic: 't', content: 'x' })
      .catch((e: unknown) => e);
    expect(stream).toMatchObject({
      code: 'DANCER_ZULIP_REQUEST_FAILED',
      details: { status: 400, zulipCode: 'STREAM_DOES_NOT_EXIST' },
    });
    expect(classifyZulipError(stream)).toEqual({ kind: 'rejected' });
    server.rateLimitNext(1, 1.5);
    const limited = await client.getOwnUser().catch((e: unknown) => e);
    expect(classifyZulipError(limited)).toEqual({ kind: 'rate_limited', retryAfterMs: 1500 });
    const bad = new ZulipClient({ site: server.url, email: 'bot@dancer.test', apiKey: 'x'.repeat(32) });
    const auth = await bad.getOwnUser().catch((e: unknown) => e);
    expect(auth).toMatchObject({ code: 'DANCER_ZULIP_AUTH', details: { status: 401, zulipCode: 'UNAUTHORIZED' } });
    await server.down();
    const down = await client.getOwnUser().catch((e: unknown) => e);
    expect(classifyZulipError(down)).toEqual({ kind: 'unavailable' });
    expect((down as DancerError).details).toMatchObject({ network: true });
  });

  it('retry delays: honour Retry-After; double on unavailability up to the cap', () => {
    expect(retryDelayMs({ kind: 'rate_limited', retryAfterMs: 28_707 }, 1)).toBe(28_707);
    expect(retryDelayMs({ kind: 'unavailable' }, 1)).toBe(1000);
    expect(retryDelayMs({ kind: 'unavailable' }, 4)).toBe(8000);
    expect(retryDelayMs({ kind: 'unavailable' }, 30)).toBe(300_000);
    expect(retryDelayMs({ kind: 'unavailable' }, 2, { baseMs: 1000, maxMs: 60_000 }, 0.5)).toBe(2200);
  });
});

describe('EventQueuePoller', () => {
  it('re-registers when the queue expires and keeps delivering', async () => {
    const { server, client } = await setup({ heartbeatMs: 60_000 });
    const seen: ZulipEvent[] = [];
    const errors: string[] = [];
    const poller = new EventQueuePoller({
      client,
      eventTypes: ['message'],
      onEvent: (e) => {
        seen.push(e);
      },
      onError: (_e, info) => errors.push(info.kind),
    });
    poller.start();
    try {
      await server.waitFor(() => server.queues().some((q) => q.polling));
      server.sendMessage('alice@dancer.test', { stream: 'dancer', topic: 't', content: 'one' });
      await server.waitFor(() => seen.length === 1);
      const [first] = server.expireQueues();
      await server.waitFor(() => server.queues().some((q) => q.polling && q.id !== first));
      server.sendMessage('alice@dancer.test', { stream: 'dancer', topic: 't', content: 'two' });
      await server.waitFor(() => seen.length === 2);
      expect(seen.map((e) => (e as { message: { content: string } }).message.content)).toEqual(['one', 'two']);
      expect(errors).toEqual(['bad_queue']);
      expect(poller.stats).toMatchObject({ registrations: 2, queueLost: 1 });
    } finally {
      await poller.stop();
    }
    expect(server.queues()).toEqual([]); // deleted on stop
  });

  it('back-fills messages sent while it had no queue (Zulip restarted), so a `stop` in the gap is not lost', async () => {
    const { server, client } = await setup();
    const seen: string[] = [];
    let wake: (() => void) | undefined;
    let markSlept: () => void = () => {};
    const slept = new Promise<void>((resolve) => {
      markSlept = resolve;
    });
    const poller = new EventQueuePoller({
      client,
      eventTypes: ['message'],
      onEvent: (e) => void seen.push((e as { message: { content: string } }).message.content),
      sleep: () =>
        new Promise<void>((resolve) => {
          wake = resolve;
          markSlept();
        }),
    });
    poller.start();
    try {
      await server.waitFor(() => server.queues().some((q) => q.polling));
      server.sendMessage('alice@dancer.test', { to: ['bot@dancer.test'], content: 'before' });
      await server.waitFor(() => seen.length === 1);
      await server.down(); // a crash: the queue is gone
      await slept; // the poller is backing off
      await server.up();
      server.sendMessage('alice@dancer.test', { to: ['bot@dancer.test'], content: 'stop' });
      wake!();
      await server.waitFor(() => seen.length === 2 && server.queues().some((q) => q.polling));
      server.sendMessage('alice@dancer.test', { to: ['bot@dancer.test'], content: 'after' });
      await server.waitFor(() => seen.length === 3);
      expect(seen).toEqual(['before', 'stop', 'after']);
      expect(poller.stats).toMatchObject({ backfilled: 1, queueLost: 1, registrations: 2 });
    } finally {
      await poller.stop();
    }
  });

  it('waits out a 429 storm as told and then polls on', async () => {
    const { server, client } = await setup();
    server.rateLimitNext(3, 0.1);
    const seen: ZulipEvent[] = [];
    const poller = new EventQueuePoller({ client, eventTypes: ['message'], onEvent: (e) => void seen.push(e) });
    poller.start();
    try {
      await server.waitFor(() => server.queues().some((q) => q.polling), 5000);
      const attempts = server.requests.filter((r) => r.path === '/register');
      expect(attempts.map((r) => r.status)).toEqual([429, 429, 429, 200]);
      for (let i = 1; i < attempts.length; i++) {
        expect(attempts[i]!.at - attempts[i - 1]!.at).toBeGreaterThanOrEqual(95);
      }
      expect(poller.stats.rateLimited).toBe(3);
    } finally {
      await poller.stop();
    }
  });
});
