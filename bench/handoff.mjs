#!/usr/bin/env node
// Zero-downtime handoff benchmark: a steady keep-alive load (autocannon, loopback, bounded rate)
// against an example HTTP service under `dancer run`, during 10 consecutive reloads and 3
// rollbacks. Reports failed requests, connection resets, p99 latency during and outside
// handoffs, time to rollback and the supervisor's RSS, and appends them to bench/RESULTS.md.
//
//   npm run build && node bench/handoff.mjs [--rate 1000] [--connections 8] [--reloads 10] [--rollbacks 3]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { controlRequest } from '../dist/supervise/control.js';
import { rssOf, waitRunning } from './supervisor-probe.mjs';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const ROOT = path.resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '8' },
    reloads: { type: 'string', default: '10' },
    rollbacks: { type: 'string', default: '3' },
    'no-write': { type: 'boolean', default: false },
  },
});
const rate = Number(args.rate);
const connections = Number(args.connections);
const reloads = Number(args.reloads);
const rollbacks = Number(args.rollbacks);

// --- the example service, in a git repo with two commits ---------------------------------------
const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-handoff-'));
const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'b',
  GIT_AUTHOR_EMAIL: 'b@b',
  GIT_COMMITTER_NAME: 'b',
  GIT_COMMITTER_EMAIL: 'b@b',
};
const git = (...a) => spawnSync('git', a, { cwd: dir, env: gitEnv, encoding: 'utf8' }).stdout.trim();
writeFileSync(
  path.join(dir, 'app.mjs'),
  `import http from 'node:http';
import { listen } from ${JSON.stringify(path.join(ROOT, 'dist/supervise/listen.js'))};
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, hello: 'world' }));
});
server.keepAliveTimeout = 30000;
await listen(server);
`,
);
writeFileSync(
  path.join(dir, 'dancer.yaml'),
  `service:
  name: bench
  start: node app.mjs
  listen: [{ name: http, port: 0, host: 127.0.0.1 }]
  readiness: { http: { path: /healthz }, timeoutSeconds: 10 }
  drainSeconds: 5
  releasesDir: .dancer/releases
  observe: { windowSeconds: 1, checkEverySeconds: 0.25, minRecords: 0 }
store: { path: .dancer/dancer.db }
capture: { tee: none }
fixes: { worktreeBase: .dancer/worktrees } # in the bench's folder, not /var/dancer as root
`,
);
writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
git('init', '-q', '-b', 'main');
git('add', '-A');
git('commit', '-q', '-m', 'v1');
// v2 is new code on a branch (dancer run starts on HEAD, v1); its tree must differ, since a
// deploy of the tree already serving is a no-op (`unchanged`)
git('checkout', '-q', '-b', 'v2');
writeFileSync(path.join(dir, 'VERSION'), '2\n');
git('add', '-A');
git('commit', '-q', '-m', 'v2');
const v2 = git('rev-parse', 'HEAD');
git('checkout', '-q', 'main');

const supervisor = spawn(
  process.execPath,
  [path.join(ROOT, 'bin/dancer.js'), 'run', '--config', path.join(dir, 'dancer.yaml')],
  {
    stdio: ['ignore', 'ignore', 'pipe'],
  },
);
let supervisorErr = '';
supervisor.stderr.on('data', (d) => {
  supervisorErr += d.toString();
});
const controlSocket = path.join(dir, '.dancer/bench/control.sock');
const ask = (cmd, a = {}) => controlRequest(controlSocket, cmd, a, 120_000);

