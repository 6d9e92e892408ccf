/**
 * A Zulip-conformant test server: the parts of Zulip's REST API that Dancer's bot uses, with the
 * real request and response shapes (Zulip 10, API feature level 321; see docs/zulip.md).
 *
 * - HTTP Basic auth with the bot's email and 32-character API key; 401 `UNAUTHORIZED` otherwise.
 * - Parameters from the query string, `application/x-www-form-urlencoded` or
 *   `multipart/form-data` bodies (a JSON body is not read), JSON-encoded where the API says so.
 * - `POST`/`GET /messages`, `PATCH /messages/{id}`, `POST`/`DELETE /messages/{id}/reactions`,
 *   `POST /register`, `GET`/`DELETE /events` (long-poll, heartbeats, queue garbage collection,
 *   `BAD_EVENT_QUEUE_ID`), `GET /users/me`, `GET /users`, `GET /server_settings`.
 * - Error bodies `{result:"error", msg, code}`; rate limiting with `X-RateLimit-*` headers and
 *   429 `RATE_LIMIT_HIT` with `Retry-After` and `retry-after`; the message length limit
 *   (truncation, counted in Unicode code points).
 *
 * It records every request and message, lets a test act as any user (send, react), expire
 * queues, force a run of 429s, and go down and come back on the same port.
 *
 * This module is the HTTP server and the handle a test holds; the realm (realm.ts), messages
 * (messages.ts), event queues (event-queues.ts), rate limiter (rate-limit.ts) and the endpoints
 * (routes-*.ts) live beside it.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createEventQueues } from './event-queues.js';
import { createMessageStore } from './messages.js';
import { ApiError, type Ctx, type RequestCtx, readParams, sendJson } from './protocol.js';
import { createRateLimiter } from './rate-limit.js';
import { authenticate, createRealm } from './realm.js';
import { eventRoutes } from './routes-events.js';
import { messageRoutes } from './routes-messages.js';
import { serverSettingsBody, userRoutes } from './routes-users.js';
import type { ZulipTestMessage, ZulipTestRequest, ZulipTestServer, ZulipTestServerOptions } from './types.js';

/**
 * Start a Zulip-conformant test server on 127.0.0.1.
 *
 * @example
 * const zulip = await createZulipTestServer({ users: [{ email: 'bot@x.test', fullName: 'Dancer', isBot: true }] });
 * // ... point the bot at zulip.url with zulip.user('bot@x.test').api_key ...
 * await zulip.close();
 */
