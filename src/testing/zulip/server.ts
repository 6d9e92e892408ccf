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
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ZULIP_TEST_EMOJI } from './emoji.js';

/** A user (human or bot) of the test realm. Field names follow Zulip's `User` object. */
export interface ZulipTestUser {
  user_id: number;
  email: string;
  full_name: string;
  api_key: string;
  is_bot: boolean;
  role: number;
  is_active: boolean;
  date_joined: string;
}

/** A user to create with {@link ZulipTestServer.addUser}. */
export interface ZulipTestUserInput {
  email: string;
  fullName: string;
  isBot?: boolean;
  /** 32 alphanumerics; generated when omitted. */
  apiKey?: string;
  /** 100 owner, 200 admin, 300 moderator, 400 member (default), 600 guest. */
  role?: number;
}

/** A reaction on a stored message. */
export interface ZulipTestReaction {
  emoji_name: string;
  emoji_code: string;
  reaction_type: string;
  user_id: number;
}

/** A message as the test server stores it. */
export interface ZulipTestMessage {
  id: number;
  sender_id: number;
  /** `stream` or `private`, as in events. */
  type: 'stream' | 'private';
  /** Channel name (channel messages). */
  stream?: string;
  stream_id?: number;
  /** Topic (`""` for direct messages). */
  topic: string;
  /** Current (raw Markdown) content. */
  content: string;
  /** Seconds since the epoch. */
  timestamp: number;
  /** User ids that received the message, sender included. */
  recipients: number[];
  reactions: ZulipTestReaction[];
  /** Previous versions, oldest first. */
  edits: Array<{ user_id: number; at: number; prev_content: string; prev_topic: string }>;
  /** Whether the content was truncated to the length limit on send. */
  truncated: boolean;
}

/** One request as the server saw it. */
export interface ZulipTestRequest {
  /** Milliseconds since the epoch (server clock). */
  at: number;
  method: string;
  /** Path after `/api/v1`, e.g. `/messages/12/reactions`. */
  path: string;
  /** Every parameter, query and body merged, as sent (strings). */
  params: Record<string, string>;
  /** Authenticated user's email, when auth succeeded. */
  user?: string;
  status: number;
  /** The JSON body sent back. */
  response: Record<string, unknown>;
}

/** An event queue, for inspection. */
export interface ZulipTestQueue {
  id: string;
  userId: number;
  eventTypes: string[] | null;
  applyMarkdown: boolean;
  /** Events not yet acknowledged. */
  pending: Array<Record<string, unknown> & { id: number }>;
  /** Whether a `GET /events` is being held open now. */
  polling: boolean;
}

/** Options for {@link createZulipTestServer}. */
export interface ZulipTestServerOptions {
  /** Port to listen on (default 0: any free port). */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  realmName?: string;
  /** Channels that exist; every user is subscribed to each. Default `["dancer"]`. */
  streams?: string[];
  /** Users to create at start (more with {@link ZulipTestServer.addUser}). */
  users?: ZulipTestUserInput[];
  /** Content limit in Unicode code points (default 10000, as `MAX_MESSAGE_LENGTH`). */
  maxMessageLength?: number;
  /** Topic limit in code points (default 60). */
  maxTopicLength?: number;
  /** How long an idle `GET /events` is held before a heartbeat (real: 45-55 s). Default 50000. */
  heartbeatMs?: number;
  /** A queue nobody polls for this long is garbage-collected (real: 600000). */
  queueTimeoutMs?: number;
  /** How often queues are garbage-collected (real: 60000). Default min(60000, queueTimeoutMs). */
  gcIntervalMs?: number;
  /** `api_by_user` rule: `limit` requests per `windowMs` per user (real: 200 per 60000), or false. */
  rateLimit?: { limit: number; windowMs: number } | false;
  /** Realm `message_content_edit_limit_seconds` (default 600; null = no limit); 20 s grace is added. */
  editLimitSeconds?: number | null;
  /** `event_queue_longpoll_timeout_seconds` advertised by `/register` (default 90). */
  longpollTimeoutSeconds?: number;
  /** Clock for timestamps, edit limits and rate limits (default `Date.now`). */
  now?: () => number;
}

