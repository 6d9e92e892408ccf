/**
 * The dashboard's HTTP server: the page (static files, no build step), the JSON API under
 * `/api`, server-sent events at `/api/events`, and the actions (bearer token). Built on Hono
 * (routing, SSE) over Node's http server (`@hono/node-server`).
 */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import type { FixRecord } from '../fixes/index.js';
import type { BotActions, StoreChange, StoreWatcher } from '../notify/index.js';
import type { Db } from '../store/index.js';
import type { StatusReport } from '../supervise/index.js';
import { type DashboardAction, performAction, statusForError } from './actions.js';
import { checkAction } from './auth.js';
import * as q from './queries.js';
import { STATIC_FILES } from './static-files.js';

/** Everything the server reads and acts on. */
export interface DashboardServerOptions {
  db: Db;
  /** The service name (for status); default: the one stored in the database. */
  service?: string | undefined;
  /** Live status from the running supervisor (inside `dancer run`). */
  liveStatus?: (() => StatusReport) | undefined;
  /** The actions (the live actions of `dancer run`, or store-only ones for `dancer dashboard`). */
  actions: Pick<BotActions, 'approve' | 'reject' | 'rollback' | 'stop' | 'resume'>;
  /** Roll back through a supervisor in another process (standalone). */
  rollbackViaControl?: ((by: string, reason: string) => Promise<string>) | undefined;
  /** A fix's unified diff (from the service repository). */
  diffOf?: ((fix: FixRecord) => Promise<string | undefined>) | undefined;
  /** The store watcher the events come from. */
  watcher: StoreWatcher;
  /** The bearer token actions need; undefined: read-only. */
  token?: string | undefined;
  now?: () => number;
  /**
   * With a `fleet:` section: the fleet's status as `dancer fleet status --json` prints it (hosts,
   * patterns with per-host counts, fixes with each host's deploy state, the stop).
   */
  fleetView?: (() => Promise<unknown>) | undefined;
}

const ACTOR_RE = /^[\w.@+-]{1,64}$/;

function errorBody(error: unknown): { error: { code: string; message: string } } {
  return isDancerError(error)
    ? { error: { code: error.code, message: error.message } }
    : { error: { code: 'DANCER_INTERNAL', message: errorMessage(error) } };
}

function intParam(raw: string | undefined, what: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new DancerError('DANCER_USAGE', `Not a ${what} id: "${raw}".`);
  return n;
}

function optionalInt(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new DancerError('DANCER_USAGE', `Not a number: "${raw}".`);
  return n;
}

