// How long a change made by another process takes to reach a dashboard's event stream, and a
// webhook receiver. Usage: npm run build && node bench/dashboard-events.mjs [--trials 40]
// A real SQLite file; the dashboard (store watcher, 250 ms poll) on loopback; a second connection
// writes an emergency stop and clears it (as `dancer stop` / `dancer resume` do), one trial at a
// time; the time from the committed write to the event's arrival is measured. Baseline: the
// watcher's poll interval (the expected mean delay is half of it).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDashboard } from '../dist/dashboard/index.js';
import { createLiveActions } from '../dist/heal/live-actions.js';
import { watchStore } from '../dist/notify/store-watch.js';
import { startWebhooks } from '../dist/notify/webhooks/index.js';
import { openStore } from '../dist/store/open.js';

const trials = Number(process.argv[process.argv.indexOf('--trials') + 1] || 40) || 40;
const POLL_MS = 250;
const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-events-'));
const file = path.join(dir, 'dancer.db');
const db = openStore(file);
const writer = openStore(file);
const watcher = watchStore(db, { intervalMs: POLL_MS });

const hookTimes = [];
let hookWaiter;
const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    hookTimes.push(performance.now());
    hookWaiter?.();
    res.end();
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const hooks = startWebhooks({
  db,
  webhooks: [{ url: `http://127.0.0.1:${receiver.address().port}/`, events: ['stop', 'resume'] }],
  watcher,
  service: 'bench',
  tickMs: 50,
});
const dashboard = await startDashboard({
  db,
  settings: { host: '127.0.0.1', port: 0 },
  actions: createLiveActions({ db }),
  watcher,
});

const res = await fetch(`${dashboard.url}/api/events`);
const reader = res.body.getReader();
const decoder = new TextDecoder();
let buffer = '';
async function nextEvent(type) {
  for (;;) {
    const cut = buffer.indexOf('\n\n');
    if (cut >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (block.includes(`event: ${type}`)) return performance.now();
      continue;
    }
    const { value } = await reader.read();
    buffer += decoder.decode(value, { stream: true });
  }
}
await nextEvent('hello');

const sse = [];
const hook = [];
for (let i = 0; i < trials; i++) {
  const type = i % 2 === 0 ? 'stop' : 'resume';
  // Spread the writes over the poll cycle.
  await new Promise((r) => setTimeout(r, 100 + Math.random() * POLL_MS));
  const hooksBefore = hookTimes.length;
  const hookArrived = new Promise((r) => {
    hookWaiter = () => hookTimes.length > hooksBefore && r(hookTimes.at(-1));
  });
  const t0 = performance.now();
  if (type === 'stop')
    writer
      .prepare(
        "INSERT INTO flags (name, value, set_by, reason, set_at) VALUES ('emergency_stop', '1', 'bench', NULL, ?)",
      )
      .run(Date.now());
  else writer.prepare("DELETE FROM flags WHERE name = 'emergency_stop'").run();
  sse.push((await nextEvent(type)) - t0);
  hook.push((await hookArrived) - t0);
}

const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const fmt = (xs) => `${q(xs, 0.5).toFixed(1)} / ${q(xs, 0.95).toFixed(1)} / ${Math.max(...xs).toFixed(1)}`;
console.log(`trials: ${trials}, watcher poll: ${POLL_MS} ms`);
console.log(
  `write -> SSE event (ms, p50 / p95 / max): ${fmt(sse)}  (p95 = ${(q(sse, 0.95) / POLL_MS).toFixed(2)}x the poll interval)`,
);
console.log(
  `write -> webhook received (ms, p50 / p95 / max): ${fmt(hook)}  (p95 = ${(q(hook, 0.95) / POLL_MS).toFixed(2)}x the poll interval)`,
);

await reader.cancel();
await hooks.stop();
await dashboard.close();
watcher.close();
receiver.close();
writer.close();
db.close();
rmSync(dir, { recursive: true, force: true });
