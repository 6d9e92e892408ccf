import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { approveFix } from '../../src/fixes/pipeline.js';
import { watchStore } from '../../src/notify/store-watch.js';
import {
  listWebhookDeliveries,
  signBody,
  startWebhooks,
  verifySignature,
  webhookDelayMs,
  webhookEventOf,
} from '../../src/notify/webhooks/index.js';
import { setEmergencyStop } from '../../src/supervise/emergency.js';
import { seededStore } from '../dashboard/helpers.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on loopback that answers `statuses` in turn (then 200). */
async function receiver(statuses: number[] = []): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, server };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until<T>(fn: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('webhook signatures (pure)', () => {
  it('is GitHub-compatible: sha256=<hex HMAC-SHA256 of the raw body>', () => {
    // The example from GitHub's "Validating webhook deliveries" docs.
    expect(signBody("It's a Secret to Everybody", 'Hello, World!')).toBe(
      'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    );
    expect(verifySignature('s', '{"a":1}', signBody('s', '{"a":1}'))).toBe(true);
    expect(verifySignature('s', '{"a":2}', signBody('s', '{"a":1}'))).toBe(false);
    expect(verifySignature('s', '{}', undefined)).toBe(false);
  });

  it('maps store changes to events: fired decisions are pattern_fired, audit rows are not sent', () => {
    expect(
      webhookEventOf({
        type: 'decision',
        at: 1,
        decisionId: 1,
        rule: 'spike',
        outcome: 'fire',
        templateId: 3,
        reasonCode: 'fired',
        reason: 'x',
      }),
    ).toBe('pattern_fired');
    expect(
      webhookEventOf({
        type: 'decision',
        at: 1,
        decisionId: 1,
        rule: 'spike',
        outcome: 'suppress',
        templateId: 3,
        reasonCode: 'cooldown',
        reason: 'x',
      }),
    ).toBeUndefined();
    expect(
      webhookEventOf({
        type: 'audit',
        at: 1,
        auditId: 1,
        actor: 'a',
        source: 'cli',
        action: 'stop',
        target: null,
        outcome: 'ok',
        detail: null,
      }),
    ).toBeUndefined();
    expect(webhookDelayMs(1)).toBe(1000);
    expect(webhookDelayMs(4)).toBe(8000);
    expect(webhookDelayMs(30)).toBe(300_000);
  });
});

describe('webhooks over a real store and a real HTTP receiver', () => {
  it('delivers signed fix_state and stop events made by another connection, only the subscribed ones', async () => {
    const s = seededStore('dancer-webhooks-');
    cleanups.push(() => s.cleanup());
    const hook = await receiver();
    cleanups.push(() => new Promise((r) => hook.server.close(r)));
    const watcher = watchStore(s.db, { intervalMs: 50 });
    cleanups.push(() => watcher.close());
    const hooks = startWebhooks({
      db: s.db,
      webhooks: [{ url: hook.url, secretEnv: 'HOOK_SECRET', events: ['fix_state', 'stop'] }],
      watcher,
      service: 'shop',
      env: { HOOK_SECRET: 'shh' },
      tickMs: 50,
    });
    cleanups.push(() => hooks.stop());

    await approveFix({ db: s.db }, s.fix.id, 'gina', '');
    setEmergencyStop(s.db, 'cli:gina', 'incident');
    await until(() => hook.got.length >= 2 || undefined, 'two deliveries');
    const [first, second] = hook.got as [Received, Received];
    expect(first.headers['x-dancer-event']).toBe('fix_state');
    expect(second.headers['x-dancer-event']).toBe('stop');
    for (const r of hook.got) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-dancer-delivery']).toMatch(/^[0-9a-f-]{36}$/);
      expect(verifySignature('shh', r.body, r.headers['x-dancer-signature-256'] as string)).toBe(true);
    }
    expect(JSON.parse(first.body)).toMatchObject({
      event: 'fix_state',
      service: 'shop',
      delivery: first.headers['x-dancer-delivery'],
      data: { fixId: s.fix.id, from: 'awaiting_approval', to: 'approved', actor: 'human:gina' },
    });
    expect(JSON.parse(second.body).data).toMatchObject({ by: 'cli:gina', reason: 'incident' });
    // The worker records the delivery once the answer is in (just after the receiver saw it).
    await until(() => listWebhookDeliveries(s.db, 'sent').length === 2 || undefined, 'both recorded as sent');
    expect(listWebhookDeliveries(s.db).map((d) => [d.event, d.state, d.attempts, d.lastStatus])).toEqual([
      ['fix_state', 'sent', 1, 200],
      ['stop', 'sent', 1, 200],
    ]);
  });

  it('retries a failing endpoint with the same delivery id until it answers 2xx', async () => {
    const s = seededStore('dancer-webhooks-retry-');
    cleanups.push(() => s.cleanup());
    const hook = await receiver([500, 503]);
    cleanups.push(() => new Promise((r) => hook.server.close(r)));
    const watcher = watchStore(s.db, { intervalMs: 50 });
    cleanups.push(() => watcher.close());
    const hooks = startWebhooks({
      db: s.db,
      webhooks: [{ url: hook.url, events: ['stop'] }],
      watcher,
      service: 'shop',
      tickMs: 20,
      retry: { baseDelayMs: 30, maxDelayMs: 100 },
    });
    cleanups.push(() => hooks.stop());
    setEmergencyStop(s.db, 'cli:hal', null);
    const sent = await until(() => listWebhookDeliveries(s.db, 'sent')[0], 'a sent delivery');
    expect(sent.attempts).toBe(3);
    expect(hook.got).toHaveLength(3);
    expect(new Set(hook.got.map((r) => r.headers['x-dancer-delivery'])).size).toBe(1);
    expect(hook.got[0]?.headers['x-dancer-signature-256']).toBeUndefined();
  });

  it('never blocks: an endpoint that does not answer leaves the store and the watcher free', async () => {
    const s = seededStore('dancer-webhooks-hang-');
    cleanups.push(() => s.cleanup());
    const hang = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      hang.closeAllConnections();
      return new Promise((r) => hang.close(r));
    });
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/`;
    const watcher = watchStore(s.db, { intervalMs: 50 });
    cleanups.push(() => watcher.close());
    const seen: string[] = [];
    watcher.subscribe((c) => seen.push(c.type));
    const hooks = startWebhooks({
      db: s.db,
      webhooks: [{ url, events: ['stop', 'resume'] }],
      watcher,
      service: 'shop',
      tickMs: 20,
      retry: { timeoutMs: 60_000 },
    });
    cleanups.push(() => hooks.stop());
    setEmergencyStop(s.db, 'cli:ivy', null);
    await until(() => seen.includes('stop') || undefined, 'the stop');
    s.db.prepare("DELETE FROM flags WHERE name = 'emergency_stop'").run();
    // The first delivery hangs, yet the watcher goes on and the resume is queued behind it.
    await until(() => seen.includes('resume') || undefined, 'the resume');
    await until(() => listWebhookDeliveries(s.db).length === 2 || undefined, 'two queued deliveries');
    expect(listWebhookDeliveries(s.db).map((d) => d.event)).toEqual(['stop', 'resume']);
  });

  it('refuses to start when a secretEnv variable is missing', () => {
    const s = seededStore('dancer-webhooks-env-');
    cleanups.push(() => s.cleanup());
    const watcher = watchStore(s.db);
    cleanups.push(() => watcher.close());
    expect(() =>
      startWebhooks({
        db: s.db,
        webhooks: [{ url: 'http://127.0.0.1:9/', secretEnv: 'NOPE', events: ['stop'] }],
        watcher,
        service: 'shop',
        env: {},
      }),
    ).toThrow(expect.objectContaining({ code: 'DANCER_CONFIG_ENV_MISSING' }));
  });
});
