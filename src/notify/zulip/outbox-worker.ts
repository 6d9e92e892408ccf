/**
 * Delivers the outbox to Zulip, in order, with retries. While Zulip is unreachable or rate
 * limiting, the whole outbox waits (backing off, honouring `Retry-After`) so that order is kept;
 * a row Zulip refuses for good is marked `failed` and the rest go on. Callers only ever do an
 * INSERT ({@link OutboxStore.enqueue}) and a {@link OutboxWorker.nudge}.
 */
import { errorMessage } from '../../errors.js';
import {
  type BackoffPolicy,
  classifyZulipError,
  DEFAULT_BACKOFF,
  retryDelayMs,
  type ZulipClient,
  type ZulipFailureKind,
} from './client.js';
import { fitMessage } from './format.js';
import { type DeliveryOp, type OutboxStore, planDelivery } from './outbox.js';

/** Timer functions (injectable so tests can drive a fake clock). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Options for {@link OutboxWorker}. */
export interface OutboxWorkerOptions {
  store: OutboxStore;
  client: ZulipClient;
  /** Current `max_message_length` (learned from `/register`). */
  maxLength: () => number;
  /** Pointer text for trimmed messages. */
  trimPointer?: string;
  clock?: () => number;
  timers?: Timers;
  backoff?: BackoffPolicy;
  /** Merge replies when the oldest pending row is this old (default 60 s). */
  collapseAfterMs?: number;
  /** In [0,1): spreads retry delays (default Math.random). */
  random?: () => number;
  /** Every delivery problem is reported here (never swallowed). */
  onError?: (error: unknown, info: { kind: ZulipFailureKind; ids: number[]; retryInMs?: number }) => void;
  /** Called after a pass delivered something (tests and the dashboard watch this). */
  onDelivered?: (ids: number[]) => void;
}

/** What one pass did. */
export interface PassReport {
  delivered: number;
  failed: number;
  /** Set when the pass stopped on a retryable failure: ms since epoch of the next try. */
  retryAt?: number;
}

/** The delivery loop. `start()` it once; `nudge()` after every enqueue. */
export class OutboxWorker {
  private readonly clock: () => number;
  private readonly timers: Timers;
  private readonly backoff: BackoffPolicy;
  private readonly random: () => number;
  private failures = 0;
  private blockedUntil = 0;
  private running: Promise<PassReport> | undefined;
  private again = false;
  private timer: unknown;
  private started = false;

  constructor(private readonly options: OutboxWorkerOptions) {
    this.clock = options.clock ?? Date.now;
    this.timers = options.timers ?? realTimers;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
  }

  /** When the next attempt is allowed (0 when not backing off). */
  get retryAt(): number {
    return this.blockedUntil;
  }

  /** Consecutive failed attempts. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Begin delivering (and deliver what a previous run left). */
  start(): void {
    this.started = true;
    this.nudge();
  }

