/**
 * A small typed client for Zulip's REST API over `fetch`: HTTP Basic auth, form-encoded
 * parameters (non-string values JSON-encoded, as the API expects), one attempt per call.
 * Retrying is the caller's decision, made with {@link classifyZulipError} and
 * {@link retryDelayMs} (the outbox worker and the event poller both use them).
 */
import { DancerError, isDancerError } from '../../errors.js';
import type { ZulipCredentials } from './credentials.js';

/** A parameter value: strings are sent as is, everything else JSON-encoded. */
export type ZulipParamValue = string | number | boolean | null | readonly unknown[] | Record<string, unknown>;

/** Parameters of one call; `undefined` values are left out. */
export type ZulipParams = Record<string, ZulipParamValue | undefined>;

/** Every successful response carries these. */
export interface ZulipSuccess {
  result: 'success';
  msg: string;
  ignored_parameters_unsupported?: string[];
}

/** `GET /users/me` (the fields Dancer reads). */
export interface ZulipOwnUser extends ZulipSuccess {
  user_id: number;
  email: string;
  full_name: string;
  is_bot: boolean;
  role?: number;
}

/** One member from `GET /users`. */
export interface ZulipUser {
  user_id: number;
  email: string;
  full_name: string;
  is_bot: boolean;
  delivery_email?: string | null;
  is_active?: boolean;
}

/** `POST /register` (the fields Dancer reads). */
export interface ZulipRegisterResult extends ZulipSuccess {
  queue_id: string;
  last_event_id: number;
  zulip_feature_level?: number;
  zulip_version?: string;
  /** Present when `realm` was fetched. */
  max_message_length?: number;
  max_topic_length?: number;
  event_queue_longpoll_timeout_seconds?: number;
  /** Present when `message` was fetched. */
  max_message_id?: number;
  /** Present when `realm_user` was fetched. */
  user_id?: number;
  email?: string;
  full_name?: string;
}

/** A message as it arrives in a `message` event. */
export interface ZulipMessage {
  id: number;
  sender_id: number;
  sender_email: string;
  sender_full_name: string;
  type: 'stream' | 'private';
  display_recipient: string | Array<{ id: number; email: string; full_name: string }>;
  stream_id?: number;
  subject: string;
  content: string;
  content_type?: string;
  timestamp: number;
}

/** An event from `GET /events`. Dancer reads `message`, `reaction` and `heartbeat`. */
export type ZulipEvent =
  | { type: 'message'; id: number; message: ZulipMessage; flags: string[] }
  | {
      type: 'reaction';
      id: number;
      op: 'add' | 'remove';
      message_id: number;
      user_id: number;
      user?: { user_id?: number; email?: string; full_name?: string };
      emoji_name: string;
      emoji_code: string;
      reaction_type: string;
    }
  | { type: 'heartbeat'; id: number }
  | { type: string; id: number; [key: string]: unknown };

/** Options for {@link ZulipClient}. */
export interface ZulipClientOptions {
  /** `fetch` implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Per-request timeout (default 30 s; long-polls pass their own). */
  timeoutMs?: number;
}

/** Options of one call. */
export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Facts a failed call carries in `DancerError.details`. */
export interface ZulipErrorDetails {
  method: string;
  path: string;
  /** HTTP status; absent for network errors and timeouts. */
  status?: number;
  /** Zulip's `code` (e.g. `RATE_LIMIT_HIT`, `BAD_EVENT_QUEUE_ID`). */
  zulipCode?: string;
  /** Zulip's `msg`. */
  zulipMsg?: string;
  /** From `Retry-After` (or the body's `retry-after`) on 429, in milliseconds. */
  retryAfterMs?: number;
  /** True when no HTTP response came back (connection refused, reset, timeout). */
  network?: boolean;
  /** The request was aborted by the caller's signal. */
  aborted?: boolean;
}

/** Encode parameters as `application/x-www-form-urlencoded`. Strings are sent raw, others as JSON. */
export function encodeParams(params: ZulipParams): URLSearchParams {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    form.append(key, typeof value === 'string' ? value : JSON.stringify(value));
  }
  return form;
}

/** Parse a `Retry-After` value (seconds, possibly fractional) into milliseconds. */
export function parseRetryAfter(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n < 0) return undefined;
  return Math.ceil(n * 1000);
}

/** The typed client. One instance per bot. */
export class ZulipClient {
  readonly credentials: ZulipCredentials;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly authorization: string;

  constructor(credentials: ZulipCredentials, options: ZulipClientOptions = {}) {
    this.credentials = credentials;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.authorization = `Basic ${Buffer.from(`${credentials.email}:${credentials.apiKey}`).toString('base64')}`;
  }

