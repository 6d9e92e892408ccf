// Brief build time on a store of 1M records: `node bench/brief.mjs [records]` after `npm run build`.
// Builds (once, cached in bench/out/) a store with N log rows over 7 days: 200 patterns, the one
// consulted about holding 10% of the rows, request ids, stacks on errors, per-minute buckets,
// metrics, fixes and consultations; then times buildBrief (cold = first call, warm = median of 5).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBrief } from '../dist/consult/brief.js';
import { createRedactor } from '../dist/consult/redact.js';
import { openStore } from '../dist/store/open.js';

const N = Number(process.argv[2] ?? 1_000_000);
const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'out');
const file = path.join(out, `brief-${N}.db`);
const worktree = path.join(out, 'brief-worktree');
const AT = Date.UTC(2026, 10, 25, 12, 0, 0);
const TARGET = 7;

mkdirSync(path.join(worktree, 'src'), { recursive: true });
writeFileSync(
  path.join(worktree, 'src/payment.js'),
  Array.from({ length: 300 }, (_, i) =>
    i === 41 ? '  return total * (1 - order.coupon.percent / 100);' : `  // line ${i + 1}`,
  ).join('\n'),
);

if (!existsSync(file)) {
  const t0 = Date.now();
  const db = openStore(file);
  const insert = db.prepare(
    `INSERT INTO logs (ts, last_ts, count, level, message, template_id, err_type, err_message, stack, request_id, http_method, http_route, http_status, hostname)
     VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const stack =
    "TypeError: Cannot read properties of undefined (reading 'percent')\n    at charge (/srv/app/src/payment.js:42:20)\n    at handle (/srv/app/src/server.js:10:3)";
  const buckets = new Map();
  const span = 7 * 24 * 3_600_000;
  db.transaction(() => {
    for (let i = 0; i < N; i++) {
      const ts = AT - span + Math.floor((i / N) * span);
      const template = i % 10 === 0 ? TARGET : 100 + (i % 199);
      const error = template === TARGET || i % 7 === 0;
      insert.run(
        ts,
        ts,
        error ? 50 : 30,
        template === TARGET
          ? `charge failed for order ${i}: coupon missing`
          : `request ${i} handled in ${i % 900} ms by worker ${i % 8}`,
        template,
        error ? 'TypeError' : null,
        error ? "Cannot read properties of undefined (reading 'percent')" : null,
        template === TARGET ? stack : null,
        `req-${Math.floor(i / 3)}`,
        'POST',
        i % 3 === 0 ? '/api/checkout' : '/api/orders/:id/pay',
        error ? 500 : 200,
        `web-${i % 4}`,
      );
      const key = `${template}:${Math.floor(ts / 60_000)}`;
      buckets.set(key, (buckets.get(key) ?? 0) + 1);
    }
    const b = db.prepare('INSERT INTO template_buckets (template_id, minute, count) VALUES (?, ?, ?)');
    for (const [key, n] of buckets) {
      const [t, m] = key.split(':');
      b.run(Number(t), Number(m), n);
    }
    const tpl = db.prepare(
      `INSERT INTO templates (id, text, tokens, token_count, first_seen, last_seen, count, max_level, status) VALUES (?, ?, '[]', 6, ?, ?, ?, 50, 'known')`,
    );
    tpl.run(TARGET, 'charge failed for order <*>: coupon missing', AT - span, AT, N / 10);
    for (let t = 100; t < 299; t++)
      tpl.run(t, 'request <*> handled in <*> ms by worker <*>', AT - span, AT, Math.floor(N / 200));
    const metric = db.prepare(
      "INSERT INTO metrics (ts, service, scope, name, value) VALUES (?, 'svc', 'worker', ?, ?)",
    );
    for (let m = 0; m < 7 * 24 * 60; m += 1) {
      metric.run(AT - m * 60_000, 'cpu_percent', 20 + (m % 30));
      metric.run(AT - m * 60_000, 'rss_bytes', 1e8 + m * 1000);
    }
    const fix = db.prepare(
      `INSERT INTO fixes (pattern_id, pattern_hash, state, summary, reason, created_at, updated_at) VALUES ('7', 'h', 'rolled_back', 'guard coupon', 'error rate rose', ?, ?)`,
    );
    for (let i = 0; i < 3; i++) fix.run(AT - i * 86_400_000, AT);
  })();
  db.close();
  console.log(`built ${file} (${N} rows) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

const db = openStore(file, { readonly: true });
const input = {
  db,
  trigger: {
    id: 'bench',
    kind: 'spike',
    templateId: TARGET,
    urgent: false,
    numbers: { factor: 3 },
    reason: 'bench',
    at: AT,
  },
  worktree,
  policy: { protectedPaths: ['config/**'], maxFiles: 10, maxLines: 400, notes: ['gate: npm test'] },
  maxTokens: 12_000,
  redactor: createRedactor(),
  boundary: 'benchboundary',
  toolNames: ['search_logs'],
};
const times = [];
let brief;
for (let i = 0; i < 6; i++) {
  const t0 = process.hrtime.bigint();
  brief = await buildBrief(input);
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const cold = times[0];
const warm = times.slice(1).sort((a, b) => a - b)[2];
// Baseline: one indexed query that every brief needs (the newest 400 rows of the pattern).
const t0 = process.hrtime.bigint();
db.prepare('SELECT * FROM logs WHERE template_id = ? ORDER BY id DESC LIMIT 400').all(TARGET);
const baseline = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(
  `store: ${N} records; brief: ${brief.tokens} tokens, sections ${brief.sections.map((s) => `${s.id}:${s.status}`).join(' ')}`,
);
console.log(
  `buildBrief: cold ${cold.toFixed(0)} ms, warm median ${warm.toFixed(0)} ms (baseline: newest-400-rows query ${baseline.toFixed(1)} ms)`,
);
console.log(
  `load average: ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
db.close();
