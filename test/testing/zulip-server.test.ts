import { afterEach, describe, expect, it } from 'vitest';
import { createZulipTestServer, type ZulipTestServer } from '../../src/testing/index.js';

const servers: ZulipTestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: Parameters<typeof createZulipTestServer>[0] = {}) {
  const server = await createZulipTestServer({
    users: [
      { email: 'bot@dancer.test', fullName: 'Dancer', isBot: true },
      { email: 'alice@dancer.test', fullName: 'Alice Ops' },
      { email: 'mallory@dancer.test', fullName: 'Mallory' },
    ],
    ...options,
  });
  servers.push(server);
  return server;
}

function auth(server: ZulipTestServer, email: string): string {
  const user = server.user(email);
  return `Basic ${Buffer.from(`${user.email}:${user.api_key}`).toString('base64')}`;
}

async function call(
  server: ZulipTestServer,
  method: string,
  path: string,
  params: Record<string, string> = {},
  options: { as?: string; authorization?: string; body?: 'form' | 'multipart' | 'query' } = {},
) {
  const headers: Record<string, string> = {};
  const authorization = options.authorization ?? (options.as ? auth(server, options.as) : undefined);
  if (authorization) headers.authorization = authorization;
  let url = `${server.url}/api/v1${path}`;
  let body: string | FormData | undefined;
  const mode = options.body ?? (method === 'GET' ? 'query' : 'form');
  if (mode === 'query') {
    const qs = new URLSearchParams(params).toString();
    if (qs) url += `?${qs}`;
  } else if (mode === 'form') {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(params).toString();
  } else {
    const form = new FormData();
    for (const [k, v] of Object.entries(params)) form.append(k, v);
    body = form;
  }
  const res = await fetch(url, { method, headers, body: body ?? null });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe('Zulip test server: auth and envelope', () => {
  it('answers 401 UNAUTHORIZED with the real messages and WWW-Authenticate', async () => {
    const server = await start();
    const none = await call(server, 'GET', '/users/me');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="zulip"');
    expect(none.body).toEqual({
      result: 'error',
      msg: 'Not logged in: API authentication or user session required',
      code: 'UNAUTHORIZED',
    });
    const bearer = await call(server, 'GET', '/users/me', {}, { authorization: 'Bearer x' });
    expect(bearer.body.msg).toBe('Invalid authorization header for basic auth');
    const malformed = await call(
      server,
      'GET',
      '/users/me',
      {},
      {
        authorization: `Basic ${Buffer.from('bot@dancer.test:short').toString('base64')}`,
      },
    );
    expect(malformed.body.msg).toBe('Malformed API key');
    const wrong = await call(
      server,
      'GET',
      '/users/me',
      {},
      {
        authorization: `Basic ${Buffer.from(`alice@dancer.test:${server.user('bot@dancer.test').api_key}`).toString('base64')}`,
      },
    );
    expect(wrong.body).toMatchObject({ msg: 'Invalid API key', code: 'UNAUTHORIZED' });
  });

  it('returns the own user, and server settings without auth', async () => {
    const server = await start();
    const me = await call(server, 'GET', '/users/me', {}, { as: 'bot@dancer.test' });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      result: 'success',
      msg: '',
      email: 'bot@dancer.test',
      is_bot: true,
      full_name: 'Dancer',
    });
    expect(typeof me.body.user_id).toBe('number');
    expect(me.headers.get('x-ratelimit-limit')).toBe('200');
    expect(me.headers.get('x-ratelimit-remaining')).toBe('199');
    const settings = await call(server, 'GET', '/server_settings');
    expect(settings.body).toMatchObject({ result: 'success', zulip_feature_level: 321 });
  });

  it('405 for a wrong method, REQUEST_VARIABLE_MISSING for a missing parameter, and ignores JSON bodies', async () => {
    const server = await start();
    const wrong = await call(server, 'PUT', '/messages', {}, { as: 'bot@dancer.test' });
    expect(wrong.status).toBe(405);
    expect(wrong.body).toEqual({ result: 'error', msg: 'Method Not Allowed', allowed_methods: ['POST', 'GET'] });
    const res = await fetch(`${server.url}/api/v1/messages`, {
      method: 'POST',
      headers: { authorization: auth(server, 'bot@dancer.test'), 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'stream', to: 'dancer', topic: 't', content: 'x' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      result: 'error',
      msg: "Missing 'type' argument",
      code: 'REQUEST_VARIABLE_MISSING',
      var_name: 'type',
    });
  });
});

