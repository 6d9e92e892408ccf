#!/usr/bin/env node
// What the `tee -p` log relay of socket-activated `dancer run` costs (src/supervise/worker.ts).
// The same service under the same config is run two ways, alternating in the same call:
//   plain:     `dancer run` binds the port itself: the worker writes into the supervisor's pipe.
//   inherited: a launcher binds the port and passes it as fd 3 (LISTEN_FDS=1, as systemd's
//              .socket unit does): the worker's stdout/stderr go through a `tee -p` relay each.
// Workloads (every log line is a pino JSON line carrying a sequence number `seq`):
//   flood: pino (sync destination on fd 1) logs --lines lines as fast as it can.
//   rate:  an HTTP service logs one line per request; --rate requests/s for --seconds s.
//   kill:  (inherited only) the worker logs --kill-rate lines/s by timer; the supervisor is
//          killed -9, nothing reads for --gap s, a new supervisor is launched and drains the
//          orphan: what happened to the lines written meanwhile, and did the worker block.
// Figures: lines the supervisor stored (+ counted as dropped by its overload guard), the time
// until the last one was stored, the CPU seconds of supervisor + relays + worker over that time
// (from /proc), and a check that the stored lines are complete and in order (by `seq`).
//
//   npm run build && nice -n 10 node bench/log-relay.mjs [--workload flood|rate|kill|all]
//     [--rounds 3] [--lines 200000] [--rate 1000] [--seconds 10] [--kill-rate 1000] [--gap 5]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { freePort, startTraffic } from '../dist/demo/traffic.js';
import { bindSockets } from '../dist/supervise/sockets.js';
import { cpuOf } from './supervisor-probe.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    workload: { type: 'string', default: 'all' },
    rounds: { type: 'string', default: '3' },
    lines: { type: 'string', default: '200000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    'kill-rate': { type: 'string', default: '1000' },
    gap: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);

// The worker: an HTTP service on fd 3 (LISTEN_FDS, both modes) logging with real pino to fd 1.
// GET /flood?n=N logs N lines as fast as it can; GET /work logs one line; GET /tick?rate=R logs R
// lines/s by timer. Every line carries seq (this process's counter). It writes what it did
// (lines, seconds, its own CPU, the longest single log call) to $RELAY_OUT/worker-<pid>.json.
const WORKER = `
const http = require('node:http');
const fs = require('node:fs');
const pino = require(process.env.RELAY_PINO);
const log = pino({ name: 'relaybench' }, pino.destination({ dest: 1, sync: true }));
let seq = 0;
let maxCallMs = 0;
let written = 0;
const report = (extra) => fs.writeFileSync(process.env.RELAY_OUT + '/worker-' + process.pid + '.json',
  JSON.stringify({ pid: process.pid, seq, written, maxCallMs, cpu: process.cpuUsage(), ...extra }));
function one(msg, fields) {
  const t = performance.now();
  log.info({ seq: seq++, ...fields }, msg);
  written++;
  const ms = performance.now() - t;
  if (ms > maxCallMs) maxCallMs = ms;
}
let ticker;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/healthz') return res.end('ok');
  if (url.pathname === '/work') {
    one('request handled', { path: '/work', i: Number(url.searchParams.get('i')), user: 'u-1', ms: 3 });
    return res.end('done');
  }
  if (url.pathname === '/flood') {
    const n = Number(url.searchParams.get('n'));
    res.end(String(process.pid));
    setImmediate(() => {
      const t0 = Date.now();
      for (let k = 0; k < n; k++) one('request handled', { path: '/orders', user: 'u-1', ms: k % 97 });
      log.warn({ seq: seq++, marker: 'end' }, 'flood end');
      written++;
      report({ floodMs: Date.now() - t0 });
    });
    return;
  }
  if (url.pathname === '/tick') {
    const rate = Number(url.searchParams.get('rate'));
    const t0 = Date.now();
    let due = 0;
    ticker = setInterval(() => {
      const want = Math.floor(((Date.now() - t0) * rate) / 1000);
      while (due < want) { one('tick', { path: '/tick' }); due++; }
    }, 10);
    setInterval(() => report({}), 100).unref();
    return res.end(String(process.pid));
  }
  if (url.pathname === '/pid') return res.end(String(process.pid));
  if (url.pathname === '/count') {
    // Asked right before the kill: from here on maxCallMs is the longest call after it.
    const before = maxCallMs;
    maxCallMs = 0;
    return res.end(JSON.stringify({ written, maxCallMs: before }));
  }
  res.statusCode = 404;
  res.end();
});
server.listen({ fd: 3 });
process.on('SIGTERM', () => {
  clearInterval(ticker);
  report({ exitedAt: Date.now() });
  server.close();
  process.exit(0);
});
`;

