// What reporting to Zulip costs the caller (the supervisor): `node bench/notify-outbox.mjs`
// after `npm run build`. Zulip is unreachable during the run (a closed port), so any network
// wait would show up in the figures. Baseline: a bare prepared INSERT into the same database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ZulipBot } from '../dist/notify/zulip/bot.js';
import { ZulipClient } from '../dist/notify/zulip/client.js';
import { OutboxStore } from '../dist/notify/zulip/outbox.js';
import { openStore } from '../dist/store/open.js';

const N = Number(process.env.N ?? 20_000);
const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-notify-'));
const db = openStore(path.join(dir, 'dancer.db'));
db.exec('CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');

function measure(label, fn) {
  for (let i = 0; i < 500; i++) fn(i); // warm up
  const start = performance.now();
  for (let i = 0; i < N; i++) fn(i);
  const us = ((performance.now() - start) * 1000) / N;
  return { label, us };
}

const body = 'status line '.repeat(20);
const floor = db.prepare('INSERT INTO bench_floor (body) VALUES (?)');
const results = [];
results.push(measure('bare INSERT (floor)', () => floor.run(body)));

const store = new OutboxStore(db);
results.push(
  measure('OutboxStore.enqueue', () =>
    store.enqueue({ dest: 'stream', stream: 'dancer', topic: 'dancer', content: body }),
  ),
);

const client = new ZulipClient(
  { site: 'http://127.0.0.1:9', email: 'bot@x.test', apiKey: 'k'.repeat(32) },
  { timeoutMs: 2000 },
);
const bot = new ZulipBot({
  db,
  client,
  settings: {
    stream: 'dancer',
    statusTopic: 'dancer',
    allow: [],
    reactions: { approve: 'check', reject: 'cross_mark' },
  },
  actions: {},
  onError: () => {},
});
bot.worker.start(); // delivering (and failing: Zulip is down) in the background
const pattern = { id: 17, summary: "TypeError: Cannot read properties of undefined (reading 'id')", count: 1204 };
results.push(
  measure('ZulipBot.notify(fix_state): format + plan + 2 INSERTs', (i) =>
    bot.notify({
      type: 'fix_state',
      at: Date.now(),
      fix: { id: 1 + (i % 50), state: 'testing', pattern, risk: { level: 'low' }, costUsd: 0.1 },
      from: 'proposed',
      to: 'testing',
      actor: 'gate',
    }),
  ),
);
await bot.worker.stop();
db.close();
rmSync(dir, { recursive: true, force: true });

const floorUs = results[0].us;
for (const r of results) {
  console.log(`${r.label.padEnd(56)} ${r.us.toFixed(1).padStart(7)} µs/op  (${(r.us / floorUs).toFixed(1)}x floor)`);
}