describe('Zulip test server: messages', () => {
  it('accepts every channel `to` form, urlencoded and multipart, and reports unknown parameters', async () => {
    const server = await start();
    for (const to of ['dancer', '"dancer"', '1', '["dancer"]']) {
      const r = await call(
        server,
        'POST',
        '/messages',
        { type: 'stream', to, topic: 'hello', content: `to=${to}` },
        { as: 'bot@dancer.test' },
      );
      expect(r.body).toMatchObject({ result: 'success', msg: '' });
      expect(typeof r.body.id).toBe('number');
    }
    const multi = await call(
      server,
      'POST',
      '/messages',
      { type: 'channel', to: 'dancer', topic: 'hello', content: 'multipart', bogus: '1' },
      { as: 'bot@dancer.test', body: 'multipart' },
    );
    expect(multi.body.ignored_parameters_unsupported).toEqual(['bogus']);
    expect(server.messages.map((m) => m.content)).toEqual([
      'to=dancer',
      'to="dancer"',
      'to=1',
      'to=["dancer"]',
      'multipart',
    ]);
    const missing = await call(
      server,
      'POST',
      '/messages',
      { type: 'stream', to: 'nope', topic: 't', content: 'x' },
      { as: 'bot@dancer.test' },
    );
    expect(missing.body).toEqual({
      result: 'error',
      msg: "Channel 'nope' does not exist",
      code: 'STREAM_DOES_NOT_EXIST',
      stream: 'nope',
    });
    const noTopic = await call(
      server,
      'POST',
      '/messages',
      { type: 'stream', to: 'dancer', content: 'x' },
      { as: 'bot@dancer.test' },
    );
    expect(noTopic.body.msg).toBe('Missing topic');
  });

  it('truncates content over the limit in code points, and long topics, as Zulip does', async () => {
    const server = await start({ maxMessageLength: 50 });
    const content = '🙂'.repeat(60); // 60 code points, 120 UTF-16 units
    const r = await call(
      server,
      'POST',
      '/messages',
      { type: 'stream', to: 'dancer', topic: 'x'.repeat(70), content },
      { as: 'bot@dancer.test' },
    );
    const stored = server.message(r.body.id as number);
    expect(stored.content).toBe(`${'🙂'.repeat(30)}\n[message truncated]`);
    expect(stored.topic).toBe(`${'x'.repeat(57)}...`);
    const empty = await call(
      server,
      'POST',
      '/messages',
      { type: 'stream', to: 'dancer', topic: 't', content: '  \n ' },
      { as: 'bot@dancer.test' },
    );
    expect(empty.body).toMatchObject({ result: 'error', msg: 'Message must not be empty', code: 'BAD_REQUEST' });
  });

  it('direct messages by ids, emails or a comma list; not mixed', async () => {
    const server = await start();
    const alice = server.user('alice@dancer.test');
    for (const to of [`[${alice.user_id}]`, '["alice@dancer.test"]', 'alice@dancer.test']) {
      const r = await call(
        server,
        'POST',
        '/messages',
        { type: 'direct', to, content: 'hi' },
        { as: 'bot@dancer.test' },
      );
      expect(r.body.result).toBe('success');
    }
    const mixed = await call(
      server,
      'POST',
      '/messages',
      { type: 'private', to: `[${alice.user_id}, "mallory@dancer.test"]`, content: 'hi' },
      { as: 'bot@dancer.test' },
    );
    expect(mixed.body.result).toBe('error');
  });

  it("GET /messages after an anchor, raw or rendered, with the caller's flags", async () => {
    const server = await start();
    const a = server.sendMessage('alice@dancer.test', { stream: 'dancer', topic: 't', content: 'one' });
    server.sendMessage('alice@dancer.test', { stream: 'dancer', topic: 't', content: '@**Dancer** two' });
    const raw = await call(
      server,
      'GET',
      '/messages',
      { anchor: String(a), num_before: '0', num_after: '10', include_anchor: 'false', apply_markdown: 'false' },
      { as: 'bot@dancer.test' },
    );
    expect(raw.body).toMatchObject({
      result: 'success',
      found_anchor: true,
      found_newest: true,
      history_limited: false,
    });
    expect(raw.body.messages).toEqual([
      expect.objectContaining({ content: '@**Dancer** two', flags: ['mentioned'], content_type: 'text/x-markdown' }),
    ]);
    const html = await call(
      server,
      'GET',
      '/messages',
      { anchor: 'newest', num_before: '1', num_after: '0' },
      { as: 'bot@dancer.test' },
    );
    expect((html.body.messages as Array<{ content: string }>)[0]!.content).toBe('<p>@**Dancer** two</p>');
  });

  it('edits: own content only, "Nothing to change", the edit time limit', async () => {
    let now = Date.UTC(2026, 0, 1);
    const server = await start({ now: () => now });
    const r = await call(
      server,
      'POST',
      '/messages',
      { type: 'stream', to: 'dancer', topic: 't', content: 'v1' },
      { as: 'bot@dancer.test' },
    );
    const id = r.body.id as number;
    const ok = await call(server, 'PATCH', `/messages/${id}`, { content: 'v2' }, { as: 'bot@dancer.test' });
    expect(ok.body).toEqual({ result: 'success', msg: '', detached_uploads: [] });
    expect(server.message(id).content).toBe('v2');
    const nothing = await call(server, 'PATCH', `/messages/${id}`, {}, { as: 'bot@dancer.test' });
    expect(nothing.body.msg).toBe('Nothing to change');
    const other = await call(server, 'PATCH', `/messages/${id}`, { content: 'mine' }, { as: 'alice@dancer.test' });
    expect(other.body.msg).toBe("You don't have permission to edit this message");
    now += 621_000;
    const late = await call(server, 'PATCH', `/messages/${id}`, { content: 'v3' }, { as: 'bot@dancer.test' });
    expect(late.body).toMatchObject({ msg: 'The time limit for editing this message has passed', code: 'BAD_REQUEST' });
  });

  it('reactions: add, duplicate, remove, missing, unknown emoji', async () => {
    const server = await start();
    const r = await call(
      server,
      'POST',
      '/messages',
      { type: 'stream', to: 'dancer', topic: 't', content: 'm' },
      { as: 'bot@dancer.test' },
    );
    const path = `/messages/${r.body.id}/reactions`;
    expect((await call(server, 'POST', path, { emoji_name: 'check' }, { as: 'alice@dancer.test' })).body).toEqual({
      result: 'success',
      msg: '',
    });
    expect((await call(server, 'POST', path, { emoji_name: 'check' }, { as: 'alice@dancer.test' })).body).toEqual({
      result: 'error',
      msg: 'Reaction already exists.',
      code: 'REACTION_ALREADY_EXISTS',
    });
    expect(server.message(r.body.id as number).reactions).toEqual([
      {
        emoji_name: 'check',
        emoji_code: '2705',
        reaction_type: 'unicode_emoji',
        user_id: server.user('alice@dancer.test').user_id,
      },
    ]);
    expect((await call(server, 'DELETE', path, { emoji_name: 'check' }, { as: 'alice@dancer.test' })).body.result).toBe(
      'success',
    );
    expect((await call(server, 'DELETE', path, { emoji_name: 'check' }, { as: 'alice@dancer.test' })).body.code).toBe(
      'REACTION_DOES_NOT_EXIST',
    );
    expect((await call(server, 'POST', path, { emoji_name: 'no_such' }, { as: 'alice@dancer.test' })).body.msg).toBe(
      "Emoji 'no_such' does not exist",
    );
  });
});