function setup(port) {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-relay-'));
  writeFileSync(path.join(dir, 'worker.cjs'), WORKER);
  writeFileSync(
    path.join(dir, 'dancer.yaml'),
    `service:
  name: relaybench
  start: node worker.cjs
  listen: [{ name: http, host: 127.0.0.1, port: ${port} }]
  readiness: { http: { path: /healthz }, timeoutSeconds: 30 }
  drainSeconds: 2
  releasesDir: .dancer/releases
  env: { RELAY_OUT: ${JSON.stringify(dir)}, RELAY_PINO: ${JSON.stringify(path.join(ROOT, 'node_modules/pino'))} }
store: { path: .dancer/dancer.db }
capture: { tee: none }
fixes: { worktreeBase: .dancer/worktrees } # in the bench's folder, not /var/dancer
`,
  );
  return dir;
}

/** `dancer run`, either binding the port itself or handed `held` as fd 3 (socket activation). */
function launch(dir, held) {
  const argv = [path.join(ROOT, 'bin/dancer.js'), 'run', '--config', path.join(dir, 'dancer.yaml')];
  const script =
    'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http; export LISTEN_PID LISTEN_FDS LISTEN_FDNAMES; exec "$0" "$@"';
  const child = held
    ? spawn('/bin/sh', ['-c', script, process.execPath, ...argv], {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'ignore', 'pipe', held.fd],
      })
    : spawn(process.execPath, argv, {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
  child.log = '';
  child.stderr.on('data', (d) => {
    child.log = (child.log + d.toString()).slice(-20_000);
  });
  return child;
}

/** Processes whose parent is `ppid` and whose command is `comm` (the relays are the supervisor's `tee`s). */
function childrenNamed(ppid, comm) {
  const out = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === ppid && name === comm) out.push(Number(e));
    } catch {}
  }
  return out;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readDb(dir, fn) {
  let db;
  try {
    db = new Database(path.join(dir, '.dancer/dancer.db'), { readonly: true, fileMustExist: true });
    return fn(db);
  } catch {
    return undefined;
  } finally {
    db?.close();
  }
}

const droppedOf = (db) =>
  Object.fromEntries(
    db
      .prepare('SELECT reason, sum(count) AS n FROM dropped GROUP BY reason')
      .all()
      .map((d) => [d.reason, d.n]),
  );

/** Stored lines of `pid` (collapsed rows counted by their count), and whether seq is complete and in order. */
function audit(dir, pid, expected) {
  return readDb(dir, (db) => {
    const rows = db
      .prepare(
        "SELECT json_extract(extra, '$.seq') AS seq, count FROM logs WHERE pid = ? AND json_extract(extra, '$.seq') IS NOT NULL ORDER BY id",
      )
      .all(pid);
    let stored = 0;
    let inversions = 0;
    let prev = -1;
    const seen = new Set();
    for (const r of rows) {
      stored += r.count;
      if (r.seq <= prev) inversions++;
      prev = r.seq;
      seen.add(r.seq);
    }
    const missing = expected === undefined ? undefined : expected - seen.size;
    return { stored, inversions, missing, maxSeq: prev, seqs: rows.map((r) => r.seq), dropped: droppedOf(db) };
  });
}

