// Overload: an app logging through dancer/pino at 10x the rate the store can ingest, for 30 s.
// Reports peak RSS (and whether it kept growing), that the dropped counts match exactly what was
// not stored, and that the producer never blocked (its log calls kept pace, the event loop stayed free).
//
//   npm run build && node bench/overload.mjs [--seconds 30] [--factor 10]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};

if (arg('producer', null) !== null)
  await producer(arg('producer'), Number(arg('rate', 0)), Number(arg('seconds', 30)), arg('db', ''));
else await parent();

/** A pino line as the app would write it. */
function line(i, level) {
  return `{"level":${level},"time":${Date.now()},"pid":${process.pid},"hostname":"bench","name":"bench","i":${i},"msg":"request handled"}`;
}

/** Store ingest rate through the same path the transport uses (StoreSink, parse, LogWriter). */
async function calibrate(db) {
  const { StoreSink } = await import('../dist/capture/store-sink.js');
  const { parseLine } = await import('../dist/capture/parse-line.js');
  const { quickLevel } = await import('../dist/capture/quick-level.js');
  const sink = new StoreSink({
    dbPath: db,
    toRecord: (l) => parseLine(l, { now: Date.now(), stream: 'pino' })?.record ?? null,
    levelOf: quickLevel,
    sizeOf: (l) => l.length * 2,
    backpressure: true,
  });
  const n = 100_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sink.push(line(i, 30));
  sink.close();
  const seconds = (performance.now() - t0) / 1000;
  return Math.round(n / seconds);
}

async function producer(variant, rate, seconds, db) {
  // The only way a pino transport can make the app's thread wait is thread-stream's Atomics.wait
  // (when its buffer is full, or on flushSync): count those waits during the run.
  const realWait = Atomics.wait;
  const waits = { count: 0, ms: 0, measuring: false };
  Atomics.wait = (...a) => {
    if (!waits.measuring) return realWait(...a);
    const t = performance.now();
    try {
      return realWait(...a);
    } finally {
      waits.count++;
      waits.ms += performance.now() - t;
    }
  };
  const { default: pino } = await import('pino');
  const transport =
    variant === 'devnull' ? pino.destination('/dev/null') : pino.transport({ target: 'dancer/pino', options: { db } });
  // thread-stream's main-thread buffer (lines the worker has not taken yet), to see where memory goes.
  const impl = Object.getOwnPropertySymbols(transport)
    .map((s) => transport[s])
    .find((v) => v && typeof v === 'object' && 'bufLen' in v);
  let peakBuffered = 0;
  let peakHeap = 0;
  const log = pino({ name: 'bench', level: 'debug', base: { pid: process.pid, hostname: 'bench' } }, transport);
  log.info('warm up');
  await new Promise((r) => setTimeout(r, 500));
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  waits.measuring = true;
  const tickMs = 10;
  const perTick = rate * (tickMs / 1000);
  let produced = 0;
  let owed = 0;
  let maxTickMs = 0;
  let peakRss = 0;
  const rssFirst = [];
  /** Peak RSS (MB) in each 5 s slice, to see whether memory levels off. */
  const rssBy5s = [];
  const rssLast = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  let next = start;
  const levels = { debug: 0, info: 0, warn: 0, error: 0 };
  while (performance.now() < end) {
    owed += perTick;
    const t0 = performance.now();
    while (owed >= 1) {
      const i = produced++;
      owed--;
      // A realistic mix: 20% debug, 70% info, 9% warn, 1% error.
      const m = i % 100;
      if (m < 20) {
        log.debug({ i }, 'cache lookup');
        levels.debug++;
      } else if (m < 90) {
        log.info({ i }, 'request handled');
        levels.info++;
      } else if (m < 99) {
        log.warn({ i }, 'slow request');
        levels.warn++;
      } else {
        log.error({ i, err: { type: 'Error', message: 'upstream failed' } }, 'request failed');
        levels.error++;
      }
    }
    const took = performance.now() - t0;
    if (took > maxTickMs) maxTickMs = took;
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
    if ((impl?.bufLen ?? 0) > peakBuffered) peakBuffered = impl.bufLen;
    if (produced % 64 === 0) {
      const heap = process.memoryUsage().heapUsed;
      if (heap > peakHeap) peakHeap = heap;
    }
    const elapsed = performance.now() - start;
    const slot = Math.floor(elapsed / 5000);
    rssBy5s[slot] = Math.max(rssBy5s[slot] ?? 0, Math.round(rss / 1e6));
    if (elapsed < 5000) rssFirst.push(rss);
    if (elapsed > (seconds - 5) * 1000) rssLast.push(rss);
    next += tickMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else await new Promise((r) => setImmediate(r));
  }
  const elapsedS = (performance.now() - start) / 1000;
  waits.measuring = false;
  loop.disable();
  await new Promise((resolve) => {
    if (variant === 'devnull') {
      transport.flush(() => resolve());
      return;
    }
    transport.once('finish', resolve);
    transport.once('error', (error) => {
      process.stderr.write(`transport error: ${error.message}\n`);
      resolve();
    });
    transport.end();
  });
  const max = (xs) => Math.max(...xs);
  process.stdout.write(
    JSON.stringify({
      produced: produced + 1, // + the warm-up line
      levels,
      elapsedS,
      achievedRate: Math.round(produced / elapsedS),
      maxTickMs,
      mainThreadWaits: waits.count,
      mainThreadWaitMs: waits.ms,
      eventLoopDelayP99Ms: loop.percentile(99) / 1e6,
      eventLoopDelayMaxMs: loop.max / 1e6,
      peakRssMb: Math.round(peakRss / 1e6),
      peakMainHeapMb: Math.round(peakHeap / 1e6),
      peakMainBufferedMb: Math.round(peakBuffered / 1e6),
      peakRssFirst5sMb: Math.round(max(rssFirst) / 1e6),
      peakRssLast5sMb: Math.round(max(rssLast) / 1e6),
      peakRssMbBy5s: rssBy5s,
    }),
  );
}