export async function createZulipTestServer(options: ZulipTestServerOptions = {}): Promise<ZulipTestServer> {
  const now = options.now ?? Date.now;
  const host = options.host ?? '127.0.0.1';
  const queueTimeoutMs = options.queueTimeoutMs ?? 600_000;
  const realm = createRealm(
    {
      name: options.realmName ?? 'Dancer test realm',
      maxMessageLength: options.maxMessageLength ?? 10_000,
      maxTopicLength: options.maxTopicLength ?? 60,
      editLimitSeconds: options.editLimitSeconds === undefined ? 600 : options.editLimitSeconds,
      longpollTimeoutSeconds: options.longpollTimeoutSeconds ?? 90,
    },
    options.streams ?? ['dancer'],
    now,
  );
  const { users, user } = realm;
  const requests: ZulipTestRequest[] = [];
  const events = new EventEmitter();
  events.setMaxListeners(100);
  let port = options.port ?? 0;
  let server: http.Server | undefined;
  const sockets = new Set<Socket>();
  const changed = () => events.emit('changed');

  for (const u of options.users ?? []) realm.addUser(u);

  const queues = createEventQueues({
    now,
    changed,
    heartbeatMs: options.heartbeatMs ?? 50_000,
    queueTimeoutMs,
    gcIntervalMs: options.gcIntervalMs ?? Math.min(60_000, queueTimeoutMs),
  });
  const limiter = createRateLimiter(
    options.rateLimit === undefined ? { limit: 200, windowMs: 60_000 } : options.rateLimit,
    now,
  );
  const store = createMessageStore({ realm, queues, events, changed, now });
  const { messages, storeMessage, react } = store;
  const routes = [
    ...messageRoutes(store),
    ...eventRoutes({ realm, queues, messages, record, changed, now, url: url0 }),
    ...userRoutes(users, messages),
  ];

  function record(ctx: RequestCtx, status: number, response: Record<string, unknown>): void {
    const entry: ZulipTestRequest = {
      at: now(),
      method: ctx.method,
      path: ctx.path,
      params: ctx.params,
      status,
      response,
    };
    if (ctx.user) entry.user = ctx.user.email;
    requests.push(entry);
    events.emit('request', entry);
    changed();
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const ctx: RequestCtx = {
      method,
      path: url.pathname.replace(/^\/api\/v1/, ''),
      params: {},
    };
    let headers: Record<string, string> = {};
    try {
      ctx.params = await readParams(req, url);
      if (!url.pathname.startsWith('/api/v1/')) {
        throw new ApiError(404, 'BAD_REQUEST', 'Endpoint not found');
      }
      if (ctx.path === '/server_settings' && method === 'GET') {
        const body = serverSettingsBody(realm.settings.name, url0());
        record(ctx, 200, body);
        sendJson(res, 200, body, {});
        return;
      }
      const route = routes.find((r) => r.pattern.test(ctx.path));
      if (!route) throw new ApiError(404, 'BAD_REQUEST', 'Endpoint not found');
      const entry = route.methods[method];
      if (!entry) {
        const body = { result: 'error', msg: 'Method Not Allowed', allowed_methods: Object.keys(route.methods) };
        record(ctx, 405, body);
        sendJson(res, 405, body, {});
        return;
      }
      ctx.user = authenticate(users, req);
      headers = limiter.check(ctx.user);
      const result = entry.handle(ctx as Ctx, res, headers);
      if (result === null) return; // held (long-poll); answered later
      const ignored = Object.keys(ctx.params).filter((k) => !entry.known.includes(k));
      const body: Record<string, unknown> = { result: 'success', msg: '', ...result };
      if (ignored.length > 0) body.ignored_parameters_unsupported = ignored;
      record(ctx, 200, body);
      sendJson(res, 200, body, headers);
    } catch (error) {
      if (!(error instanceof ApiError)) {
        const body = { result: 'error', msg: 'Internal server error', code: 'BAD_REQUEST' };
        record(ctx, 500, body);
        sendJson(res, 500, body, {});
        return;
      }
      const body = { result: 'error', msg: error.message, code: error.code, ...error.extra };
      record(ctx, error.status, body);
      sendJson(res, error.status, body, { ...headers, ...error.headers });
    }
  }

  function url0(): string {
    return `http://${host}:${port}`;
  }

  async function listen(): Promise<void> {
    const s = http.createServer((req, res) => {
      handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { result: 'error', msg: String(error), code: 'BAD_REQUEST' }, {});
      });
    });
    s.keepAliveTimeout = 5_000;
    s.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    port = (s.address() as AddressInfo).port;
    server = s;
    changed();
  }

  async function down(opts: { keepQueues?: boolean } = {}): Promise<void> {
    const s = server;
    if (!s) return;
    server = undefined;
    queues.cutPolls(opts.keepQueues === true);
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await closed;
    changed();
  }

  await listen();

  function waitFor(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onChange = () => {
        if (predicate()) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`zulip test server: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        events.off('changed', onChange);
      };
      events.on('changed', onChange);
    });
  }

  return {
    get url() {
      return url0();
    },
    get port() {
      return port;
    },
    get isUp() {
      return server !== undefined;
    },
    users,
    messages,
    requests,
    events,
    addUser: (input) => {
      const u = realm.addUser(input);
      changed();
      return u;
    },
    user,
    sendMessage(as, message) {
      const sender = user(as);
      if ('stream' in message) return storeMessage(sender, 'stream', message.stream, message.content, message.topic);
      return storeMessage(sender, 'direct', JSON.stringify(message.to), message.content, undefined);
    },
    addReaction(as, messageId, emojiName) {
      react(user(as), messageId, { emoji_name: emojiName }, 'add');
    },
    removeReaction(as, messageId, emojiName) {
      react(user(as), messageId, { emoji_name: emojiName }, 'remove');
    },
    message(id) {
      const m = messages.find((x) => x.id === id);
      if (!m) throw new Error(`zulip test server: no message ${id}`);
      return m;
    },
    queues: queues.inspect,
    expireQueues: queues.expireQueues,
    rateLimitNext(count, retryAfterSeconds) {
      limiter.forceNext(count, retryAfterSeconds);
    },
    waitForMessage(predicate, timeoutMs = 5_000) {
      let found: ZulipTestMessage | undefined;
      return waitFor(() => {
        found = messages.find(predicate);
        return found !== undefined;
      }, timeoutMs).then(() => found!);
    },
    waitFor,
    down,
    up: async () => {
      if (server) return;
      await listen();
    },
    close: async () => {
      queues.stop();
      await down();
      events.removeAllListeners();
    },
  };
}
