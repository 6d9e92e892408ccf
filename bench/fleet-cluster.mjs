// The fleet with three real supervisors (issue 19), for bench/fleet.mjs: test/fleet/cluster.ts
// (loaded through Vite's module runner: it is TypeScript) runs three `dancer run` hosts, one
// PostgreSQL and one scripted model server. Each phase runs once with the fleet off (three
// independent hosts, no `fleet:` section) and once with it on, in the same run, plus a baseline of
// one host alone without the fleet (the single-host time from the first error to the fix serving):
//   1. healthy traffic for `seconds`: each supervisor's CPU (from /proc) and the request latency
//      of a sequential probe per host;
//   2. the shop's latent bug on all three hosts at once: consultations (distinct fix worktrees at
//      the model server) and the time from the first 500 on any host to the fix serving on all
//      three (a sku-less request answered 200 everywhere).

import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, createServerModuleRunner } from 'vite';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICK_MS = 10; // USER_HZ 100

/** CPU ms (user + system) of `pid` so far. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** Sequential GETs to `port` until `until`, each timed (ms). */
async function probe(port, until) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const lat = [];
  while (Date.now() < until) {
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/price?sku=a1', agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', resolve);
    });
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await sleep(50);
  }
  agent.destroy();
  return lat;
}

const healthy = (i) =>
  i % 25 === 0
    ? { method: 'GET', path: '/healthz', kind: 'health' }
    : { method: 'GET', path: `/price?sku=${['a1', 'B2', 'c3'][i % 3]}`, kind: 'plain' };

/** One phase (fleet on or off). */
async function phase(mod, { fleet, hosts, seconds, fixTimeoutSeconds, log }) {
  const { Cluster } = mod.cluster;
  const { goodFix } = mod.agent;
  const { shopTraffic } = mod.fixture;
  const c = await Cluster.start({ scenario: goodFix(), noFleet: !fleet, ...(hosts ? { hosts } : {}) });
  try {
    await c.startAll();
    if (fleet) await c.joined();
    c.startTraffic(healthy);
    await sleep(5000); // warm-up: workers ready, first heartbeats, counts shipped
    const pids = c.hosts.map((h) => h.stack.supervisor.pid);
    const cpu0 = pids.map(cpuMs);
    const until = Date.now() + seconds * 1000;
    const lats = await Promise.all(c.hosts.map((h) => probe(h.stack.port, until)));
    const cpu = pids.map((p, i) => ((cpuMs(p) - cpu0[i]) * 60) / seconds);
    const name = `${c.hosts.length} host(s), fleet ${fleet ? 'on' : 'off'}`;
    log(`${name}: healthy phase measured`);

    for (const h of c.hosts) h.stack.traffic.setNext(shopTraffic);
    const deadline = Date.now() + fixTimeoutSeconds * 1000;
    let allAt;
    let serving = [];
    while (Date.now() < deadline) {
      serving = await c.servingFix();
      const firsts = c.hosts.map((h) => h.stack.traffic.stats().firstServerErrorAt).filter(Boolean);
      if (firsts.length > 0 && serving.length === c.hosts.length) {
        allAt = Date.now();
        break;
      }
      await sleep(500);
    }
    const firstError = Math.min(...c.hosts.map((h) => h.stack.traffic.stats().firstServerErrorAt ?? Infinity));
    const stats = c.trafficStats();
    const failed = Object.values(stats).reduce((n, s) => n + (s?.failed ?? 0), 0);
    // Every failed request (no HTTP answer) with its host, time and reason, to line up with the logs.
    const failures = Object.entries(stats).flatMap(([host, s]) =>
      (s?.failedAt ?? []).map(
        (x) => `${host} ${new Date(x.sentAt).toISOString()} ${x.reason} after ${x.at - x.sentAt} ms`,
      ),
    );
    log(
      `${name}: ${allAt === undefined ? 'fix not serving everywhere' : `fix serving on all after ${(allAt - firstError) / 1000} s`}; failed requests: ${failures.join('; ') || 'none'}`,
    );
    return {
      hosts: c.hosts.length,
      failures,
      cpuMsPerMin: cpu,
      lat: lats.flat(),
      consultations: c.consultationsSeen().length,
      fixAllSeconds: allAt === undefined ? undefined : (allAt - firstError) / 1000,
      servingAtEnd: serving,
      failed,
    };
  } finally {
    await c.stop();
  }
}

/** Run both phases; returns the rows for bench/RESULTS.md. */
export async function clusterBench({ seconds, fixTimeoutSeconds, log = () => {} }) {
  const server = await createServer({
    root: ROOT,
    configFile: false,
    logLevel: 'error',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false },
  });
  const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
  try {
    const mod = {
      cluster: await runner.import('/test/fleet/cluster.ts'),
      agent: await runner.import('/test/faults/agent.ts'),
      fixture: await runner.import('/test/faults/fixture.ts'),
    };
    const solo = await phase(mod, { fleet: false, hosts: ['web-1'], seconds, fixTimeoutSeconds, log });
    const off = await phase(mod, { fleet: false, seconds, fixTimeoutSeconds, log });
    const on = await phase(mod, { fleet: true, seconds, fixTimeoutSeconds, log });
    mod.fixture.removeTemplate();
    return { solo, off, on };
  } finally {
    await runner.close();
    await server.close();
  }
}