async function waitFor(what, fn, timeoutMs, everyMs = 100) {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await delay(everyMs)) {
    const v = await fn();
    if (v) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function get(port, p) {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return res.text();
}

/** One supervisor up and running its worker; returns what the workload needs to measure. */
async function start(mode) {
  const port = await freePort();
  const dir = setup(port);
  const held = mode === 'inherited' ? bindSockets([{ name: 'http', host: '127.0.0.1', port }])[0] : undefined;
  const sup = launch(dir, held);
  const workerPid = await waitFor(
    'the worker to answer',
    async () => {
      if (sup.exitCode !== null) throw new Error(`dancer run exited ${sup.exitCode}\n${sup.log}`);
      return Number(await get(port, '/pid').catch(() => '')) || undefined;
    },
    60_000,
    200,
  );
  // Wait until the supervisor says running (the deploy is over) so its start-up is not measured.
  await waitFor(
    'the supervisor to run',
    () =>
      readDb(
        dir,
        (db) =>
          db.prepare("SELECT state FROM supervisor_state WHERE service = 'relaybench'").get()?.state === 'running',
      ),
    60_000,
    200,
  );
  await delay(1000);
  const relays = childrenNamed(sup.pid, 'tee');
  return { mode, port, dir, held, sup, workerPid, relays };
}

async function stop(run) {
  if (run.sup.exitCode === null && run.sup.signalCode === null) {
    run.sup.kill('SIGTERM');
    await Promise.race([new Promise((r) => run.sup.once('exit', r)), delay(15_000)]);
    if (run.sup.exitCode === null) run.sup.kill('SIGKILL');
  }
  run.held?.close();
  if (!args.keep) rmSync(run.dir, { recursive: true, force: true });
}

const cpuSet = (pids) => pids.reduce((s, p) => s + cpuOf(p), 0);
const snapshot = (run) => ({
  at: performance.now(),
  supervisor: cpuOf(run.sup.pid),
  relays: cpuSet(run.relays),
  worker: cpuOf(run.workerPid),
});
const diff = (a, b) => ({
  seconds: (b.at - a.at) / 1000,
  supervisor: b.supervisor - a.supervisor,
  relays: b.relays - a.relays,
  worker: b.worker - a.worker,
});

async function flood(mode) {
  const n = Number(args.lines);
  const run = await start(mode);
  try {
    const before = snapshot(run);
    await get(run.port, `/flood?n=${n}`);
    // Done when every line is stored or counted as dropped (the end marker is one more line).
    let after;
    await waitFor(
      'the flood to be stored',
      () =>
        readDb(run.dir, (db) => {
          const stored = db.prepare('SELECT coalesce(sum(count), 0) AS n FROM logs WHERE pid = ?').get(run.workerPid).n;
          const dropped = Object.values(droppedOf(db)).reduce((s, x) => s + x, 0);
          if (stored + dropped < n + 1) return false;
          after = snapshot(run);
          return true;
        }),
      600_000,
      100,
    );
    const worker = JSON.parse(readFileSync(path.join(run.dir, `worker-${run.workerPid}.json`), 'utf8'));
    const a = audit(run.dir, run.workerPid, n + 1);
    const cpu = diff(before, after);
    return summarize(mode, n, cpu, a, {
      relays: run.relays.length,
      workerFloodMs: worker.floodMs,
      maxCallMs: worker.maxCallMs,
    });
  } finally {
    await stop(run);
  }
}

async function rate(mode) {
  const r = Number(args.rate);
  const seconds = Number(args.seconds);
  const n = r * seconds;
  const run = await start(mode);
  try {
    const before = snapshot(run);
    const traffic = startTraffic({
      port: run.port,
      ratePerSecond: r,
      connections: 8,
      maxRequests: n,
      next: (i) => ({ method: 'GET', path: `/work?i=${i}`, kind: 'plain' }),
    });
    await waitFor('the traffic to end', () => traffic.stats().ok + traffic.stats().failed >= n, seconds * 5000, 50);
    const lag = performance.now();
    let after;
    await waitFor(
      'the lines to be stored',
      () =>
        readDb(run.dir, (db) => {
          const stored = db.prepare('SELECT coalesce(sum(count), 0) AS n FROM logs WHERE pid = ?').get(run.workerPid).n;
          const dropped = Object.values(droppedOf(db)).reduce((s, x) => s + x, 0);
          if (stored + dropped < traffic.stats().ok) return false;
          after = snapshot(run);
          return true;
        }),
      60_000,
      50,
    );
    await traffic.stop?.();
    const a = audit(run.dir, run.workerPid, traffic.stats().ok);
    const cpu = diff(before, after);
    return summarize(mode, traffic.stats().ok, cpu, a, {
      relays: run.relays.length,
      failed: traffic.stats().failed,
      storedAfterTrafficMs: Math.round(after.at - lag),
    });
  } finally {
    await stop(run);
  }
}

function summarize(mode, n, cpu, a, extra) {
  const total = cpu.supervisor + cpu.relays + cpu.worker;
  return {
    mode,
    lines: n,
    stored: a.stored,
    dropped: a.dropped,
    missing: a.missing,
    outOfOrder: a.inversions,
    seconds: Number(cpu.seconds.toFixed(2)),
    linesPerSecond: Math.round(a.stored / cpu.seconds),
    cpuSeconds: {
      supervisor: Number(cpu.supervisor.toFixed(2)),
      relays: Number(cpu.relays.toFixed(2)),
      worker: Number(cpu.worker.toFixed(2)),
    },
    cpuMicrosPerLine: Number(((total / n) * 1e6).toFixed(2)),
    ...extra,
  };
}

/** kill -9 of a socket-activated supervisor while its worker logs at a fixed rate. */
async function kill() {
  const r = Number(args['kill-rate']);
  const gap = Number(args.gap);
  const run = await start('inherited');
  const orphan = run.workerPid;
  const workerFile = () => {
    try {
      return JSON.parse(readFileSync(path.join(run.dir, `worker-${orphan}.json`), 'utf8'));
    } catch {
      return undefined;
    }
  };
  try {
    await get(run.port, `/tick?rate=${r}`);
    await delay(3000);
    // Lines written up to the kill: asked of the worker itself, right before it.
    const atKill = JSON.parse(await get(run.port, '/count'));
    run.sup.kill('SIGKILL');
    await new Promise((res) => run.sup.once('exit', res));
    const killedAt = Date.now();
    const relaysAliveAfterKill = run.relays.filter(isAlive).length;
    await delay(gap * 1000);
    const beforeRestart = workerFile();
    const orphanAlive = isAlive(orphan);
    const first = run.sup;
    run.sup = launch(run.dir, run.held);
    await waitFor('the orphan to be drained', () => !isAlive(orphan), 90_000, 100);
    const drainedAt = Date.now();
    await delay(1500);
    const end = workerFile();
    await delay(500);
    const relaysAliveAfterDrain = run.relays.filter(isAlive).length;
    // Stop the second supervisor so its queue is flushed, then read the store.
    const second = run.sup;
    second.kill('SIGTERM');
    await Promise.race([new Promise((res) => second.once('exit', res)), delay(15_000)]);
    const a = audit(run.dir, orphan, undefined);
    const seqs = a.seqs;
    const storedAfterKillSeq = seqs.filter((s) => s >= atKill.written).length;
    // The last seq stored = the last line the first supervisor stored before it died.
    const lastStored = seqs.length ? seqs[seqs.length - 1] : -1;
    return {
      rate: r,
      gapSeconds: gap,
      killedSupervisor: first.pid,
      relaysAliveAfterKill,
      orphanAliveAfterGap: orphanAlive,
      orphanLinesWrittenBeforeKill: atKill.written,
      orphanLinesWrittenInGap: beforeRestart.written - atKill.written,
      orphanLinesWrittenInTotal: end.written,
      orphanMaxLogCallMsBeforeKill: Number(atKill.maxCallMs.toFixed(2)),
      orphanMaxLogCallMsAfterKill: Number(end.maxCallMs.toFixed(2)),
      orphanExitedCleanly: end.exitedAt !== undefined,
      drainSecondsAfterRestart: Number(((drainedAt - killedAt) / 1000 - gap).toFixed(1)),
      relaysAliveAfterDrain,
      stored: a.stored,
      storedSeqAtOrAfterKill: storedAfterKillSeq,
      lastStoredSeq: lastStored,
      lostBeforeKill: atKill.written - seqs.filter((s) => s < atKill.written).length,
      lostAfterKill: end.written - atKill.written - storedAfterKillSeq,
      outOfOrder: a.inversions,
      dropped: a.dropped,
    };
  } finally {
    for (const p of [orphan, ...run.relays]) if (isAlive(p)) process.kill(p, 'SIGKILL');
    await stop(run);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function compare(name, fn) {
  const results = { plain: [], inherited: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const mode of i % 2 ? ['inherited', 'plain'] : ['plain', 'inherited']) {
      const r = await fn(mode);
      results[mode].push(r);
      process.stderr.write(`${name} round ${i + 1} ${mode}: ${JSON.stringify(r)}\n`);
    }
  }
  const m = (mode, f) => median(results[mode].map(f));
  const lps = (mode) => m(mode, (r) => r.linesPerSecond);
  const cpl = (mode) => m(mode, (r) => r.cpuMicrosPerLine);
  const pairs = results.plain.map((p, i) => ({
    linesPerSecond: results.inherited[i].linesPerSecond / p.linesPerSecond,
    cpuPerLine: results.inherited[i].cpuMicrosPerLine / p.cpuMicrosPerLine,
  }));
  return {
    workload: name,
    rounds: ROUNDS,
    plain: { linesPerSecond: lps('plain'), cpuMicrosPerLine: cpl('plain') },
    inherited: {
      linesPerSecond: lps('inherited'),
      cpuMicrosPerLine: cpl('inherited'),
      relayCpuMicrosPerLine: m('inherited', (r) => Number(((r.cpuSeconds.relays / r.lines) * 1e6).toFixed(2))),
      // Measured directly (the relays' own CPU), not as a difference of two noisy totals.
      relayShareOfCpu: m('inherited', (r) => {
        const c = r.cpuSeconds;
        return Number((c.relays / (c.supervisor + c.relays + c.worker)).toFixed(3));
      }),
    },
    ratioInheritedToPlain: {
      linesPerSecond: Number(median(pairs.map((p) => p.linesPerSecond)).toFixed(3)),
      cpuPerLine: Number(median(pairs.map((p) => p.cpuPerLine)).toFixed(3)),
      perRound: pairs.map((p) => [Number(p.linesPerSecond.toFixed(3)), Number(p.cpuPerLine.toFixed(3))]),
    },
    lossOrReorder: Object.values(results)
      .flat()
      .some((r) => r.missing !== 0 || r.outOfOrder !== 0 || r.stored !== r.lines + (name === 'flood' ? 1 : 0)),
  };
}

const out = {};
const w = args.workload;
if (w === 'flood' || w === 'all') out.flood = await compare('flood', flood);
if (w === 'rate' || w === 'all') out.rate = await compare('rate', rate);
if (w === 'kill' || w === 'all') {
  out.kill = [];
  for (let i = 0; i < ROUNDS; i++) {
    const k = await kill();
    process.stderr.write(`kill round ${i + 1}: ${JSON.stringify(k)}\n`);
    out.kill.push(k);
  }
}
out.node = process.version;
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
