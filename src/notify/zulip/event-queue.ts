/**
 * The bot's ear: register an event queue, long-poll it, acknowledge events, and recover:
 * re-register on `BAD_EVENT_QUEUE_ID` (the server garbage-collected the queue or restarted),
 * wait out 429s as told, back off on network errors and 5xx.
 */
import {
  type BackoffPolicy,
  classifyZulipError,
  DEFAULT_BACKOFF,
  retryDelayMs,
  type ZulipClient,
  type ZulipEvent,
  type ZulipFailureKind,
  type ZulipRegisterResult,
} from './client.js';

/** Sleep that ends early when `signal` aborts. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Options for {@link EventQueuePoller}. */
export interface EventQueueOptions {
  client: ZulipClient;
  /** e.g. `["message", "reaction"]`. */
  eventTypes: string[];
  /** Called for every event except heartbeats, in order; errors go to `onError`. */
  onEvent: (event: ZulipEvent) => void | Promise<void>;
  /** Called after every (re-)registration. */
  onRegister?: (result: ZulipRegisterResult) => void;
  /** Every failure, with what the poller will do about it. */
  onError?: (error: unknown, info: { kind: ZulipFailureKind | 'handler'; retryInMs?: number }) => void;
  backoff?: BackoffPolicy;
  sleep?: Sleep;
  random?: () => number;
}

/** Counters, for status output and tests. */
export interface EventQueueStats {
  registrations: number;
  polls: number;
  events: number;
  heartbeats: number;
  queueLost: number;
  rateLimited: number;
  failures: number;
  /** Messages fetched with `GET /messages` after a lost queue. */
  backfilled: number;
}

/** Long-polls one event queue until stopped. */
export class EventQueuePoller {
  readonly stats: EventQueueStats = {
    registrations: 0,
    polls: 0,
    events: 0,
    heartbeats: 0,
    queueLost: 0,
    rateLimited: 0,
    failures: 0,
    backfilled: 0,
  };
  private queueId: string | undefined;
  private lastEventId = -1;
  /** Highest message id seen; after a lost queue, messages above it are fetched (back-fill). */
  private lastMessageId: number | undefined;
  private needBackfill = false;
  private longpollMs = 90_000;
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private readonly sleep: Sleep;

  constructor(private readonly options: EventQueueOptions) {
    this.sleep = options.sleep ?? realSleep;
  }

  /** The current queue id (undefined between a loss and the next registration). */
  get currentQueueId(): string | undefined {
    return this.queueId;
  }

  /** Start polling in the background. */
  start(): void {
    if (this.loop) return;
    this.controller = new AbortController();
    this.loop = this.run(this.controller.signal);
  }

  /** Stop polling and delete the queue on the server (best effort, 2 s). */
  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
    this.loop = undefined;
    const queueId = this.queueId;
    this.queueId = undefined;
    if (queueId !== undefined) {
      try {
        await this.options.client.deleteQueue(queueId, { timeoutMs: 2_000 });
      } catch (error) {
        this.options.onError?.(error, { kind: classifyZulipError(error).kind });
      }
    }
  }

  /**
   * After a lost queue: fetch the messages sent while no queue existed (`GET /messages` after
   * the last one seen) and hand them on as message events, so a command sent in the gap (a
   * `stop`!) is not lost. Reactions in the gap cannot be recovered this way.
   */
  private async backfill(signal: AbortSignal): Promise<void> {
    for (;;) {
      const anchor = Math.max(0, this.lastMessageId ?? 0);
      const page = await this.options.client.getMessagesAfter(anchor, 100, { signal });
      for (const message of page.messages) {
        if (message.id <= anchor) continue;
        this.lastMessageId = message.id;
        this.stats.backfilled++;
        const { flags, ...rest } = message;
        try {
          await this.options.onEvent({ type: 'message', id: -1, message: rest, flags });
        } catch (error) {
          this.options.onError?.(error, { kind: 'handler' });
        }
      }
      if (page.found_newest || page.messages.length === 0) return;
    }
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { client } = this.options;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        if (this.queueId === undefined) {
          const result = await client.register({ eventTypes: this.options.eventTypes }, { signal });
          this.queueId = result.queue_id;
          this.lastEventId = result.last_event_id;
          this.longpollMs = (result.event_queue_longpoll_timeout_seconds ?? 90) * 1000;
          this.stats.registrations++;
          this.options.onRegister?.(result);
          if (this.lastMessageId === undefined && result.max_message_id !== undefined) {
            this.lastMessageId = result.max_message_id;
          }
        }
        if (this.needBackfill && this.lastMessageId !== undefined) {
          try {
            await this.backfill(signal);
          } catch (error) {
            // Unavailable or rate limited: retried with the backoff below. Refused: give up on it.
            if (classifyZulipError(error).kind !== 'rejected') throw error;
            this.options.onError?.(error, { kind: 'rejected' });
          }
          this.needBackfill = false;
        }
        this.stats.polls++;
        const events = await client.getEvents(this.queueId, this.lastEventId, { signal, timeoutMs: this.longpollMs });
        attempt = 0;
        for (const event of events) {
          if (event.id > this.lastEventId) this.lastEventId = event.id;
          if (event.type === 'heartbeat') {
            this.stats.heartbeats++;
            continue;
          }
          if (event.type === 'message' && 'message' in event) {
            const id = (event.message as { id: number }).id;
            if (this.lastMessageId !== undefined && id <= this.lastMessageId) continue; // back-filled already
            this.lastMessageId = id;
          }
          this.stats.events++;
          try {
            await this.options.onEvent(event);
          } catch (error) {
            this.options.onError?.(error, { kind: 'handler' });
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        const failure = classifyZulipError(error);
        if (failure.kind === 'bad_queue') {
          // The server dropped the queue: register a new one at once (events in the gap are lost).
          this.stats.queueLost++;
          this.queueId = undefined;
          this.needBackfill = true;
          this.options.onError?.(error, { kind: 'bad_queue', retryInMs: 0 });
          continue;
        }
        if (failure.kind === 'rejected' && this.queueId !== undefined) {
          // e.g. "Event N was not in this queue": start over with a fresh queue.
          this.queueId = undefined;
          this.needBackfill = true;
          this.options.onError?.(error, { kind: 'rejected', retryInMs: 0 });
          continue;
        }
        attempt++;
        if (failure.kind === 'rate_limited') this.stats.rateLimited++;
        else this.stats.failures++;
        const delay = retryDelayMs(
          failure,
          attempt,
          this.options.backoff ?? DEFAULT_BACKOFF,
          (this.options.random ?? Math.random)(),
        );
        this.options.onError?.(error, { kind: failure.kind, retryInMs: delay });
        await this.sleep(delay, signal);
      }
    }
  }
}