  /** Stop scheduling passes; resolves when the current pass ends. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Something was enqueued: deliver soon (at once unless backing off). */
  nudge(): void {
    if (!this.started) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const wait = Math.max(0, this.blockedUntil - this.clock());
    if (this.timer !== undefined) {
      if (wait > 0) return; // a retry is already scheduled
      this.timers.clearTimeout(this.timer);
    }
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.runOnce().then((report) => {
        if (!this.started) return;
        if (report.retryAt !== undefined || this.again) {
          this.again = false;
          this.nudge();
        }
      });
    }, wait);
  }

  /** One pass: deliver what is due, in order. Safe to call directly (tests with a fake clock). */
  runOnce(): Promise<PassReport> {
    if (this.running) return this.running;
    const run = this.pass().finally(() => {
      this.running = undefined;
    });
    this.running = run;
    return run;
  }

  /** Run passes until nothing is pending or Zulip is unavailable. */
  async drain(): Promise<PassReport> {
    const total: PassReport = { delivered: 0, failed: 0 };
    for (;;) {
      const report = await this.runOnce();
      total.delivered += report.delivered;
      total.failed += report.failed;
      if (report.retryAt !== undefined) return { ...total, retryAt: report.retryAt };
      if (report.delivered + report.failed === 0) return total;
    }
  }

  private async pass(): Promise<PassReport> {
    const report: PassReport = { delivered: 0, failed: 0 };
    const now = this.clock();
    if (now < this.blockedUntil) return { ...report, retryAt: this.blockedUntil };
    const { store } = this.options;
    const pending = store.pending();
    if (pending.length === 0) return report;
    const ops = planDelivery(pending, {
      now,
      collapseAfterMs: this.options.collapseAfterMs ?? 60_000,
      maxLength: this.options.maxLength(),
    });
    for (const op of ops) {
      if (op.kind === 'supersede') {
        store.markSuperseded(op.ids, op.by);
        report.delivered += op.ids.length;
        continue;
      }
      if (op.kind === 'fold') {
        store.markSuperseded(op.editIds, op.postId);
        report.delivered += op.editIds.length;
        continue;
      }
      try {
        await this.deliver(op);
        this.failures = 0;
        report.delivered += op.ids.length;
        this.options.onDelivered?.(op.ids);
      } catch (error) {
        const failure = classifyZulipError(error);
        if (failure.kind === 'rejected' || failure.kind === 'bad_queue') {
          store.markFailed(op.ids, errorMessage(error));
          report.failed += op.ids.length;
          this.options.onError?.(error, { kind: failure.kind, ids: op.ids });
          continue;
        }
        // Zulip unavailable, rate limiting, or refusing our credentials: keep everything, wait.
        this.failures++;
        const delay = retryDelayMs(failure, this.failures, this.backoff, this.random());
        this.blockedUntil = this.clock() + delay;
        store.markAttempt(op.ids, errorMessage(error));
        this.options.onError?.(error, { kind: failure.kind, ids: op.ids, retryInMs: delay });
        return { ...report, retryAt: this.blockedUntil };
      }
    }
    return report;
  }

  private async deliver(op: Exclude<DeliveryOp, { kind: 'supersede' | 'fold' }>): Promise<void> {
    const { store, client } = this.options;
    const max = this.options.maxLength();
    const where = this.options.trimPointer ?? '`dancer fixes show`';
    if (op.kind === 'post') {
      const content = fitMessage(op.content, max, where);
      const id =
        op.dest === 'stream'
          ? await client.sendStreamMessage({ stream: op.stream ?? '', topic: op.topic ?? '', content })
          : await client.sendDirectMessage({ to: op.toUsers ?? [], content });
      store.markSent(op.ids, id);
      return;
    }
    const target = store.resolveRef(op.targetKey);
    if (!target || target.zulipId === null) {
      store.markFailed(op.ids, `target ${op.targetKey} was never delivered`);
      return;
    }
    if (op.kind === 'edit') {
      const content = fitMessage(op.content, max, where);
      try {
        await client.editMessage(target.zulipId, { content });
        store.markSent(op.ids, target.zulipId);
      } catch (error) {
        if (classifyZulipError(error).kind !== 'rejected') throw error;
        // Zulip refused the edit (e.g. past the realm's edit time limit): post the new version
        // in the same place; later edits target the new message.
        const id =
          target.dest === 'stream'
            ? await client.sendStreamMessage({ stream: target.stream ?? '', topic: target.topic ?? '', content })
            : await client.sendDirectMessage({ to: target.toUsers ?? [], content });
        store.markSentAsPost(op.ids[0]!, op.targetKey, id);
        this.options.onError?.(error, { kind: 'rejected', ids: op.ids });
      }
      return;
    }
    try {
      if (op.kind === 'react') await client.addReaction(target.zulipId, op.emoji);
      else await client.removeReaction(target.zulipId, op.emoji);
    } catch (error) {
      // Idempotent: a retry after a lost response finds the work already done.
      const code = (error as { details?: { zulipCode?: string } }).details?.zulipCode;
      if (code !== 'REACTION_ALREADY_EXISTS' && code !== 'REACTION_DOES_NOT_EXIST') throw error;
    }
    store.markSent(op.ids, target.zulipId);
  }
}
