/**
 * Signed webhooks (`notify.webhooks`): every matching event is written to the `webhook_outbox`
 * table, then POSTed by a worker on timers, with exponential backoff between attempts. Nothing
 * waits on an endpoint: enqueueing is one INSERT, delivery is asynchronous.
 *
 * Headers: `X-Dancer-Event`, `X-Dancer-Delivery` (a unique id, the same on every retry),
 * `X-Dancer-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` when `secretEnv` is set.
 */
import { randomUUID } from 'node:crypto';
import type { WebhookSettings } from '../../config/index.js';
import { DancerError } from '../../errors.js';
import type { Db } from '../../store/index.js';
import type { StoreWatcher } from '../store-watch.js';
import { type WebhookEvent, webhookBody, webhookEventOf } from './events.js';
import { signBody } from './sign.js';

export { type WebhookEvent, webhookBody, webhookEventOf } from './events.js';
export { signBody, verifySignature } from './sign.js';

/** One row of the webhook outbox. */
export interface WebhookDelivery {
  id: number;
  createdAt: number;
  url: string;
  secretEnv: string | null;
  event: WebhookEvent;
  deliveryId: string;
  body: string;
  state: 'pending' | 'sent' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  lastStatus: number | null;
  lastError: string | null;
  sentAt: number | null;
}

/** Backoff between attempts: 1 s, 2 s, 4 s... up to `maxDelayMs`; give up after `maxAttempts`. */
export interface WebhookRetryPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  /** Per-request timeout. */
  timeoutMs: number;
}

/** The default retry policy. */
export const DEFAULT_WEBHOOK_RETRY: WebhookRetryPolicy = {
  baseDelayMs: 1_000,
  maxDelayMs: 5 * 60_000,
  maxAttempts: 12,
  timeoutMs: 10_000,
};

/** Delay before attempt `attempts + 1` after `attempts` failures (pure). */
export function webhookDelayMs(attempts: number, policy: WebhookRetryPolicy = DEFAULT_WEBHOOK_RETRY): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
}

function toDelivery(r: Record<string, unknown>): WebhookDelivery {
  return {
    id: r.id as number,
    createdAt: r.created_at as number,
    url: r.url as string,
    secretEnv: r.secret_env as string | null,
    event: r.event as WebhookEvent,
    deliveryId: r.delivery_id as string,
    body: r.body as string,
    state: r.state as WebhookDelivery['state'],
    attempts: r.attempts as number,
    nextAttemptAt: r.next_attempt_at as number,
    lastStatus: r.last_status as number | null,
    lastError: r.last_error as string | null,
    sentAt: r.sent_at as number | null,
  };
}

