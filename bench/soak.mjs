#!/usr/bin/env node
// Soak benchmark: a plain HTTP service under `dancer run` for a long time, with steady traffic,
// periodic errors (a few recurring error shapes, plus a brand-new one now and then) and periodic
// deploys of a new commit. Samples the supervisor's RSS and the store's size on disk (database +
// WAL) every few seconds and reports the RSS slope (MB/hour, least squares over the samples after
// the warm-up) and the db growth, so a leak or an unbounded table shows as a slope, not a guess.
//
//   npm run build && node bench/soak.mjs [--minutes 30] [--rate 50] [--deploy-every 180]
//        [--error-every 20] [--sample-every 5] [--max-db-mb 16] [--out /tmp/soak.json]
//
// --max-db-mb sets store.retention.maxBytes (retention every 30 s), so a long run also exercises
// retention: the db should grow to that bound and stay there.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { controlRequest } from '../dist/supervise/control.js';
import { cpuOf, rssOf, sizeOf, waitRunning } from './supervisor-probe.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '50' },
    'deploy-every': { type: 'string', default: '180' },
    'error-every': { type: 'string', default: '20' },
    'sample-every': { type: 'string', default: '5' },
    'warmup-seconds': { type: 'string', default: '60' },
    'max-db-mb': { type: 'string', default: '16' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const minutes = Number(args.minutes);
const rate = Number(args.rate);
const deployEvery = Number(args['deploy-every']);
const errorEvery = Number(args['error-every']);
const sampleEvery = Number(args['sample-every']);
const warmupSeconds = Number(args['warmup-seconds']);
const maxDbBytes = Math.round(Number(args['max-db-mb']) * 1024 * 1024);

// --- the service, in a git repo; each deploy commits a new VERSION ------------------------------
const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-soak-'));
const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'b',
  GIT_AUTHOR_EMAIL: 'b@b',
  GIT_COMMITTER_NAME: 'b',
  GIT_COMMITTER_EMAIL: 'b@b',
};
const git = (...a) => {
  const r = spawnSync('git', a, { cwd: dir, env: gitEnv, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${a.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
const appSource = (version) => `import http from 'node:http';
import { listen } from ${JSON.stringify(path.join(ROOT, 'dist/supervise/listen.js'))};
const VERSION = ${version};
const log = (level, msg, extra = {}) =>
  process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, msg, v: VERSION, ...extra }) + '\\n');
class PaymentError extends Error { name = 'PaymentError'; }
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const url = new URL(req.url, 'http://x');
  const i = Number(url.searchParams.get('i') ?? 0);
  const kind = url.searchParams.get('err');
  if (kind) {
    // recurring shapes, and now and then a new message (a new pattern for the miner)
    const err = kind === 'pay' ? new PaymentError('card declined for order ' + i)
      : kind === 'db' ? new Error('connect ECONNREFUSED 10.0.0.' + (i % 7) + ':5432')
      : new TypeError('Cannot read properties of undefined (reading \\'field' + (i % 50) + '\\')');
    log(50, err.message, { err: { type: err.name, message: err.message, stack: err.stack } });
    if (kind === 'db') process.stderr.write(err.stack + '\\n');
    res.statusCode = 500;
    return res.end('error');
  }
  log(30, 'request', { method: req.method, path: url.pathname, i, user: 'u' + (i % 1000), ms: i % 37 });
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ ok: true, v: VERSION }));
});
server.keepAliveTimeout = 30000;
await listen(server);
log(30, 'listening', { v: VERSION });
`;
writeFileSync(path.join(dir, 'app.mjs'), appSource(1));
writeFileSync(
  path.join(dir, 'dancer.yaml'),
  `service:
  name: soak
  start: node app.mjs
  listen: [{ name: http, port: 0, host: 127.0.0.1 }]
  readiness: { http: { path: /healthz }, timeoutSeconds: 20 }
  drainSeconds: 2
  observe: { windowSeconds: ${Math.max(5, Math.min(60, Math.floor(deployEvery / 3)))}, baselineSeconds: ${Math.max(10, Math.min(300, deployEvery))}, checkEverySeconds: 2 }
  releasesDir: .dancer/releases
store:
  path: .dancer/dancer.db
  retention: { maxBytes: ${maxDbBytes}, intervalSeconds: 30 }
capture: { tee: none }
fixes: { worktreeBase: .dancer/worktrees } # in the bench's folder, not /var/dancer as root
`,
);
writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
git('init', '-q', '-b', 'main');
git('add', '-A');
git('commit', '-q', '-m', 'v1');

const supervisor = spawn(
  process.execPath,
  [path.join(ROOT, 'bin/dancer.js'), 'run', '--config', path.join(dir, 'dancer.yaml')],
  { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
);
let supervisorErr = '';
supervisor.stderr.on('data', (d) => {
  supervisorErr = (supervisorErr + d.toString()).slice(-20_000);
});
const controlSocket = path.join(dir, '.dancer/soak/control.sock');
const ask = (cmd, a = {}) => controlRequest(controlSocket, cmd, a, 300_000);

async function cleanup() {
  if (supervisor.exitCode === null) {
    supervisor.kill('SIGTERM');
    await new Promise((r) => supervisor.once('exit', r));
  }
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
}

const status = await waitRunning(ask, supervisor, 30_000, 200);
if (status?.state !== 'running') {
  process.stderr.write(`supervisor did not start:\n${supervisorErr}\n`);
  await cleanup();
  process.exit(1);
}
const port = status.sockets[0].port;

// --- samplers ----------------------------------------------------------------------------------
const dbFile = path.join(dir, '.dancer/dancer.db');
const t0 = Date.now();
const samples = []; // { t (s), rss (bytes), db (bytes), cpu (s) }
const sample = () =>
  samples.push({
    t: (Date.now() - t0) / 1000,
    rss: rssOf(supervisor.pid),
    db: sizeOf(dbFile) + sizeOf(`${dbFile}-wal`),
    cpu: cpuOf(supervisor.pid),
  });
sample();
const sampleTimer = setInterval(sample, sampleEvery * 1000);

// --- traffic -----------------------------------------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const counts = { sent: 0, ok: 0, http5xx: 0, failed: 0, errorsAsked: 0 };
const failedKinds = {};
let i = 0;
const send = () => {
  i++;
  let q = `/?i=${i}`;
  if (i % errorEvery === 0) {
    const kinds = ['pay', 'db', 'type'];
    q += `&err=${kinds[(i / errorEvery) % 3]}`;
    counts.errorsAsked++;
  }
  counts.sent++;
  const req = http.get({ host: '127.0.0.1', port, path: q, agent, timeout: 10_000 }, (res) => {
    res.resume();
    res.on('end', () => {
      if (res.statusCode === 200) counts.ok++;
      else if (res.statusCode >= 500 && q.includes('err=')) counts.http5xx++;
      else {
        counts.failed++;
        failedKinds[`status ${res.statusCode}`] = (failedKinds[`status ${res.statusCode}`] ?? 0) + 1;
      }
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => {
    counts.failed++;
    const k = e.code ?? e.message;
    failedKinds[k] = (failedKinds[k] ?? 0) + 1;
  });
};
const trafficTimer = setInterval(() => {
  // 10 ticks a second keeps the rate smooth without a timer per request
  for (let k = 0; k < rate / 10; k++) send();
}, 100);

// --- deploys -----------------------------------------------------------------------------------
const deploys = [];
let version = 1;
const endAt = t0 + minutes * 60_000;
const progressEvery = Math.max(30, Math.min(300, minutes * 6));
let lastProgress = Date.now();
while (Date.now() < endAt) {
  const nextDeploy = Date.now() + deployEvery * 1000;
  while (Date.now() < Math.min(nextDeploy, endAt)) {
    await delay(1000);
    if (supervisor.exitCode !== null) break;
    if (Date.now() - lastProgress >= progressEvery * 1000) {
      lastProgress = Date.now();
      const s = samples.at(-1);
      process.stderr.write(
        `[soak] ${(s.t / 60).toFixed(1)} min: rss ${(s.rss / 1048576).toFixed(1)} MiB, db ${(s.db / 1048576).toFixed(1)} MiB, ${counts.sent} requests, ${deploys.length} deploys\n`,
      );
    }
  }
  if (supervisor.exitCode !== null || Date.now() >= endAt) break;
  version++;
  writeFileSync(path.join(dir, 'app.mjs'), appSource(version));
  git('commit', '-q', '-am', `v${version}`);
  const ref = git('rev-parse', 'HEAD');
  const started = Date.now();
  const r = await ask('deploy', { ref }).catch((e) => ({ status: 'error', error: String(e) }));
  deploys.push({
    version,
    status: r.status,
    ms: Date.now() - started,
    detail: r.status === 'succeeded' ? undefined : r,
  });
}
clearInterval(trafficTimer);
await delay(2000);
sample();
clearInterval(sampleTimer);
const supervisorAlive = supervisor.exitCode === null;

// rows in the store at the end (read-only; WAL readers do not block the writer)
let rows = {};
try {
  const db = new Database(dbFile, { readonly: true });
  for (const t of ['logs', 'templates', 'dropped', 'deploys', 'fixes']) {
    try {
      rows[t] = db.prepare(`SELECT count(*) AS n FROM ${t}`).get().n;
    } catch {}
  }
  db.close();
} catch (e) {
  rows = { error: String(e) };
}
await cleanup();

// --- figures -----------------------------------------------------------------------------------
/** Least-squares slope of y over x. */
const slope = (pts) => {
  const n = pts.length;
  if (n < 2) return NaN;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n;
  const my = pts.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
};
const MiB = 1048576;
const steady = samples.filter((s) => s.t >= warmupSeconds);
const secondHalf = samples.filter((s) => s.t >= samples.at(-1).t / 2);
const rssSlope = (pts) => +(slope(pts.map((s) => [s.t / 3600, s.rss / MiB])) || 0).toFixed(2);
const first = steady[0] ?? samples[0];
const last = samples.at(-1);
const summary = {
  minutes,
  rate,
  deployEverySeconds: deployEvery,
  errorEvery,
  maxDbMiB: +(maxDbBytes / MiB).toFixed(1),
  supervisorAlive,
  requests: counts,
  failedKinds,
  deploys: {
    total: deploys.length,
    succeeded: deploys.filter((d) => d.status === 'succeeded').length,
    medianMs: deploys.map((d) => d.ms).sort((a, b) => a - b)[Math.floor(deploys.length / 2)],
    notSucceeded: deploys.filter((d) => d.status !== 'succeeded'),
  },
  samples: samples.length,
  rssMiB: {
    start: +(samples[0].rss / MiB).toFixed(1),
    afterWarmup: +(first.rss / MiB).toFixed(1),
    end: +(last.rss / MiB).toFixed(1),
    max: +(Math.max(...samples.map((s) => s.rss)) / MiB).toFixed(1),
  },
  rssSlopeMiBPerHour: rssSlope(steady),
  rssSlopeSecondHalfMiBPerHour: rssSlope(secondHalf),
  dbMiB: {
    afterWarmup: +(first.db / MiB).toFixed(2),
    end: +(last.db / MiB).toFixed(2),
    max: +(Math.max(...samples.map((s) => s.db)) / MiB).toFixed(2),
  },
  dbSlopeMiBPerHour: +(slope(steady.map((s) => [s.t / 3600, s.db / MiB])) || 0).toFixed(2),
  dbSlopeSecondHalfMiBPerHour: +(slope(secondHalf.map((s) => [s.t / 3600, s.db / MiB])) || 0).toFixed(2),
  supervisorCpuSeconds: +last.cpu.toFixed(1),
  supervisorCpuPercent: +((100 * last.cpu) / last.t).toFixed(1),
  rows,
  loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  node: process.version,
};
const json = JSON.stringify({ summary, samples }, null, 1);
if (args.out) writeFileSync(args.out, json);
console.log(JSON.stringify(summary, null, 2));
if (!supervisorAlive) {
  process.stderr.write(`supervisor exited early (${supervisor.exitCode}):\n${supervisorErr}\n`);
  process.exitCode = 1;
}
if (counts.failed > 0) process.exitCode = 1;