async function parent() {
  const seconds = Number(arg('seconds', 30));
  const factor = Number(arg('factor', 10));
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-overload-'));
  try {
    const ingestRate = await calibrate(path.join(dir, 'calibrate.db'));
    const rate = ingestRate * factor;
    process.stderr.write(`store ingest rate ${ingestRate}/s; producing at ${rate}/s for ${seconds} s\n`);
    const db = path.join(dir, 'overload.db');
    const run = (variant) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [
            fileURLToPath(import.meta.url),
            '--producer',
            variant,
            '--rate',
            String(rate),
            '--seconds',
            String(seconds),
            '--db',
            db,
          ],
          { encoding: 'utf8', maxBuffer: 1e7 },
        ),
      );
    // The same producer writing to /dev/null: what this machine gives any producer at this rate.
    const baseline = run('devnull');
    process.stderr.write(`baseline (pino to /dev/null): ${JSON.stringify(baseline)}\n`);
    const result = run('dancer');
    const { default: Database } = await import('better-sqlite3');
    const sqlite = new Database(db, { readonly: true });
    const stored = sqlite.prepare('SELECT coalesce(sum(count), 0) AS n FROM logs').get().n;
    const storedByLevel = Object.fromEntries(
      sqlite
        .prepare('SELECT level, sum(count) AS n FROM logs GROUP BY level')
        .all()
        .map((r) => [r.level, r.n]),
    );
    const dropped = Object.fromEntries(
      sqlite
        .prepare('SELECT reason, count FROM dropped')
        .all()
        .map((d) => [d.reason, d.count]),
    );
    sqlite.close();
    const droppedTotal = Object.values(dropped).reduce((a, b) => a + b, 0);
    const summary = {
      seconds,
      ingestRatePerS: ingestRate,
      targetRatePerS: rate,
      ...result,
      baseline: {
        achievedRate: baseline.achievedRate,
        maxTickMs: baseline.maxTickMs,
        mainThreadWaits: baseline.mainThreadWaits,
        eventLoopDelayP99Ms: baseline.eventLoopDelayP99Ms,
        eventLoopDelayMaxMs: baseline.eventLoopDelayMaxMs,
        peakRssMb: baseline.peakRssMb,
        peakRssMbBy5s: baseline.peakRssMbBy5s,
      },
      stored,
      storedByLevel,
      dropped,
      accounted: stored + droppedTotal === result.produced,
      unaccounted: result.produced - stored - droppedTotal,
      node: process.version,
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
