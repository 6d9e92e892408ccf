/**
 * Zulip's event queues: registration, delivery filtered by `event_types`, long-polls held until an
 * event or a heartbeat, and garbage collection of queues nobody polls (held polls then get
 * `BAD_EVENT_QUEUE_ID`).
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { sendJson } from './protocol.js';
import type { ZulipTestQueue } from './types.js';

/** A queue as the server keeps it. */
export interface InternalQueue {
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

/** Options for {@link createEventQueues}. */
export interface EventQueueOptions {
  now: () => number;
  /** Called on every state change the server's `waitFor` should see. */
  changed: () => void;
  /** How long an idle poll is held before a heartbeat. */
  heartbeatMs: number;
  /** A queue nobody polls for this long is garbage-collected. */
  queueTimeoutMs: number;
  gcIntervalMs: number;
}

/** The event queues of one server. */
export interface EventQueues {
  /** Live queues by id. */
  readonly queues: Map<string, InternalQueue>;
  /** Create a queue for `userId`. */
  register(userId: number, eventTypes: string[] | null, applyMarkdown: boolean): InternalQueue;
  /** Append an event (unless the queue does not take its type) and answer a held poll. */
  pushEvent(queue: InternalQueue, event: Record<string, unknown>): void;
  /** Push `make(queue)` to every queue of the users in `recipients`. */
  broadcast(recipients: number[], make: (q: InternalQueue) => Record<string, unknown>): void;
  /** Delete a queue; a held poll on it gets `BAD_EVENT_QUEUE_ID`. */
  dropQueue(queue: InternalQueue): void;
  /** Garbage-collect queues now (all, or those matching `filter`); returns their ids. */
  expireQueues(filter?: { userId?: number; queueId?: string }): string[];
  /** Hold `res` on `queue` until an event or a heartbeat is due; `answer` then sends the events. */
  hold(queue: InternalQueue, res: http.ServerResponse, answer: () => void): void;
  /** Live queues, for inspection. */
  inspect(): ZulipTestQueue[];
  /** Cut every held poll's connection; forget the queues unless `keepQueues`. */
  cutPolls(keepQueues: boolean): void;
  /** Stop the garbage collector. */
  stop(): void;
}

function badQueue(id: string): Record<string, unknown> {
  return { result: 'error', msg: `Bad event queue ID: ${id}`, code: 'BAD_EVENT_QUEUE_ID', queue_id: id };
}

/** Event queues with their garbage collector running (unref'd; {@link EventQueues.stop} it). */
export function createEventQueues(options: EventQueueOptions): EventQueues {
  const { now, changed, heartbeatMs, queueTimeoutMs, gcIntervalMs } = options;
  const queues = new Map<string, InternalQueue>();

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

  return {
    queues,
    register(userId, eventTypes, applyMarkdown) {
      const queue: InternalQueue = {
        id: randomUUID(),
        userId,
        eventTypes,
        applyMarkdown,
        events: [],
        nextId: 0,
        acked: -1,
        lastAccess: now(),
        waiting: undefined,
      };
      queues.set(queue.id, queue);
      return queue;
    },
    pushEvent,
    broadcast,
    dropQueue,
    expireQueues,
    hold(queue, res, answer) {
      if (queue.waiting) queue.waiting.finish();
      const finish = () => {
        if (!queue.waiting || queue.waiting.res !== res) return;
        clearTimeout(queue.waiting.timer);
        queue.waiting = undefined;
        queue.lastAccess = now();
        answer();
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
    },
    inspect: () =>
      [...queues.values()].map((q) => ({
        id: q.id,
        userId: q.userId,
        eventTypes: q.eventTypes,
        applyMarkdown: q.applyMarkdown,
        pending: [...q.events],
        polling: q.waiting !== undefined,
      })),
    cutPolls(keepQueues) {
      for (const queue of queues.values()) {
        if (queue.waiting) {
          clearTimeout(queue.waiting.timer);
          queue.waiting.res.destroy();
          queue.waiting = undefined;
        }
      }
      if (!keepQueues) queues.clear();
    },
    stop() {
      clearInterval(gcTimer);
    },
  };
}