/** The Hono app (exported for tests that want `app.request`). */
export function createDashboardApp(options: DashboardServerOptions): Hono {
  const { db } = options;
  const now = options.now ?? Date.now;
  const app = new Hono();
  const serviceName = () => options.service ?? q.storedServiceName(db) ?? 'service';

  app.onError((error, c) => c.json(errorBody(error), statusForError(error) as 400));
  app.notFound((c) =>
    c.json({ error: { code: 'DANCER_NOT_FOUND', message: `No route ${c.req.method} ${c.req.path}.` } }, 404),
  );

  for (const [route, file] of Object.entries(STATIC_FILES)) {
    app.get(route, async (c) => {
      const body = await readFile(file.path);
      return c.body(body, 200, { 'content-type': file.type, 'cache-control': 'no-cache' });
    });
  }

  app.get('/api/status', (c) =>
    c.json({
      ...q.status(db, serviceName(), now(), options.liveStatus?.()),
      readOnly: !options.token,
      fleet: options.fleetView !== undefined,
    }),
  );
  app.get('/api/fleet', async (c) => {
    if (!options.fleetView) {
      throw new DancerError('DANCER_NOT_FOUND', 'This service has no fleet: section in dancer.yaml (one host).');
    }
    return c.json(await options.fleetView());
  });
  app.get('/api/patterns', (c) => c.json(q.patterns(db, now(), { minLevel: optionalInt(c.req.query('minLevel')) })));
  app.get('/api/patterns/:id', (c) => c.json(q.pattern(db, intParam(c.req.param('id'), 'pattern'), now())));
  app.get('/api/fixes', (c) =>
    c.json(
      q.fixes(db, {
        state: c.req.query('state'),
        release: c.req.query('release'),
        limit: optionalInt(c.req.query('limit')),
      }),
    ),
  );
  app.get('/api/fixes/:id', async (c) => c.json(await q.fix(db, intParam(c.req.param('id'), 'fix'), options.diffOf)));
  app.get('/api/consultations', (c) => c.json(q.consultations(db, optionalInt(c.req.query('limit')))));
  app.get('/api/consultations/:id', (c) => c.json(q.consultation(db, intParam(c.req.param('id'), 'consultation'))));
  app.get('/api/audit', (c) =>
    c.json(
      q.audit(db, {
        actor: c.req.query('actor'),
        action: c.req.query('action'),
        source: c.req.query('source'),
        outcome: c.req.query('outcome'),
        target: c.req.query('target'),
        since: optionalInt(c.req.query('since')),
        limit: optionalInt(c.req.query('limit')),
      }),
    ),
  );
  app.get('/api/logs', (c) => {
    const text = c.req.query('q') ?? '';
    if (!text.trim()) throw new DancerError('DANCER_QUERY_INVALID', 'Give a search: /api/logs?q=...');
    return c.json(q.logs(db, text, optionalInt(c.req.query('limit'))));
  });

  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      let seq = 0;
      const queue: StoreChange[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = options.watcher.subscribe((change) => {
        queue.push(change);
        wake?.();
      });
      let open = true;
      stream.onAbort(() => {
        open = false;
        unsubscribe();
        wake?.();
      });
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ at: now() }), id: String(seq++) });
      while (open) {
        while (queue.length > 0 && open) {
          const change = queue.shift() as StoreChange;
          await stream.writeSSE({ event: change.type, data: JSON.stringify(change), id: String(seq++) });
        }
        if (!open) break;
        // Wait for the next change, or send a comment every 15 s so proxies keep the stream open.
        const timedOut = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), 15_000);
          wake = () => {
            clearTimeout(timer);
            resolve(false);
          };
        });
        wake = undefined;
        if (timedOut && open) await stream.write(': keep-alive\n\n');
      }
    }),
  );

  const act = async (c: Context, action: DashboardAction | ((body: Record<string, unknown>) => DashboardAction)) => {
    const verdict = checkAction(c.req.header('authorization'), options.token);
    if (!verdict.ok) return c.json({ error: { code: verdict.code, message: verdict.message } }, verdict.status);
    const body = await readBody(c);
    const named = typeof body.by === 'string' ? body.by : (c.req.header('x-dancer-actor') ?? 'dashboard');
    if (!ACTOR_RE.test(named)) throw new DancerError('DANCER_USAGE', `Not a valid actor name: "${named}".`);
    const a = typeof action === 'function' ? action(body) : action;
    const answer = await performAction(
      { db, actions: options.actions, rollbackViaControl: options.rollbackViaControl, now },
      a,
      named,
    );
    options.watcher.poll();
    return c.json(answer);
  };
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  app.post('/api/fixes/:id/approve', (c) => act(c, { kind: 'approve', fixId: intParam(c.req.param('id'), 'fix') }));
  app.post('/api/fixes/:id/reject', (c) =>
    act(c, (b) => ({ kind: 'reject', fixId: intParam(c.req.param('id'), 'fix'), reason: str(b.reason) })),
  );
  app.post('/api/fixes/:id/retry', (c) =>
    act(c, (b) => ({ kind: 'retry', fixId: intParam(c.req.param('id'), 'fix'), reason: str(b.reason) })),
  );
  app.post('/api/rollback', (c) =>
    act(c, (b) => ({
      kind: 'rollback',
      fixId: b.fixId === undefined || b.fixId === null ? undefined : intParam(String(b.fixId), 'fix'),
    })),
  );
  app.post('/api/stop', (c) =>
    act(c, (b) => ({ kind: 'stop', reason: typeof b.reason === 'string' && b.reason ? b.reason : undefined })),
  );
  app.post('/api/resume', (c) => act(c, { kind: 'resume' }));
  return app;
}

async function readBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through to the usage error below
  }
  throw new DancerError('DANCER_USAGE', 'The request body must be a JSON object.');
}

/** A listening dashboard. */
export interface ListeningDashboard {
  /** e.g. `http://127.0.0.1:7777`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Listen on `host:port`.
 *
 * @throws {DancerError} `DANCER_DASHBOARD_LISTEN_FAILED` (port taken, address not available).
 */
export async function listen(app: Hono, host: string, port: number): Promise<ListeningDashboard> {
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host, port });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) =>
      reject(
        new DancerError(
          'DANCER_DASHBOARD_LISTEN_FAILED',
          `The dashboard cannot listen on ${host}:${port}: ${error.message}`,
          {
            cause: error,
            details: { host, port },
          },
        ),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        // SSE streams never end by themselves: drop every connection.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
