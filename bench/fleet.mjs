// Fleet control plane (issue 19): three hosts on one real PostgreSQL 15.
// Usage: npm run build && node bench/fleet.mjs [--bugs 30] [--trials 20] [--seconds 30]
//          [--cluster-seconds 30] [--fix-timeout 300] [--skip-cluster]
// Measures: consultations per bug (three hosts triggering on the same bug at once), stop/NOTIFY
// latency to every host, leader failover, and the CPU and request latency the fleet side adds
// per host (heartbeat + counts + listener + leader), each against a baseline in the same run.
// Then with real `dancer run` supervisors (bench/fleet-cluster.mjs): the time from the first error
// on any host to the fix serving on all three with the fleet on, beside one host alone without
// the fleet (first error -> fix serving there) in the same run; and three hosts fleet off vs on:
// each supervisor's CPU, the request latency, consultations per bug.

import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  createFleetGate,
  listenFleet,
  migrateFleet,
  openFleetPool,
  setFleetWideStop,
  startFleetAgent,
  startLeaderElection,
} from '../dist/fleet/index.js';
import { openStore } from '../dist/store/open.js';
import { startPostgres } from '../dist/testing/postgres.js';
import { startTcpProxy } from '../dist/testing/tcp-proxy.js';
import { clusterBench } from './fleet-cluster.mjs';