async function cleanup() {
  if (supervisor.exitCode === null) {
    supervisor.kill('SIGTERM');
    await new Promise((r) => supervisor.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
}

const status = await waitRunning(ask, supervisor, 20_000, 100);
if (status?.state !== 'running') {
  process.stderr.write(`supervisor did not start:\n${supervisorErr}\n`);
  await cleanup();
  process.exit(1);
}
const port = status.sockets[0].port;
// Build and deploy v2 before the load, so that rollbacks have a built release to go back to.
const deployed = await ask('deploy', { ref: v2 });
if (deployed.status !== 'succeeded') throw new Error(`deploy of v2: ${JSON.stringify(deployed)}`);

let maxSupervisorRss = 0;
const rssTimer = setInterval(() => {
  maxSupervisorRss = Math.max(maxSupervisorRss, rssOf(supervisor.pid));
}, 500);

// --- load ----------------------------------------------------------------------------------------
const samples = []; // [endTimeMs, latencyMs]
const errors = {};
const windows = []; // [start, end] of each handoff
const loadSeconds = Math.max(25, Math.ceil((20_000 / rate) * 1.2) + 5 + reloads * 1.5 + rollbacks * 1.5);
const instance = autocannon({
  url: `http://127.0.0.1:${port}/`,
  connections,
  pipelining: 1,
  overallRate: rate,
  duration: loadSeconds,
  timeout: 10,
});
instance.on('response', (_client, _status, _bytes, responseTime) => {
  samples.push([Date.now(), responseTime]);
});
instance.on('reqError', (error) => {
  const key = error?.code ?? error?.message ?? String(error);
  errors[key] = (errors[key] ?? 0) + 1;
});
const result = new Promise((resolve) => instance.on('done', resolve));

await delay(3000); // steady state before the first handoff
const reloadMs = [];
for (let i = 0; i < reloads; i++) {
  const t0 = Date.now();
  const r = await ask('reload');
  windows.push([t0, Date.now()]);
  reloadMs.push({ total: Date.now() - t0, ready: r.readyMs });
  await delay(500);
}
const rollbackMs = [];
for (let i = 0; i < rollbacks; i++) {
  const t0 = Date.now();
  const r = await ask('rollback', { reason: `bench ${i + 1}` });
  windows.push([t0, Date.now()]);
  rollbackMs.push({ total: Date.now() - t0, ready: r.readyMs, to: r.to.slice(0, 12) });
  await delay(500);
}
const res = await result;
clearInterval(rssTimer);
const finalRss = rssOf(supervisor.pid);
await cleanup();

// --- figures -------------------------------------------------------------------------------------
const pct = (values, p) => {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const during = [];
const outside = [];
for (const [t, lat] of samples) {
  // a response belongs to a handoff window when its request was in flight during it
  (windows.some(([a, b]) => t >= a && t - lat <= b) ? during : outside).push(lat);
}
const round = (x) => Math.round(x * 10) / 10;
const resets = Object.entries(errors)
  .filter(([k]) => /ECONNRESET|EPIPE|socket hang up/i.test(k))
  .reduce((n, [, v]) => n + v, 0);
const failed = res.errors + res.timeouts + res.non2xx;
const summary = {
  requests: res.requests.total,
  ok2xx: res['2xx'],
  failed,
  errors: res.errors,
  timeouts: res.timeouts,
  non2xx: res.non2xx,
  resets: Math.max(resets, res.resets ?? 0),
  errorKinds: errors,
  rate,
  connections,
  durationSeconds: loadSeconds,
  reloads: reloadMs.length,
  rollbacks: rollbackMs.length,
  p50Outside: round(pct(outside, 50)),
  p99Outside: round(pct(outside, 99)),
  p50During: round(pct(during, 50)),
  p99During: round(pct(during, 99)),
  maxDuring: round(Math.max(...during)),
  loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  reloadMsMedian: pct(
    reloadMs.map((r) => r.total),
    50,
  ),
  reloadReadyMsMedian: pct(
    reloadMs.map((r) => r.ready),
    50,
  ),
  rollbackMs,
  supervisorRssMiB: +(finalRss / 1048576).toFixed(1),
  supervisorMaxRssMiB: +(maxSupervisorRss / 1048576).toFixed(1),
};
console.log(JSON.stringify(summary, null, 2));

if (!args['no-write']) {
  const file = path.join(ROOT, 'bench/RESULTS.md');
  const heading = '## Handoff: reloads and rollbacks under load';
  const body = `${heading}

\`npm run build && node bench/handoff.mjs --rate ${rate} --connections ${connections} --reloads ${reloads} --rollbacks ${rollbacks}\`
(${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os()}; the machine was shared with other work:
load average ${summary.loadAverage} at the end, so absolute latencies mostly measure CPU contention; compare during vs outside)

autocannon, ${connections} keep-alive connections, ${rate} req/s for ${loadSeconds} s against a plain \`node:http\` service
using \`dancer/listen\`, under \`dancer run\` (socket mode: the supervisor holds the socket, workers inherit fd 3).
During the load: ${reloadMs.length} consecutive \`reload\`s, then ${rollbackMs.length} \`rollback\`s (no rebuild), each 0.5 s apart.

| figure | value | baseline / target |
| --- | --- | --- |
| requests | ${summary.requests} | >= 20 000 |
| failed (errors + timeouts + non-2xx) | ${failed} | 0 |
| connection resets | ${summary.resets} | 0 (Node 19+ \`server.close()\` alone: 1 per keep-alive client per handoff) |
| p50 / p99 latency outside handoffs | ${summary.p50Outside} / ${summary.p99Outside} ms | |
| p50 / p99 latency during handoffs | ${summary.p50During} / ${summary.p99During} ms (max ${summary.maxDuring}) | |
| reload (start, ready, drain old), median | ${summary.reloadMsMedian} ms (ready after ${summary.reloadReadyMsMedian} ms) | |
| rollback: serving from the previous release | ${rollbackMs.map((r) => `${r.ready} ms`).join(', ')} (whole call incl. drain: ${rollbackMs.map((r) => `${r.total} ms`).join(', ')}) | <= 2 000 ms |
| supervisor RSS (end / max) | ${summary.supervisorRssMiB} / ${summary.supervisorMaxRssMiB} MiB | |
`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const start = text.indexOf(heading);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + heading.length);
    text = text.slice(0, start) + body + (next >= 0 ? `\n${text.slice(next + 1)}` : '');
  } else {
    text = `${text.trimEnd()}\n\n${body}`;
  }
  writeFileSync(file, text);
}
if (failed > 0 || summary.resets > 0) process.exitCode = 1;

function os() {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? '?';
  return `${cpus} CPUs`;
}