/** Queue one delivery; returns its row id. */
export function enqueueWebhook(
  db: Db,
  entry: { url: string; secretEnv?: string | undefined; event: WebhookEvent; deliveryId: string; body: string },
  now: number,
): number {
  return Number(
    db
      .prepare(
        `INSERT INTO webhook_outbox (created_at, url, secret_env, event, delivery_id, body, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(now, entry.url, entry.secretEnv ?? null, entry.event, entry.deliveryId, entry.body, now).lastInsertRowid,
  );
}

/** Deliveries, oldest first (all, or one state). */
export function listWebhookDeliveries(db: Db, state?: WebhookDelivery['state']): WebhookDelivery[] {
  const rows = state
    ? db.prepare('SELECT * FROM webhook_outbox WHERE state = ? ORDER BY id').all(state)
    : db.prepare('SELECT * FROM webhook_outbox ORDER BY id').all();
  return (rows as Array<Record<string, unknown>>).map(toDelivery);
}

/** Options of {@link startWebhooks}. */
export interface StartWebhooksOptions {
  db: Db;
  webhooks: readonly WebhookSettings[];
  watcher: StoreWatcher;
  service: string;
  env?: NodeJS.ProcessEnv;
  retry?: Partial<WebhookRetryPolicy>;
  /** How often the worker looks for due deliveries, ms. Default 250. */
  tickMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
  onError?: (error: unknown) => void;
}

/** Running webhooks. */
export interface Webhooks {
  /** Deliver what is due now (tests); resolves when those attempts ended. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Enqueue matching store changes for every configured webhook and deliver them in the
 * background.
 *
 * @throws {DancerError} `DANCER_CONFIG_ENV_MISSING` when a `secretEnv` variable is not set (an
 *   unsigned delivery to an endpoint that expects a signature would be refused anyway).
 */
export function startWebhooks(options: StartWebhooksOptions): Webhooks {
  const { db } = options;
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const policy = { ...DEFAULT_WEBHOOK_RETRY, ...options.retry };
  const doFetch = options.fetch ?? fetch;
  const report = options.onError ?? ((e: unknown) => process.emitWarning(String(e), 'DancerWebhook'));
  for (const hook of options.webhooks) {
    if (hook.secretEnv && !env[hook.secretEnv]) {
      throw new DancerError(
        'DANCER_CONFIG_ENV_MISSING',
        `notify.webhooks (${hook.url}): environment variable ${hook.secretEnv} (secretEnv) is not set.`,
        { details: { url: hook.url, secretEnv: hook.secretEnv } },
      );
    }
  }

  const unsubscribe = options.watcher.subscribe((change) => {
    const event = webhookEventOf(change);
    if (!event) return;
    for (const hook of options.webhooks) {
      if (!hook.events.includes(event)) continue;
      const deliveryId = randomUUID();
      enqueueWebhook(
        db,
        {
          url: hook.url,
          secretEnv: hook.secretEnv,
          event,
          deliveryId,
          body: webhookBody(event, deliveryId, options.service, change),
        },
        now(),
      );
    }
  });

  const inFlight = new Set<number>();
  // Stopping aborts the requests in flight (they stay pending and go out on the next start).
  const stopping = new AbortController();
  const attempt = async (d: WebhookDelivery): Promise<void> => {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'dancer-webhook',
      'x-dancer-event': d.event,
      'x-dancer-delivery': d.deliveryId,
    };
    const secret = d.secretEnv ? env[d.secretEnv] : undefined;
    if (secret) headers['x-dancer-signature-256'] = signBody(secret, d.body);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await doFetch(d.url, {
        method: 'POST',
        headers,
        body: d.body,
        signal: AbortSignal.any([AbortSignal.timeout(policy.timeoutMs), stopping.signal]),
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) error = `HTTP ${res.status}`;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    if (!db.open || stopping.signal.aborted) return;
    const attempts = d.attempts + 1;
    if (error === null) {
      db.prepare(
        "UPDATE webhook_outbox SET state = 'sent', attempts = ?, last_status = ?, last_error = NULL, sent_at = ? WHERE id = ?",
      ).run(attempts, status, now(), d.id);
      return;
    }
    const giveUp = attempts >= policy.maxAttempts;
    db.prepare(
      'UPDATE webhook_outbox SET state = ?, attempts = ?, last_status = ?, last_error = ?, next_attempt_at = ? WHERE id = ?',
    ).run(giveUp ? 'failed' : 'pending', attempts, status, error, now() + webhookDelayMs(attempts, policy), d.id);
    if (giveUp) {
      report(
        new DancerError('DANCER_WEBHOOK_FAILED', `Webhook ${d.event} to ${d.url} failed ${attempts} times: ${error}`, {
          details: { url: d.url, delivery: d.deliveryId },
        }),
      );
    }
  };

  let stopped = false;
  const tick = async (): Promise<void> => {
    if (stopped || !db.open) return;
    const due = (
      db
        .prepare("SELECT * FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT 50")
        .all(now()) as Array<Record<string, unknown>>
    )
      .map(toDelivery)
      .filter((d) => !inFlight.has(d.id));
    await Promise.all(
      due.map(async (d) => {
        inFlight.add(d.id);
        try {
          await attempt(d);
        } catch (error) {
          report(error);
        } finally {
          inFlight.delete(d.id);
        }
      }),
    );
  };
  const running = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const p = tick().catch(report);
    running.add(p);
    void p.finally(() => running.delete(p));
  }, options.tickMs ?? 250);
  timer.unref();

  return {
    flush: () => tick(),
    async stop() {
      stopped = true;
      clearInterval(timer);
      unsubscribe();
      stopping.abort();
      await Promise.allSettled([...running]);
    },
  };
}