const { values } = parseArgs({
  options: {
    bugs: { type: 'string', default: '30' },
    trials: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '30' },
    'cluster-seconds': { type: 'string', default: '30' },
    'fix-timeout': { type: 'string', default: '300' },
    'skip-cluster': { type: 'boolean', default: false },
  },
});
const BUGS = Number(values.bugs);
const TRIALS = Number(values.trials);
const SECONDS = Number(values.seconds);
const HOSTS = ['h1', 'h2', 'h3'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const f = (x) => (Math.round(x * 100) / 100).toString();

const pg = await startPostgres();
const dir = mkdtempSync(path.join(os.tmpdir(), 'dancer-bench-fleet-'));
try {
  const url = await pg.createDatabase('bench');
  const admin = openFleetPool(url);
  await migrateFleet(admin);
  const hosts = HOSTS.map((name) => ({ name, db: openStore(path.join(dir, `${name}.db`)), pool: openFleetPool(url) }));

  // 1. Consultations per bug: the three hosts' gates fire at once for each bug.
  const gates = hosts.map((h) =>
    createFleetGate({
      pool: h.pool,
      db: h.db,
      agent: { canAct: () => true },
      host: h.name,
      leaseSeconds: 60,
      cooldownMinutes: 30,
    }),
  );
  let consultations = 0;
  for (let b = 0; b < BUGS; b++) {
    const input = { patternId: String(b), templateText: `TypeError: bug ${b} <*>`, fingerprint: `fp${b}` };
    const ds = await Promise.all(gates.map((g) => g(input)));
    const won = ds.filter((d) => d.kind === 'consult');
    consultations += won.length;
    for (const w of won) await w.finish({ ok: true });
    // A second trigger per host later (the bug keeps happening): must not consult again.
    const late = await Promise.all(gates.map((g) => g(input)));
    consultations += late.filter((d) => d.kind === 'consult').length;
  }

  // 2. Stop latency: NOTIFY to every host's listener.
  const got = HOSTS.map(() => []);
  const listeners = HOSTS.map((_, i) => listenFleet({ url, log: () => {}, onSignal: () => got[i].push(Date.now()) }));
  while (!listeners.every((l) => l.connected())) await sleep(20);
  const stopLatency = [];
  for (let t = 0; t < TRIALS; t++) {
    for (const g of got) g.length = 0;
    const sent = Date.now();
    await setFleetWideStop(admin, 'h1', { engaged: t % 2 === 0, actor: 'bench', reason: 'bench' });
    while (!got.every((g) => g.length > 0)) await sleep(2);
    stopLatency.push(Math.max(...got.map((g) => g[0])) - sent);
    await sleep(50);
  }
  await Promise.all(listeners.map((l) => l.stop()));

  // 3. Leader failover: the leader's connection is cut (as when its process dies).
  const failover = [];
  for (let t = 0; t < Math.min(5, TRIALS); t++) {
    const proxies = await Promise.all(HOSTS.map(() => startTcpProxy(pg.port)));
    const els = HOSTS.map((h, i) =>
      startLeaderElection({
        url: url.replace(`:${pg.port}/`, `:${proxies[i].port}/`),
        host: h,
        leaseSeconds: 60,
        retryMs: 1000,
        log: () => {},
        onChange: () => {},
      }),
    );
    while (els.filter((e) => e.isLeader()).length !== 1) await sleep(10);
    const leader = els.findIndex((e) => e.isLeader());
    const cut = Date.now();
    await proxies[leader].cut('refuse');
    while (!els.some((e, i) => i !== leader && e.isLeader())) await sleep(5);
    failover.push(Date.now() - cut);
    await Promise.all(els.map((e) => e.stop()));
    await Promise.all(proxies.map((p) => p.close()));
  }

  // 4. Extra CPU and request latency per host: a loopback HTTP service measured without, then
  //    with, the fleet side of three hosts running in this process (heartbeat every second, so
  //    4x the default rate for leaseSeconds 60: an upper bound), while each host logs 100
  //    templates per minute into its store's buckets.
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const request = () =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
        })
        .on('error', reject);
    });
  const phase = async () => {
    const lat = [];
    const cpu0 = process.cpuUsage();
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      lat.push(await request());
      await sleep(20);
    }
    const c = process.cpuUsage(cpu0);
    return { lat, cpuMsPerMin: ((c.user + c.system) / 1000) * (60 / SECONDS) };
  };
  for (const h of hosts) {
    for (let t = 1; t <= 100; t++) {
      h.db
        .prepare(
          `INSERT OR IGNORE INTO templates (id, text, tokens, token_count, fingerprint, first_seen, last_seen) VALUES (?, ?, '[]', 1, '', 0, 0)`,
        )
        .run(t, `template ${t} <*>`);
    }
  }
  const feedCounts = () => {
    const minute = Math.floor(Date.now() / 60000);
    for (const h of hosts) {
      for (let t = 1; t <= 100; t++) {
        h.db
          .prepare(`INSERT INTO template_buckets (template_id, minute, count, n_error) VALUES (?, ?, 1, 0)
          ON CONFLICT(template_id, minute) DO UPDATE SET count = count + 1`)
          .run(t, minute);
      }
    }
  };
  const feeder = setInterval(feedCounts, 1000);
  const base = await phase();
  const fleetParts = hosts.map((h) => {
    const a = startFleetAgent({
      pool: h.pool,
      db: h.db,
      host: h.name,
      leaseSeconds: 60,
      heartbeatMs: 1000,
      log: () => {},
    });
    const l = listenFleet({ url, log: () => {}, onSignal: () => {} });
    const e = startLeaderElection({ url, host: h.name, leaseSeconds: 60, log: () => {}, onChange: () => {} });
    return { a, l, e };
  });
  const withFleet = await phase();
  clearInterval(feeder);
  for (const p of fleetParts) {
    await p.a.stop();
    await p.l.stop();
    await p.e.stop();
  }
  server.close();
  agent.destroy();

  const load = os.loadavg()[0].toFixed(2);
  const extraCpuPerHost = (withFleet.cpuMsPerMin - base.cpuMsPerMin) / HOSTS.length;
  console.log(`node ${process.version}, load average ${load}, ${os.cpus().length} cores`);
  console.log(`| figure | value |`);
  console.log(`|---|---|`);
  console.log(
    `| consultations per bug (3 hosts, ${BUGS} bugs, each triggering twice on every host) | ${f(consultations / BUGS)} (without the fleet: 3, one per host) |`,
  );
  console.log(
    `| stop -> NOTIFY received on all 3 hosts, ms (p50 / p95 / max of ${TRIALS}) | ${q(stopLatency, 0.5)} / ${q(stopLatency, 0.95)} / ${Math.max(...stopLatency)} |`,
  );
  console.log(
    `| leader connection cut -> another host leads, ms (p50 / max of ${failover.length}; retry every 1000 ms) | ${q(failover, 0.5)} / ${Math.max(...failover)} |`,
  );
  console.log(
    `| process CPU, ms per minute: baseline / with 3 hosts' fleet side | ${f(base.cpuMsPerMin)} / ${f(withFleet.cpuMsPerMin)} |`,
  );
  console.log(
    `| extra CPU per host, ms per minute (% of one core) | ${f(extraCpuPerHost)} (${f(extraCpuPerHost / 600)} %) |`,
  );
  console.log(`| request latency p50 / p99, ms: baseline | ${f(q(base.lat, 0.5))} / ${f(q(base.lat, 0.99))} |`);
  console.log(
    `| request latency p50 / p99, ms: with the fleet side (ratio p50) | ${f(q(withFleet.lat, 0.5))} / ${f(q(withFleet.lat, 0.99))} (${f(q(withFleet.lat, 0.5) / q(base.lat, 0.5))}x) |`,
  );
  for (const h of hosts) {
    await h.pool.end();
    h.db.close();
  }
  await admin.end();
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}

