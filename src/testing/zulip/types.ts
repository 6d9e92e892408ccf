/**
 * The public shapes of the Zulip test server: its users, messages, recorded requests and queues
 * (field names follow Zulip's own objects), its options and the running server's handle.
 */
import type { EventEmitter } from 'node:events';

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
