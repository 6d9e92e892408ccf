/**
 * Zulip down for an hour. `dancer run` starts with its Zulip server down and heals the shop
 * anyway (the approval is the policy's, low risk); what it meant to say waits in the outbox.
 * Then the hour, on a fake clock: the outbox of that run (a copy of its store) is worked by the
 * real OutboxWorker for an hour of Zulip being down, with bounded retries, and delivered in order,
 * nothing lost, when Zulip comes back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { ZulipClient } from '../../src/notify/zulip/client.js';
import { OutboxStore } from '../../src/notify/zulip/outbox.js';
import { OutboxWorker } from '../../src/notify/zulip/outbox-worker.js';
import { openStore } from '../../src/store/open.js';
import { createZulipTestServer, type ZulipTestServer } from '../../src/testing/index.js';
import { goodFix } from './agent.js';
import { removeTemplate, ShopStack, TERMINAL } from './fixture.js';
import { finish } from './run.js';

let stack: ShopStack | undefined;
let zulip: ZulipTestServer | undefined;
let copyDir: string | undefined;

afterAll(async () => {
  const stray = await stack?.stop();
  await zulip?.close();
  if (copyDir) rmSync(copyDir, { recursive: true, force: true });
  removeTemplate();
  expect(stray ?? [], 'processes left under the scenario folder').toEqual([]);
}, 60_000);

it('zulip-down', { timeout: 300_000 }, async () => {
  const t0 = Date.now();
  zulip = await createZulipTestServer({
    streams: ['dancer'],
    users: [
      { email: 'dancer-bot@faults.test', fullName: 'Dancer', isBot: true },
      { email: 'alice@faults.test', fullName: 'Alice Operator' },
    ],
  });
  const bot = zulip.user('dancer-bot@faults.test');
  await zulip.down();
  stack = await ShopStack.create(goodFix(), {
    notify: {
      zulip: {
        site: zulip.url,
        email: bot.email,
        apiKeyEnv: 'FAULTS_ZULIP_KEY',
        stream: 'dancer',
        allow: ['alice@faults.test'],
      },
    },
  });
  stack.extraEnv = { FAULTS_ZULIP_KEY: bot.api_key };
  await stack.startSupervisor();
  stack.startTraffic();
  const fix = await stack.fixIn(TERMINAL, 150_000);
  expect(fix.state).toBe('deployed');
  const held = () => stack!.query<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'")[0]?.n ?? 0;
  // The deploy's messages reach the outbox a moment after the fix's last transition.
  const deadline = Date.now() + 10_000;
  while (held() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));

  // The hour, on a fake clock, over a copy of this run's store.
  copyDir = mkdtempSync(path.join(tmpdir(), 'dancer-faults-outbox-'));
  const copy = path.join(copyDir, 'dancer.db');
  const live = new Database(path.join(stack.repo, '.dancer', 'dancer.db'), { readonly: true });
  await live.backup(copy);
  live.close();
  const db = openStore(copy);
  let now = Date.now();
  const clock = () => now;
  const store = new OutboxStore(db, clock);
  const pending = store.counts().pending;
  const retries: number[] = [];
  const worker = new OutboxWorker({
    store,
    client: new ZulipClient({ site: zulip.url, email: bot.email, apiKey: bot.api_key }, { timeoutMs: 2000 }),
    clock,
    maxLength: () => 10_000,
    random: () => 0,
    onError: (_e, info) => retries.push(info.retryInMs ?? -1),
  });
  const hourStart = now;
  for (let t = 0; t <= 3_600_000; t += 10_000) {
    now = hourStart + t;
    if (now >= worker.retryAt) await worker.runOnce();
  }
  const stillPending = store.counts().pending;
  await zulip.up();
  now = worker.retryAt;
  await worker.drain();
  const after = store.counts();
  db.close();
  const delivered = zulip.messages.length;

  await finish(stack, {
    id: 'zulip-down',
    startedAt: t0,
    outcome: `fix deployed with Zulip down; ${pending} outbox rows held; an hour of fake time: ${retries.length} tries, ${stillPending} still held, 0 sent; Zulip back: ${after.pending} pending, ${after.failed} failed, ${delivered} messages delivered`,
  });
  expect(pending).toBeGreaterThan(0);
  expect(stillPending).toBe(pending);
  expect(retries.length).toBeLessThan(30);
  expect(after).toMatchObject({ pending: 0, failed: 0 });
  expect(delivered).toBeGreaterThan(0);
});