if (!values['skip-cluster']) {
  const { solo, off, on } = await clusterBench({
    seconds: Number(values['cluster-seconds']),
    fixTimeoutSeconds: Number(values['fix-timeout']),
    log: (m) => process.stderr.write(`bench: ${m}\n`),
  });
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const cpuOff = mean(off.cpuMsPerMin);
  const cpuOn = mean(on.cpuMsPerMin);
  const fixTime = (p) =>
    p.fixAllSeconds === undefined
      ? `not reached in ${values['fix-timeout']} s (serving the fix at the end: ${p.servingAtEnd.join(', ') || 'none'})`
      : `${f(p.fixAllSeconds)} s`;
  const ratio =
    on.fixAllSeconds !== undefined && solo.fixAllSeconds !== undefined
      ? `${f(on.fixAllSeconds / solo.fixAllSeconds)}x`
      : '';
  console.log('');
  console.log(`three \`dancer run\` supervisors, node ${process.version}, load average ${os.loadavg()[0].toFixed(2)}`);
  console.log(
    '| figure | 1 host, no fleet (baseline) | fleet off (3 independent hosts) | fleet on (3 hosts) | ratio |',
  );
  console.log('|---|---|---|---|---|');
  console.log(
    `| first error on any host -> fix serving on all hosts | ${fixTime(solo)} | ${fixTime(off)} | ${fixTime(on)} | on/baseline ${ratio} |`,
  );
  console.log(
    `| consultations for the one bug (per bug) | ${solo.consultations} | ${off.consultations} | ${on.consultations} | |`,
  );
  console.log(
    `| supervisor CPU per host, ms per minute (mean, ${values['cluster-seconds']} s of healthy traffic at 20 req/s each) | ${f(mean(solo.cpuMsPerMin))} | ${f(cpuOff)} | ${f(cpuOn)} | on/off ${f(cpuOn / cpuOff)}x (+${f(cpuOn - cpuOff)} ms/min, ${f((cpuOn - cpuOff) / 600)} % of a core) |`,
  );
  console.log(
    `| request latency p50 / p99, ms (sequential probe per host) | ${f(q(solo.lat, 0.5))} / ${f(q(solo.lat, 0.99))} | ${f(q(off.lat, 0.5))} / ${f(q(off.lat, 0.99))} | ${f(q(on.lat, 0.5))} / ${f(q(on.lat, 0.99))} | on/off ${f(q(on.lat, 0.5) / q(off.lat, 0.5))}x / ${f(q(on.lat, 0.99) / q(off.lat, 0.99))}x |`,
  );
  console.log(
    `| failed requests (no HTTP answer), all hosts, whole phase | ${solo.failed} | ${off.failed} | ${on.failed} | |`,
  );
  for (const [name, p] of Object.entries({ solo, off, on })) {
    for (const line of p.failures) console.log(`failed (${name}): ${line}`);
  }
}