  /**
   * One API call. GET parameters go in the query string; POST/PATCH/DELETE parameters in a
   * form-encoded body.
   *
   * @throws {DancerError} `DANCER_ZULIP_AUTH` on 401; `DANCER_ZULIP_REQUEST_FAILED` otherwise,
   * with {@link ZulipErrorDetails}.
   */
  async request<T extends object = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    params: ZulipParams = {},
    options: RequestOptions = {},
  ): Promise<T & ZulipSuccess> {
    const form = encodeParams(params);
    let url = `${this.credentials.site}/api/v1${path}`;
    const init: RequestInit = {
      method,
      headers: { authorization: this.authorization, 'user-agent': 'dancer-zulip/0.1' },
    };
    if (method === 'GET') {
      const qs = form.toString();
      if (qs) url += `?${qs}`;
    } else {
      init.body = form.toString();
      (init.headers as Record<string, string>)['content-type'] = 'application/x-www-form-urlencoded';
    }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs);
    init.signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const base: ZulipErrorDetails = { method, path };
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(url, init);
      text = await response.text();
    } catch (error) {
      const aborted = options.signal?.aborted === true;
      throw new DancerError(
        'DANCER_ZULIP_REQUEST_FAILED',
        `Zulip ${method} ${path}: ${aborted ? 'aborted' : `no response (${networkReason(error)})`}`,
        { cause: error, details: { ...base, network: !aborted, aborted } },
      );
    }
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    if (response.ok && body?.result === 'success') return body as T & ZulipSuccess;
    const details: ZulipErrorDetails = { ...base, status: response.status };
    if (typeof body?.code === 'string') details.zulipCode = body.code;
    if (typeof body?.msg === 'string') details.zulipMsg = body.msg;
    if (response.status === 429) {
      const retry = parseRetryAfter(response.headers.get('retry-after')) ?? parseRetryAfter(body?.['retry-after']);
      if (retry !== undefined) details.retryAfterMs = retry;
    }
    const summary = details.zulipMsg ?? (text.slice(0, 200) || response.statusText);
    const code = response.status === 401 ? 'DANCER_ZULIP_AUTH' : 'DANCER_ZULIP_REQUEST_FAILED';
    throw new DancerError(
      code,
      `Zulip ${method} ${path}: HTTP ${response.status}${details.zulipCode ? ` ${details.zulipCode}` : ''}: ${summary}`,
      { details: { ...details } },
    );
  }

  /** `POST /messages` to a channel topic. Returns the new message id. */
  async sendStreamMessage(message: { stream: string; topic: string; content: string }, options?: RequestOptions) {
    const r = await this.request<{ id: number }>(
      'POST',
      '/messages',
      { type: 'stream', to: message.stream, topic: message.topic, content: message.content },
      options,
    );
    return r.id;
  }

  /** `POST /messages` as a direct message to users (ids or emails, not mixed). */
  async sendDirectMessage(
    message: { to: ReadonlyArray<number> | ReadonlyArray<string>; content: string },
    options?: RequestOptions,
  ) {
    const r = await this.request<{ id: number }>(
      'POST',
      '/messages',
      { type: 'private', to: [...message.to], content: message.content },
      options,
    );
    return r.id;
  }

  /** `PATCH /messages/{id}`: change content and/or topic of one message. */
  async editMessage(id: number, change: { content?: string; topic?: string }, options?: RequestOptions): Promise<void> {
    await this.request('PATCH', `/messages/${id}`, { content: change.content, topic: change.topic }, options);
  }

  /** `POST /messages/{id}/reactions`. */
  async addReaction(id: number, emojiName: string, options?: RequestOptions): Promise<void> {
    await this.request('POST', `/messages/${id}/reactions`, { emoji_name: emojiName }, options);
  }

  /** `DELETE /messages/{id}/reactions`. */
  async removeReaction(id: number, emojiName: string, options?: RequestOptions): Promise<void> {
    await this.request('DELETE', `/messages/${id}/reactions`, { emoji_name: emojiName }, options);
  }

  /** `POST /register`: a new event queue (raw Markdown content; realm limits and own user fetched). */
  register(
    params: { eventTypes: string[]; fetchEventTypes?: string[]; allPublicStreams?: boolean },
    options?: RequestOptions,
  ): Promise<ZulipRegisterResult> {
    return this.request<ZulipRegisterResult>(
      'POST',
      '/register',
      {
        event_types: params.eventTypes,
        fetch_event_types: params.fetchEventTypes ?? ['message', 'realm', 'realm_user'],
        apply_markdown: false,
        all_public_streams: params.allPublicStreams,
      },
      options,
    );
  }

  /**
   * `GET /messages`: up to `numAfter` messages after `anchor` (raw Markdown), each with the
   * caller's `flags`; `found_newest` says whether that was all.
   */
  async getMessagesAfter(anchor: number, numAfter: number, options?: RequestOptions) {
    return this.request<{ messages: Array<ZulipMessage & { flags: string[] }>; found_newest: boolean }>(
      'GET',
      '/messages',
      { anchor: String(anchor), num_before: 0, num_after: numAfter, include_anchor: false, apply_markdown: false },
      options,
    );
  }

  /** `GET /events`: long-poll a queue, acknowledging every event up to `lastEventId`. */
  async getEvents(queueId: string, lastEventId: number, options?: RequestOptions & { dontBlock?: boolean }) {
    const r = await this.request<{ events: ZulipEvent[] }>(
      'GET',
      '/events',
      { queue_id: queueId, last_event_id: lastEventId, dont_block: options?.dontBlock },
      options,
    );
    return r.events;
  }

  /** `DELETE /events`: drop a queue on shutdown. */
  async deleteQueue(queueId: string, options?: RequestOptions): Promise<void> {
    await this.request('DELETE', '/events', { queue_id: queueId }, options);
  }

  /** `GET /users/me`. */
  getOwnUser(options?: RequestOptions): Promise<ZulipOwnUser> {
    return this.request<ZulipOwnUser>('GET', '/users/me', {}, options);
  }

  /** `GET /users`. */
  async getUsers(options?: RequestOptions): Promise<ZulipUser[]> {
    const r = await this.request<{ members: ZulipUser[] }>('GET', '/users', {}, options);
    return r.members;
  }
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if ((error as Error).name === 'TimeoutError') return 'timeout';
  return (error as Error).message ?? String(error);
}