describe('Zulip test server: event queues', () => {
  it('registers, long-polls, acknowledges, flags mentions, and includes the sender', async () => {
    const server = await start();
    const reg = await call(
      server,
      'POST',
      '/register',
      { event_types: '["message","reaction"]', fetch_event_types: '["realm","realm_user"]' },
      { as: 'bot@dancer.test' },
    );
    expect(reg.body).toMatchObject({
      result: 'success',
      last_event_id: -1,
      max_message_length: 10000,
      email: 'bot@dancer.test',
    });
    const queueId = reg.body.queue_id as string;
    const poll = call(server, 'GET', '/events', { queue_id: queueId, last_event_id: '-1' }, { as: 'bot@dancer.test' });
    await server.waitFor(() => server.queues()[0]?.polling === true);
    server.sendMessage('alice@dancer.test', { stream: 'dancer', topic: 'ops', content: '@**Dancer** status' });
    const first = await poll;
    expect(first.body.events).toEqual([
      expect.objectContaining({
        id: 0,
        type: 'message',
        flags: ['mentioned'],
        message: expect.objectContaining({
          content: '@**Dancer** status',
          content_type: 'text/x-markdown',
          sender_email: 'alice@dancer.test',
          display_recipient: 'dancer',
          subject: 'ops',
          type: 'stream',
        }),
      }),
    ]);
    // The bot's own message comes back to it (flag `read`), silent mentions do not flag.
    await call(
      server,
      'POST',
      '/messages',
      { type: 'stream', to: 'dancer', topic: 'ops', content: 'hi @_**Dancer**' },
      { as: 'bot@dancer.test' },
    );
    const second = await call(
      server,
      'GET',
      '/events',
      { queue_id: queueId, last_event_id: '0' },
      { as: 'bot@dancer.test' },
    );
    expect(second.body.events).toEqual([expect.objectContaining({ id: 1, flags: ['read'] })]);
    const pruned = await call(
      server,
      'GET',
      '/events',
      { queue_id: queueId, last_event_id: '-1' },
      { as: 'bot@dancer.test' },
    );
    expect(pruned.body.msg).toBe('An event newer than -1 has already been pruned!');
    const future = await call(
      server,
      'GET',
      '/events',
      { queue_id: queueId, last_event_id: '9' },
      { as: 'bot@dancer.test' },
    );
    expect(future.body.msg).toBe('Event 9 was not in this queue');
  });

  it('sends a heartbeat when idle and garbage-collects unpolled queues (BAD_EVENT_QUEUE_ID)', async () => {
    const server = await start({ heartbeatMs: 50, queueTimeoutMs: 200, gcIntervalMs: 20 });
    const reg = await call(server, 'POST', '/register', { event_types: '["message"]' }, { as: 'bot@dancer.test' });
    const queueId = reg.body.queue_id as string;
    const beat = await call(
      server,
      'GET',
      '/events',
      { queue_id: queueId, last_event_id: '-1' },
      { as: 'bot@dancer.test' },
    );
    expect(beat.body.events).toEqual([{ type: 'heartbeat', id: 0 }]);
    await server.waitFor(() => server.queues().length === 0, 3000);
    const gone = await call(
      server,
      'GET',
      '/events',
      { queue_id: queueId, last_event_id: '0' },
      { as: 'bot@dancer.test' },
    );
    expect(gone.status).toBe(400);
    expect(gone.body).toEqual({
      result: 'error',
      msg: `Bad event queue ID: ${queueId}`,
      code: 'BAD_EVENT_QUEUE_ID',
      queue_id: queueId,
    });
  });

  it('rate limits with 429, Retry-After and retry-after; forced storms too', async () => {
    const server = await start({ rateLimit: { limit: 2, windowMs: 60_000 } });
    await call(server, 'GET', '/users/me', {}, { as: 'bot@dancer.test' });
    await call(server, 'GET', '/users/me', {}, { as: 'bot@dancer.test' });
    const limited = await call(server, 'GET', '/users/me', {}, { as: 'bot@dancer.test' });
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({
      result: 'error',
      code: 'RATE_LIMIT_HIT',
      msg: 'API usage exceeded rate limit',
    });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(59);
    expect(limited.body['retry-after']).toBeCloseTo(retryAfter, 5);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    server.rateLimitNext(1, 0.25);
    const forced = await call(server, 'GET', '/users/me', {}, { as: 'alice@dancer.test' });
    expect(forced.status).toBe(429);
    expect(forced.headers.get('retry-after')).toBe('0.25');
    expect((await call(server, 'GET', '/users/me', {}, { as: 'alice@dancer.test' })).status).toBe(200);
  });

  it('goes down and comes back on the same port; queues are lost, messages kept', async () => {
    const server = await start();
    const port = server.port;
    const reg = await call(server, 'POST', '/register', {}, { as: 'bot@dancer.test' });
    server.sendMessage('alice@dancer.test', { stream: 'dancer', topic: 't', content: 'before' });
    await server.down();
    await expect(fetch(`${server.url}/api/v1/server_settings`)).rejects.toThrow();
    await server.up();
    expect(server.port).toBe(port);
    const after = await call(
      server,
      'GET',
      '/events',
      { queue_id: reg.body.queue_id as string, last_event_id: '-1' },
      { as: 'bot@dancer.test' },
    );
    expect(after.body.code).toBe('BAD_EVENT_QUEUE_ID');
    expect(server.messages.map((m) => m.content)).toEqual(['before']);
  });
});
