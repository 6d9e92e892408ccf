/**
 * `dancer/context`: request context that follows async work (AsyncLocalStorage) and lands in
 * every log record through pino's `mixin` option.
 *
 * ```ts
 * import pino from 'pino';
 * import { dancerMixin, runWithContext } from 'dancer/context';
 * const log = pino({ mixin: dancerMixin() });
 * http.createServer((req, res) =>
 *   runWithContext({ requestId: String(req.headers['x-request-id'] ?? randomUUID()) }, () => handle(req, res)),
 * );
 * ```
 *
 * App-side entry: imports nothing but `node:async_hooks`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** What is known about the work in progress. Every field is optional. */
export interface DancerContext {
  requestId?: string | undefined;
  sessionId?: string | undefined;
  userId?: string | undefined;
  tenantId?: string | undefined;
  traceId?: string | undefined;
  spanId?: string | undefined;
  /** Free-form tags, e.g. `['checkout', 'beta']`. */
  tags?: string[] | undefined;
  /** Free-form key/value labels, e.g. `{ region: 'eu' }`. */
  labels?: Record<string, string> | undefined;
}

const storage = new AsyncLocalStorage<DancerContext>();

const ID_KEYS = ['requestId', 'sessionId', 'userId', 'tenantId', 'traceId', 'spanId'] as const;

function merge(outer: DancerContext | undefined, inner: DancerContext): DancerContext {
  if (outer === undefined) {
    return {
      ...inner,
      tags: inner.tags ? [...inner.tags] : undefined,
      labels: inner.labels ? { ...inner.labels } : undefined,
    };
  }
  const out: DancerContext = { ...outer };
  for (const key of ID_KEYS) if (inner[key] !== undefined) out[key] = inner[key];
  if (inner.tags || outer.tags) out.tags = [...new Set([...(outer.tags ?? []), ...(inner.tags ?? [])])];
  if (inner.labels || outer.labels) out.labels = { ...outer.labels, ...inner.labels };
  return out;
}

/**
 * Run `fn` with `context` as the current context, merged over the enclosing one (ids override,
 * tags add up, labels merge). Everything `fn` starts (promises, timers, callbacks) sees it.
 */
export function runWithContext<T>(context: DancerContext, fn: () => T): T {
  return storage.run(merge(storage.getStore(), context), fn);
}

/** The current context, or undefined outside {@link runWithContext}. */
export function getContext(): Readonly<DancerContext> | undefined {
  return storage.getStore();
}

/**
 * Add fields to the current context (e.g. `userId` once the request is authenticated). Returns
 * false, changing nothing, outside {@link runWithContext}.
 */
export function updateContext(fields: DancerContext): boolean {
  const current = storage.getStore();
  if (current === undefined) return false;
  Object.assign(current, merge(current, fields));
  return true;
}

/**
 * A function for pino's `mixin` option: adds the current context's fields (requestId, sessionId,
 * userId, tenantId, traceId, spanId, tags, labels) to every log line. Returns a fresh object each
 * call (pino merges into it).
 */
export function dancerMixin(): () => Record<string, unknown> {
  return () => {
    const ctx = storage.getStore();
    if (ctx === undefined) return {};
    const out: Record<string, unknown> = {};
    for (const key of ID_KEYS) {
      const v = ctx[key];
      if (v !== undefined) out[key] = v;
    }
    if (ctx.tags !== undefined && ctx.tags.length > 0) out.tags = ctx.tags;
    if (ctx.labels !== undefined) out.labels = ctx.labels;
    return out;
  };
}