/** How a failed call should be treated. */
export type ZulipFailureKind =
  /** 429: wait `retryAfterMs`, then retry. */
  | 'rate_limited'
  /** No response, or a 5xx: back off and retry. */
  | 'unavailable'
  /** `BAD_EVENT_QUEUE_ID`: register a new queue. */
  | 'bad_queue'
  /** 401: credentials wrong; retrying will not help until someone fixes them. */
  | 'auth'
  /** The caller aborted. */
  | 'aborted'
  /** Any other 4xx: this request will never succeed as it is. */
  | 'rejected';

/** Classify an error thrown by {@link ZulipClient}. Pure. */
export function classifyZulipError(error: unknown): { kind: ZulipFailureKind; retryAfterMs?: number } {
  if (!isDancerError(error)) return { kind: 'unavailable' };
  const d = error.details as Partial<ZulipErrorDetails>;
  if (d.aborted) return { kind: 'aborted' };
  if (error.code === 'DANCER_ZULIP_AUTH') return { kind: 'auth' };
  if (d.network) return { kind: 'unavailable' };
  if (d.status === 429)
    return d.retryAfterMs === undefined
      ? { kind: 'rate_limited' }
      : { kind: 'rate_limited', retryAfterMs: d.retryAfterMs };
  if (d.zulipCode === 'BAD_EVENT_QUEUE_ID') return { kind: 'bad_queue' };
  if (d.status !== undefined && d.status >= 500) return { kind: 'unavailable' };
  if (d.status === undefined) return { kind: 'unavailable' };
  return { kind: 'rejected' };
}

/** Backoff policy for retries. */
export interface BackoffPolicy {
  /** First delay after a failure (default 1000 ms). */
  baseMs: number;
  /** Longest delay (default 300000 ms). */
  maxMs: number;
}

/** Default backoff: 1 s, doubling, at most 5 min. */
export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ baseMs: 1_000, maxMs: 300_000 });

/**
 * How long to wait before retry number `attempt` (1 = first retry) after a failure of `kind`.
 * A 429 waits what the server asked (never less); unavailability doubles from `baseMs` to
 * `maxMs`, with `jitter` in [0, 1) spreading it by up to 20 %. Pure.
 */
export function retryDelayMs(
  failure: { kind: ZulipFailureKind; retryAfterMs?: number },
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  jitter = 0,
): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const spread = Math.round(exp * 0.2 * jitter);
  if (failure.kind === 'rate_limited') {
    return failure.retryAfterMs ?? Math.min(policy.maxMs, exp + spread);
  }
  return Math.min(policy.maxMs, exp + spread);
}