/** A running test server. Always `close()` it. */
export interface ZulipTestServer {
  /** Base URL, e.g. `http://127.0.0.1:40123` (use as `notify.zulip.site`). */
  readonly url: string;
  readonly port: number;
  /** Whether the server is accepting connections (false between {@link down} and {@link up}). */
  readonly isUp: boolean;
  readonly users: readonly ZulipTestUser[];
  /** Every message, in id order (including those sent through the inject helpers). */
  readonly messages: readonly ZulipTestMessage[];
  /** Every request received, in order. */
  readonly requests: readonly ZulipTestRequest[];
  /** Create a user; returns it with its API key. */
  addUser(input: ZulipTestUserInput): ZulipTestUser;
  /** Find a user by id or email; throws if unknown. */
  user(idOrEmail: number | string): ZulipTestUser;
  /** Send a message as `as` (like the web app would): a channel message or a direct message. */
  sendMessage(
    as: number | string,
    message: { stream: string; topic: string; content: string } | { to: Array<number | string>; content: string },
  ): number;
  /** React to a message as `as`. */
  addReaction(as: number | string, messageId: number, emojiName: string): void;
  /** Remove `as`'s reaction. */
  removeReaction(as: number | string, messageId: number, emojiName: string): void;
  /** The message with this id; throws if unknown. */
  message(id: number): ZulipTestMessage;
  /** Live queues (inspection). */
  queues(): ZulipTestQueue[];
  /** Garbage-collect queues now (all, or those of one user); held polls get `BAD_EVENT_QUEUE_ID`. */
  expireQueues(filter?: { userId?: number; queueId?: string }): string[];
  /** Answer the next `count` authenticated requests with 429, `Retry-After: retryAfterSeconds`. */
  rateLimitNext(count: number, retryAfterSeconds: number): void;
  /** Resolve with the first message (existing or future) that matches, or reject after `timeoutMs`. */
  waitForMessage(predicate: (m: ZulipTestMessage) => boolean, timeoutMs?: number): Promise<ZulipTestMessage>;
  /** Resolve once `predicate` holds, checked on every request and state change; reject after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  /**
   * Take the server down: stop listening, cut every connection. Messages and users survive;
   * queues are lost unless `keepQueues` (Tornado keeps them across a clean restart only).
   */
  down(options?: { keepQueues?: boolean }): Promise<void>;
  /** Bring the server back on the same port. */
  up(): Promise<void>;
  /** Stop everything and free the port. */
  close(): Promise<void>;
  /** `request`, `message`, `update`, `reaction` events for tests that want to watch. */
  readonly events: EventEmitter;
}

const FEATURE_LEVEL = 321;
const ZULIP_VERSION = '10.0-dev-2137-gc4c1edfa6e';
const MERGE_BASE = '10.0-dev-2137-gc4c1edfa6e';
const API_KEY_RE = /^[A-Za-z0-9]{32}$/;

/** An error response the handlers throw; turned into `{result:"error", msg, code, ...extra}`. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    msg: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(msg);
  }
}

const badRequest = (msg: string, extra?: Record<string, unknown>) => new ApiError(400, 'BAD_REQUEST', msg, extra);
const missing = (name: string) =>
  new ApiError(400, 'REQUEST_VARIABLE_MISSING', `Missing '${name}' argument`, { var_name: name });

interface InternalQueue {
  id: string;
  userId: number;
  eventTypes: string[] | null;
  applyMarkdown: boolean;
  events: Array<Record<string, unknown> & { id: number }>;
  nextId: number;
  acked: number;
  lastAccess: number;
  waiting: { res: http.ServerResponse; timer: NodeJS.Timeout; finish: () => void } | undefined;
}

interface Ctx {
  method: string;
  path: string;
  params: Record<string, string>;
  user: ZulipTestUser;
}

/** Count Unicode code points, as Zulip does. */
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function sliceCodePoints(s: string, end: number): string {
  return [...s].slice(0, end).join('');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Minimal Markdown rendering for queues registered with `apply_markdown=true`. */
function renderHtml(content: string): string {
  return content
    .split(/\n{2,}/)
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>\n')}</p>`)
    .join('\n');
}

function parseJsonParam(params: Record<string, string>, name: string): unknown {
  const raw = params[name];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ApiError(400, 'BAD_REQUEST', `${name} is not valid JSON`, {});
  }
}

function parseBoolParam(params: Record<string, string>, name: string, fallback: boolean): boolean {
  const value = parseJsonParam(params, name);
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ApiError(400, 'BAD_REQUEST', `${name} is not a boolean`);
  return value;
}

function parseIntParam(params: Record<string, string>, name: string): number | undefined {
  const raw = params[name];
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw new ApiError(400, 'BAD_REQUEST', `${name} is not an integer`);
  return Number(raw);
}

function generateApiKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(32)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Does `content` @-mention `user` (not silently)? Zulip: `@**Name**`, `@**Name|id**`, `@**|id**`. */
function mentions(content: string, user: ZulipTestUser): boolean {
  const re = /(?:^|[\s"'({[/<])@\*\*([^*|]*)(?:\|(\d+))?\*\*/g;
  for (const match of content.matchAll(re)) {
    const name = (match[1] ?? '').trim();
    const id = match[2];
    if (id !== undefined) {
      if (Number(id) === user.user_id) return true;
    } else if (name.toLowerCase() === user.full_name.toLowerCase()) {
      return true;
    }
  }
  return false;
}

function wildcardFlags(content: string, type: 'stream' | 'private'): string[] {
  if (type !== 'stream') return [];
  const flags: string[] = [];
  const re = /(?:^|[\s"'({[/<])@\*\*(all|everyone|channel|stream|topic)\*\*/g;
  for (const match of content.matchAll(re)) {
    const flag = match[1] === 'topic' ? 'topic_wildcard_mentioned' : 'stream_wildcard_mentioned';
    if (!flags.includes(flag)) flags.push(flag);
  }
  if (flags.length > 0) flags.push('wildcard_mentioned');
  return flags;
}

/** Read and parse form parameters from the query and the body (urlencoded or multipart). */
async function readParams(req: http.IncomingMessage, url: URL): Promise<Record<string, string>> {
  const params: Record<string, string> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  if (body.length === 0) return params;
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
  } else if (type.startsWith('multipart/form-data')) {
    const form = await new Response(body, {
      headers: { 'content-type': req.headers['content-type'] ?? '' },
    }).formData();
    for (const [k, v] of form) if (typeof v === 'string') params[k] = v;
  }
  // Other bodies (JSON included) are not read, as on a real server.
  return params;
}

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
  const maxMessageLength = options.maxMessageLength ?? 10_000;
  const maxTopicLength = options.maxTopicLength ?? 60;
  const heartbeatMs = options.heartbeatMs ?? 50_000;
  const queueTimeoutMs = options.queueTimeoutMs ?? 600_000;
  const gcIntervalMs = options.gcIntervalMs ?? Math.min(60_000, queueTimeoutMs);
  const rateLimit = options.rateLimit === undefined ? { limit: 200, windowMs: 60_000 } : options.rateLimit;
  const editLimitSeconds = options.editLimitSeconds === undefined ? 600 : options.editLimitSeconds;
  const longpollTimeoutSeconds = options.longpollTimeoutSeconds ?? 90;
  const realmName = options.realmName ?? 'Dancer test realm';
  const streams = new Map<string, number>();
  for (const [i, name] of (options.streams ?? ['dancer']).entries()) streams.set(name, i + 1);

  const users: ZulipTestUser[] = [];
  const messages: ZulipTestMessage[] = [];
  const requests: ZulipTestRequest[] = [];
  const queues = new Map<string, InternalQueue>();
  const rateWindows = new Map<number, number[]>();
  const events = new EventEmitter();
  events.setMaxListeners(100);
  let forced429: { count: number; retryAfter: number } = { count: 0, retryAfter: 0 };
  let nextMessageId = 1;
  let port = options.port ?? 0;
  let server: http.Server | undefined;
  const sockets = new Set<Socket>();
  const changed = () => events.emit('changed');

  function addUser(input: ZulipTestUserInput): ZulipTestUser {
    if (users.some((u) => u.email.toLowerCase() === input.email.toLowerCase())) {
      throw new Error(`zulip test server: user ${input.email} exists`);
    }
    const apiKey = input.apiKey ?? generateApiKey();
    if (!API_KEY_RE.test(apiKey)) throw new Error('zulip test server: an API key is 32 alphanumerics');
    const user: ZulipTestUser = {
      user_id: users.length === 0 ? 8 : users[users.length - 1]!.user_id + 1,
      email: input.email,
      full_name: input.fullName,
      api_key: apiKey,
      is_bot: input.isBot ?? false,
      role: input.role ?? 400,
      is_active: true,
      date_joined: new Date(now()).toISOString(),
    };
    users.push(user);
    return user;
  }
  for (const u of options.users ?? []) addUser(u);

  function findUser(idOrEmail: number | string): ZulipTestUser | undefined {
    if (typeof idOrEmail === 'number') return users.find((u) => u.user_id === idOrEmail);
    return users.find((u) => u.email.toLowerCase() === idOrEmail.toLowerCase());
  }
  function user(idOrEmail: number | string): ZulipTestUser {
    const found = findUser(idOrEmail);
    if (!found) throw new Error(`zulip test server: no user ${idOrEmail}`);
    return found;
  }

  function userObject(u: ZulipTestUser): Record<string, unknown> {
    return {
      user_id: u.user_id,
      email: u.email,
      delivery_email: u.email,
      full_name: u.full_name,
      is_bot: u.is_bot,
      bot_type: u.is_bot ? 1 : null,
      role: u.role,
      is_admin: u.role <= 200,
      is_owner: u.role === 100,
      is_guest: u.role === 600,
      is_billing_admin: false,
      is_active: u.is_active,
      timezone: '',
      date_joined: u.date_joined,
      avatar_url: null,
      avatar_version: 1,
    };
  }

  // ---- event queues --------------------------------------------------------------------------

  function pushEvent(queue: InternalQueue, event: Record<string, unknown>): void {
    const type = event.type as string;
    if (type !== 'heartbeat' && queue.eventTypes !== null && !queue.eventTypes.includes(type)) return;
    queue.events.push({ ...event, id: queue.nextId++ });
    queue.waiting?.finish();
  }

  function broadcast(recipients: number[], make: (q: InternalQueue) => Record<string, unknown>): void {
    for (const queue of queues.values()) {
      if (recipients.includes(queue.userId)) pushEvent(queue, make(queue));
    }
  }

  function dropQueue(queue: InternalQueue): void {
    queues.delete(queue.id);
    if (queue.waiting) {
      const { res, timer } = queue.waiting;
      clearTimeout(timer);
      queue.waiting = undefined;
      if (!res.writableEnded) {
        sendJson(res, 400, badQueue(queue.id), {});
      }
    }
  }

  function badQueue(id: string): Record<string, unknown> {
    return { result: 'error', msg: `Bad event queue ID: ${id}`, code: 'BAD_EVENT_QUEUE_ID', queue_id: id };
  }

  function expireQueues(filter: { userId?: number; queueId?: string } = {}): string[] {
    const expired: string[] = [];
    for (const queue of [...queues.values()]) {
      if (filter.userId !== undefined && queue.userId !== filter.userId) continue;
      if (filter.queueId !== undefined && queue.id !== filter.queueId) continue;
      dropQueue(queue);
      expired.push(queue.id);
    }
    changed();
    return expired;
  }

  const gcTimer = setInterval(() => {
    const t = now();
    for (const queue of [...queues.values()]) {
      if (!queue.waiting && t - queue.lastAccess >= queueTimeoutMs) {
        dropQueue(queue);
        changed();
      }
    }
  }, gcIntervalMs);
  gcTimer.unref();

  // ---- messages ------------------------------------------------------------------------------

  function normalizeContent(raw: string): { content: string; truncated: boolean } {
    const stripped = raw.replace(/\s+$/u, '').replace(/^\n+/, '');
    if (stripped.length === 0) throw badRequest('Message must not be empty');
    if (stripped.includes('\u0000')) throw badRequest('Message must not contain null bytes');
    if (codePoints(stripped) > maxMessageLength) {
      return { content: `${sliceCodePoints(stripped, maxMessageLength - 20)}\n[message truncated]`, truncated: true };
    }
    return { content: stripped, truncated: false };
  }

  function normalizeTopic(raw: string): string {
    const topic = raw.trim();
    if (topic.length === 0) throw badRequest("Topic can't be empty!");
    if (codePoints(topic) > maxTopicLength) return `${sliceCodePoints(topic, maxTopicLength - 3)}...`;
    return topic;
  }

  function resolveStream(to: string): { name: string; id: number } {
    let value: unknown = to;
    try {
      value = JSON.parse(to);
    } catch {
      value = to;
    }
    if (Array.isArray(value) && value.length === 1) value = value[0];
    if (typeof value === 'number') {
      for (const [name, id] of streams) if (id === value) return { name, id };
      throw new ApiError(400, 'STREAM_DOES_NOT_EXIST', `Channel with ID '${value}' does not exist`, {
        stream_id: value,
      });
    }
    const name = String(value);
    const id = streams.get(name);
    if (id === undefined) {
      throw new ApiError(400, 'STREAM_DOES_NOT_EXIST', `Channel '${name}' does not exist`, { stream: name });
    }
    return { name, id };
  }

  function resolveDirect(to: string): ZulipTestUser[] {
    let list: unknown;
    try {
      list = JSON.parse(to);
    } catch {
      list = to.split(',').map((s) => s.trim());
    }
    if (typeof list === 'string') list = list.split(',').map((s) => s.trim());
    if (typeof list === 'number') list = [list];
    if (!Array.isArray(list) || list.length === 0) throw badRequest('Message must have recipients');
    const allNumbers = list.every((x) => typeof x === 'number');
    const allStrings = list.every((x) => typeof x === 'string');
    if (!allNumbers && !allStrings) throw badRequest('Recipient lists may contain emails or user IDs, but not both.');
    return list.map((x) => {
      const found = findUser(x as number | string);
      if (!found) throw badRequest(typeof x === 'number' ? `Invalid user ID ${x}` : `Invalid email '${x}'`);
      return found;
    });
  }

  function messageEvent(m: ZulipTestMessage, queue: InternalQueue, localId?: string): Record<string, unknown> {
    const { message, flags } = messageView(m, queue.userId, queue.applyMarkdown);
    const event: Record<string, unknown> = { type: 'message', message, flags };
    if (localId !== undefined) event.local_id = localId;
    return event;
  }

  /** A message as `recipientUser` sees it (Zulip's message object) and their flags. */
  function messageView(
    m: ZulipTestMessage,
    recipientUser: number,
    applyMarkdown: boolean,
  ): { message: Record<string, unknown>; flags: string[] } {
    const sender = user(m.sender_id);
    const me = user(recipientUser);
    const flags: string[] = [];
    if (recipientUser === m.sender_id) flags.push('read');
    if (mentions(m.content, me)) flags.push('mentioned');
    if (recipientUser !== m.sender_id) flags.push(...wildcardFlags(m.content, m.type));
    const display =
      m.type === 'stream'
        ? m.stream
        : m.recipients
            .map((id) => user(id))
            .sort((a, b) => a.user_id - b.user_id)
            .map((u) => ({ id: u.user_id, email: u.email, full_name: u.full_name, is_mirror_dummy: false }));
    const message: Record<string, unknown> = {
      id: m.id,
      sender_id: m.sender_id,
      sender_email: sender.email,
      sender_full_name: sender.full_name,
      sender_realm_str: 'zulip',
      type: m.type,
      display_recipient: display,
      subject: m.topic,
      content: applyMarkdown ? renderHtml(m.content) : m.content,
      content_type: applyMarkdown ? 'text/html' : 'text/x-markdown',
      timestamp: m.timestamp,
      recipient_id: m.type === 'stream' ? 100 + (m.stream_id ?? 0) : 1000 + m.recipients.reduce((a, b) => a + b, 0),
      reactions: [],
      submessages: [],
      topic_links: [],
      is_me_message: m.content.startsWith('/me '),
      client: 'ZulipTestServer',
      avatar_url: null,
    };
    if (m.type === 'stream') message.stream_id = m.stream_id;
    return { message, flags };
  }

  function storeMessage(
    sender: ZulipTestUser,
    type: string,
    to: string,
    rawContent: string,
    rawTopic: string | undefined,
    local?: { queueId: string; localId: string },
  ): number {
    let message: ZulipTestMessage;
    const { content, truncated } = normalizeContent(rawContent);
    const timestamp = Math.floor(now() / 1000);
    if (type === 'stream' || type === 'channel') {
      const stream = resolveStream(to);
      if (rawTopic === undefined) throw badRequest('Missing topic');
      const topic = normalizeTopic(rawTopic);
      message = {
        id: nextMessageId++,
        sender_id: sender.user_id,
        type: 'stream',
        stream: stream.name,
        stream_id: stream.id,
        topic,
        content,
        timestamp,
        recipients: users.filter((u) => u.is_active).map((u) => u.user_id),
        reactions: [],
        edits: [],
        truncated,
      };
    } else if (type === 'private' || type === 'direct') {
      const recipients = resolveDirect(to);
      const ids = new Set([sender.user_id, ...recipients.map((u) => u.user_id)]);
      message = {
        id: nextMessageId++,
        sender_id: sender.user_id,
        type: 'private',
        topic: '',
        content,
        timestamp,
        recipients: [...ids],
        reactions: [],
        edits: [],
        truncated,
      };
    } else {
      throw new ApiError(400, 'BAD_REQUEST', 'Invalid message type');
    }
    messages.push(message);
    broadcast(message.recipients, (q) =>
      messageEvent(message, q, local && q.id === local.queueId ? local.localId : undefined),
    );
    events.emit('message', message);
    changed();
    return message.id;
  }

  function findMessage(id: number, viewer: ZulipTestUser): ZulipTestMessage {
    const m = messages.find((x) => x.id === id);
    if (!m?.recipients.includes(viewer.user_id)) throw badRequest('Invalid message(s)');
    return m;
  }

  function editMessage(editor: ZulipTestUser, id: number, params: Record<string, string>): void {
    const m = findMessage(id, editor);
    const rawContent = params.content;
    const rawTopic = params.topic ?? params.subject;
    const streamId = params.stream_id;
    if (rawContent === undefined && rawTopic === undefined && streamId === undefined) {
      throw badRequest('Nothing to change');
    }
    if (rawContent !== undefined && streamId !== undefined) {
      throw badRequest('Cannot change message content while changing channel');
    }
    if (rawTopic !== undefined && m.type === 'private') throw badRequest('Direct messages cannot have topics.');
    if (streamId !== undefined) throw badRequest('Moving messages between channels is not supported by this server');
    if (rawContent !== undefined) {
      if (m.sender_id !== editor.user_id) throw badRequest("You don't have permission to edit this message");
      if (editLimitSeconds !== null && now() / 1000 - m.timestamp > editLimitSeconds + 20) {
        throw badRequest('The time limit for editing this message has passed');
      }
    }
    const content = rawContent === undefined ? m.content : normalizeContent(rawContent).content;
    const topic = rawTopic === undefined ? m.topic : normalizeTopic(rawTopic);
    const orig = { content: m.content, topic: m.topic };
    m.edits.push({ user_id: editor.user_id, at: now(), prev_content: m.content, prev_topic: m.topic });
    m.content = content;
    m.topic = topic;
    broadcast(m.recipients, (q) => {
      const me = user(q.userId);
      const event: Record<string, unknown> = {
        type: 'update_message',
        user_id: editor.user_id,
        rendering_only: false,
        message_id: m.id,
        message_ids: [m.id],
        flags: mentions(m.content, me) ? ['mentioned'] : [],
        edit_timestamp: Math.floor(now() / 1000),
        is_me_message: false,
      };
      if (m.type === 'stream') {
        event.stream_name = m.stream;
        event.stream_id = m.stream_id;
      }
      if (rawContent !== undefined) {
        event.orig_content = orig.content;
        event.orig_rendered_content = renderHtml(orig.content);
        event.content = q.applyMarkdown ? renderHtml(m.content) : m.content;
        event.rendered_content = renderHtml(m.content);
        event.topic_links = [];
      }
      if (rawTopic !== undefined) {
        event.propagate_mode = params.propagate_mode ?? 'change_one';
        event.orig_subject = orig.topic;
        event.subject = m.topic;
      }
      return event;
    });
    events.emit('update', m);
    changed();
  }

  function react(actor: ZulipTestUser, id: number, params: Record<string, string>, op: 'add' | 'remove'): void {
    const m = findMessage(id, actor);
    const name = params.emoji_name;
    if (op === 'add' && name === undefined) throw missing('emoji_name');
    if (name === undefined && params.emoji_code === undefined) {
      throw badRequest('At least one of the following arguments must be present: emoji_name, emoji_code');
    }
    const reactionType = params.reaction_type ?? 'unicode_emoji';
    let code = params.emoji_code;
    if (name !== undefined) {
      const known = ZULIP_TEST_EMOJI[name];
      if (known === undefined) throw badRequest(`Emoji '${name}' does not exist`);
      if (code !== undefined && code !== known) throw badRequest('Invalid emoji code');
      code = known;
    }
    const index = m.reactions.findIndex(
      (r) => r.user_id === actor.user_id && r.emoji_code === code && r.reaction_type === reactionType,
    );
    let reaction: ZulipTestReaction;
    if (op === 'add') {
      if (index >= 0) throw new ApiError(400, 'REACTION_ALREADY_EXISTS', 'Reaction already exists.');
      reaction = { emoji_name: name!, emoji_code: code!, reaction_type: reactionType, user_id: actor.user_id };
      m.reactions.push(reaction);
    } else {
      if (index < 0) throw new ApiError(400, 'REACTION_DOES_NOT_EXIST', "Reaction doesn't exist.");
      reaction = m.reactions.splice(index, 1)[0]!;
    }
    broadcast(m.recipients, () => ({
      type: 'reaction',
      op,
      user_id: actor.user_id,
      user: { user_id: actor.user_id, email: actor.email, full_name: actor.full_name },
      message_id: m.id,
      emoji_name: reaction.emoji_name,
      emoji_code: reaction.emoji_code,
      reaction_type: reaction.reaction_type,
    }));
    events.emit('reaction', { op, message: m, reaction });
    changed();
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  function sendJson(
    res: http.ServerResponse,
    status: number,
    body: Record<string, unknown>,
    headers: Record<string, string>,
  ): void {
    if (res.writableEnded || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  function authenticate(req: http.IncomingMessage): ZulipTestUser {
    const unauthorized = (msg: string) =>
      new ApiError(401, 'UNAUTHORIZED', msg, {}, { 'WWW-Authenticate': 'Basic realm="zulip"' });
    const header = req.headers.authorization;
    if (!header) throw unauthorized('Not logged in: API authentication or user session required');
    const [scheme, payload] = header.split(/\s+/, 2);
    if (scheme?.toLowerCase() !== 'basic' || !payload) {
      throw unauthorized('Invalid authorization header for basic auth');
    }
    const decoded = Buffer.from(payload, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw unauthorized('Invalid authorization header for basic auth');
    const email = decoded.slice(0, colon);
    const key = decoded.slice(colon + 1);
    if (!API_KEY_RE.test(key)) throw unauthorized('Malformed API key');
    const found = users.find((u) => u.api_key === key);
    if (!found || found.email.toLowerCase() !== email.toLowerCase()) throw unauthorized('Invalid API key');
    if (!found.is_active) throw unauthorized('Account is deactivated');
    return found;
  }

  /** Apply the rate limit; returns the headers every authenticated response carries. */
  function rateLimitHeaders(u: ZulipTestUser): Record<string, string> {
    const t = now();
    if (forced429.count > 0) {
      forced429.count--;
      const retry = forced429.retryAfter;
      throw new ApiError(
        429,
        'RATE_LIMIT_HIT',
        'API usage exceeded rate limit',
        { 'retry-after': retry },
        {
          'Retry-After': String(retry),
          'X-RateLimit-Limit': String(rateLimit ? rateLimit.limit : 200),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(Math.floor(t / 1000 + retry)),
        },
      );
    }
    if (!rateLimit) return {};
    const window = (rateWindows.get(u.user_id) ?? []).filter((x) => t - x < rateLimit.windowMs);
    rateWindows.set(u.user_id, window);
    if (window.length >= rateLimit.limit) {
      const retry = Math.max(0, (window[0]! + rateLimit.windowMs - t) / 1000);
      throw new ApiError(
        429,
        'RATE_LIMIT_HIT',
        'API usage exceeded rate limit',
        { 'retry-after': retry },
        {
          'Retry-After': String(retry),
          'X-RateLimit-Limit': String(rateLimit.limit),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(Math.floor(t / 1000 + retry)),
        },
      );
    }
    window.push(t);
    return {
      'X-RateLimit-Limit': String(rateLimit.limit),
      'X-RateLimit-Remaining': String(rateLimit.limit - window.length),
      'X-RateLimit-Reset': String(Math.floor((window[0]! + rateLimit.windowMs) / 1000)),
    };
  }

  type Handler = (
    ctx: Ctx,
    res: http.ServerResponse,
    headers: Record<string, string>,
  ) => Record<string, unknown> | null;
  interface Route {
    pattern: RegExp;
    methods: Record<string, { known: string[]; handle: Handler }>;
  }

  const routes: Route[] = [
    {
      pattern: /^\/messages$/,
      methods: {
        POST: {
          known: ['type', 'to', 'content', 'topic', 'subject', 'queue_id', 'local_id', 'read_by_sender'],
          handle: (ctx) => {
            const { params } = ctx;
            if (params.type === undefined) throw missing('type');
            if (params.to === undefined) throw missing('to');
            if (params.content === undefined) throw missing('content');
            const local =
              params.queue_id !== undefined && params.local_id !== undefined
                ? { queueId: params.queue_id, localId: params.local_id }
                : undefined;
            const id = storeMessage(
              ctx.user,
              params.type,
              params.to,
              params.content,
              params.topic ?? params.subject,
              local,
            );
            return { id };
          },
        },
        GET: {
          known: [
            'anchor',
            'num_before',
            'num_after',
            'narrow',
            'apply_markdown',
            'client_gravatar',
            'include_anchor',
            'message_ids',
          ],
          handle: (ctx) => {
            const { params } = ctx;
            const applyMarkdown = parseBoolParam(params, 'apply_markdown', true);
            const narrow = parseJsonParam(params, 'narrow');
            if (narrow !== undefined && (!Array.isArray(narrow) || narrow.length > 0)) {
              throw new ApiError(400, 'BAD_NARROW', 'This test server supports only an empty narrow');
            }
            const visible = messages.filter((m) => m.recipients.includes(ctx.user.user_id));
            const view = (m: ZulipTestMessage) => {
              const { message, flags } = messageView(m, ctx.user.user_id, applyMarkdown);
              return { ...message, flags };
            };
            const ids = parseJsonParam(params, 'message_ids');
            if (ids !== undefined) {
              if (!Array.isArray(ids)) throw badRequest('message_ids is not a list');
              return { messages: visible.filter((m) => ids.includes(m.id)).map(view), history_limited: false };
            }
            const rawAnchor = params.anchor;
            if (rawAnchor === undefined) throw missing('anchor');
            const numBefore = parseIntParam(params, 'num_before');
            const numAfter = parseIntParam(params, 'num_after');
            if (numBefore === undefined) throw missing('num_before');
            if (numAfter === undefined) throw missing('num_after');
            if (numBefore < 0 || numAfter < 0) throw badRequest('num_before and num_after must be non-negative');
            if (numBefore + numAfter > 5000) throw badRequest('Too many messages requested (maximum 5000).');
            const includeAnchor = parseBoolParam(params, 'include_anchor', true);
            const lastId = visible.at(-1)?.id ?? 0;
            let anchor: number;
            if (rawAnchor === 'newest') anchor = Number.MAX_SAFE_INTEGER;
            else if (rawAnchor === 'oldest') anchor = 0;
            else if (rawAnchor === 'first_unread') anchor = lastId;
            else if (/^\d+$/.test(rawAnchor)) anchor = Number(rawAnchor);
            else throw badRequest(`Invalid anchor`);
            const before = visible.filter((m) => m.id < anchor);
            const after = visible.filter((m) => m.id > anchor);
            const at = visible.find((m) => m.id === anchor);
            const chosen = [
              ...before.slice(Math.max(0, before.length - numBefore)),
              ...(at && includeAnchor ? [at] : []),
              ...after.slice(0, numAfter),
            ];
            return {
              messages: chosen.map(view),
              anchor: rawAnchor === 'newest' ? lastId : anchor,
              found_anchor: at !== undefined,
              found_oldest: before.length <= numBefore,
              found_newest: after.length <= numAfter,
              history_limited: false,
            };
          },
        },
      },
    },
    {
      pattern: /^\/messages\/(\d+)$/,
      methods: {
        PATCH: {
          known: [
            'content',
            'topic',
            'subject',
            'stream_id',
            'propagate_mode',
            'send_notification_to_old_thread',
            'send_notification_to_new_thread',
          ],
          handle: (ctx) => {
            editMessage(ctx.user, Number(ctx.path.split('/')[2]), ctx.params);
            return { detached_uploads: [] };
          },
        },
      },
    },
    {
      pattern: /^\/messages\/(\d+)\/reactions$/,
      methods: {
        POST: {
          known: ['emoji_name', 'emoji_code', 'reaction_type'],
          handle: (ctx) => {
            react(ctx.user, Number(ctx.path.split('/')[2]), ctx.params, 'add');
            return {};
          },
        },
        DELETE: {
          known: ['emoji_name', 'emoji_code', 'reaction_type'],
          handle: (ctx) => {
            react(ctx.user, Number(ctx.path.split('/')[2]), ctx.params, 'remove');
            return {};
          },
        },
      },
    },
    {
      pattern: /^\/register$/,
      methods: {
        POST: {
          known: [
            'event_types',
            'fetch_event_types',
            'apply_markdown',
            'all_public_streams',
            'narrow',
            'client_gravatar',
            'slim_presence',
            'client_capabilities',
            'include_subscribers',
            'presence_history_limit_days',
          ],
          handle: (ctx) => {
            const eventTypes = parseJsonParam(ctx.params, 'event_types') as string[] | undefined;
            const fetchTypes = (parseJsonParam(ctx.params, 'fetch_event_types') as string[] | undefined) ?? eventTypes;
            parseJsonParam(ctx.params, 'narrow');
            parseJsonParam(ctx.params, 'client_capabilities');
            parseBoolParam(ctx.params, 'all_public_streams', false);
            const applyMarkdown = parseBoolParam(ctx.params, 'apply_markdown', false);
            const queue: InternalQueue = {
              id: randomUUID(),
              userId: ctx.user.user_id,
              eventTypes: eventTypes ?? null,
              applyMarkdown,
              events: [],
              nextId: 0,
              acked: -1,
              lastAccess: now(),
              waiting: undefined,
            };
            queues.set(queue.id, queue);
            const body: Record<string, unknown> = {
              queue_id: queue.id,
              last_event_id: -1,
              zulip_feature_level: FEATURE_LEVEL,
              zulip_version: ZULIP_VERSION,
              zulip_merge_base: MERGE_BASE,
            };
            const wants = (t: string) => fetchTypes === undefined || fetchTypes.includes(t);
            if (wants('realm')) {
              Object.assign(body, {
                max_message_length: maxMessageLength,
                max_topic_length: maxTopicLength,
                max_stream_name_length: 60,
                event_queue_longpoll_timeout_seconds: longpollTimeoutSeconds,
                realm_name: realmName,
                realm_url: url(),
                realm_uri: url(),
                realm_message_content_edit_limit_seconds: editLimitSeconds,
              });
            }
            if (wants('message')) {
              body.max_message_id = messages.filter((m) => m.recipients.includes(ctx.user.user_id)).at(-1)?.id ?? -1;
            }
            if (wants('realm_user')) {
              Object.assign(body, {
                user_id: ctx.user.user_id,
                email: ctx.user.email,
                full_name: ctx.user.full_name,
                realm_users: users.filter((u) => u.is_active).map(userObject),
              });
            }
            changed();
            return body;
          },
        },
      },
    },
    {
      pattern: /^\/events$/,
      methods: {
        GET: {
          known: ['queue_id', 'last_event_id', 'dont_block'],
          handle: (ctx, res, headers) => {
            const { params } = ctx;
            const queueId = params.queue_id;
            if (queueId === undefined) throw missing('queue_id');
            const queue = queues.get(queueId);
            if (!queue || queue.userId !== ctx.user.user_id) {
              throw new ApiError(400, 'BAD_EVENT_QUEUE_ID', `Bad event queue ID: ${queueId}`, { queue_id: queueId });
            }
            const last = parseIntParam(params, 'last_event_id');
            if (last === undefined) throw badRequest("Missing 'last_event_id' argument");
            const dontBlock = parseBoolParam(params, 'dont_block', false);
            if (last < queue.acked) throw badRequest(`An event newer than ${last} has already been pruned!`);
            if (last >= queue.nextId) throw badRequest(`Event ${last} was not in this queue`);
            queue.acked = last;
            queue.events = queue.events.filter((e) => e.id > last);
            queue.lastAccess = now();
            if (queue.events.length > 0 || dontBlock) {
              return { events: queue.events, queue_id: queue.id };
            }
            // Hold the request: answer on the next event or with a heartbeat.
            if (queue.waiting) queue.waiting.finish();
            const finish = () => {
              if (!queue.waiting || queue.waiting.res !== res) return;
              clearTimeout(queue.waiting.timer);
              queue.waiting = undefined;
              queue.lastAccess = now();
              const body = { result: 'success', msg: '', events: queue.events, queue_id: queue.id };
              record(ctx, 200, body);
              sendJson(res, 200, body, headers);
            };
            const timer = setTimeout(() => pushEvent(queue, { type: 'heartbeat' }), heartbeatMs);
            queue.waiting = { res, timer, finish };
            res.on('close', () => {
              if (queue.waiting?.res === res) {
                clearTimeout(queue.waiting.timer);
                queue.waiting = undefined;
                queue.lastAccess = now();
              }
            });
            changed();
            return null;
          },
        },
        DELETE: {
          known: ['queue_id'],
          handle: (ctx) => {
            const queueId = ctx.params.queue_id;
            if (queueId === undefined) throw missing('queue_id');
            const queue = queues.get(queueId);
            if (!queue || queue.userId !== ctx.user.user_id) {
              throw new ApiError(400, 'BAD_EVENT_QUEUE_ID', `Bad event queue ID: ${queueId}`, { queue_id: queueId });
            }
            dropQueue(queue);
            changed();
            return {};
          },
        },
      },
    },
    {
      pattern: /^\/users\/me$/,
      methods: {
        GET: {
          known: [],
          handle: (ctx) => {
            const max = messages.filter((m) => m.recipients.includes(ctx.user.user_id)).at(-1)?.id ?? -1;
            return { ...userObject(ctx.user), max_message_id: max, profile_data: {} };
          },
        },
      },
    },
    {
      pattern: /^\/users$/,
      methods: {
        GET: {
          known: ['client_gravatar', 'include_custom_profile_fields', 'user_ids'],
          handle: () => ({ members: users.map(userObject) }),
        },
      },
    },
  ];

  function record(
    ctx: { method: string; path: string; params: Record<string, string>; user?: ZulipTestUser },
    status: number,
    response: Record<string, unknown>,
  ): void {
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
    const ctx: { method: string; path: string; params: Record<string, string>; user?: ZulipTestUser } = {
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
        const body = {
          result: 'success',
          msg: '',
          authentication_methods: { password: true, dev: false, email: true },
          zulip_version: ZULIP_VERSION,
          zulip_merge_base: MERGE_BASE,
          zulip_feature_level: FEATURE_LEVEL,
          push_notifications_enabled: false,
          is_incompatible: false,
          email_auth_enabled: true,
          require_email_format_usernames: true,
          realm_url: url0(),
          realm_uri: url0(),
          realm_name: realmName,
          realm_icon: '',
          realm_description: '',
          realm_web_public_access_enabled: false,
        };
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
      ctx.user = authenticate(req);
      headers = rateLimitHeaders(ctx.user);
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
  function url(): string {
    return url0();
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
    for (const queue of queues.values()) {
      if (queue.waiting) {
        clearTimeout(queue.waiting.timer);
        queue.waiting.res.destroy();
        queue.waiting = undefined;
      }
    }
    if (!opts.keepQueues) queues.clear();
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
      const u = addUser(input);
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
    queues: () =>
      [...queues.values()].map((q) => ({
        id: q.id,
        userId: q.userId,
        eventTypes: q.eventTypes,
        applyMarkdown: q.applyMarkdown,
        pending: [...q.events],
        polling: q.waiting !== undefined,
      })),
    expireQueues,
    rateLimitNext(count, retryAfterSeconds) {
      forced429 = { count, retryAfter: retryAfterSeconds };
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
      clearInterval(gcTimer);
      await down();
      events.removeAllListeners();
    },
  };
}
