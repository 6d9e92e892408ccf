// App-side cost of dancer/pino: N pino log calls with the dancer/pino transport vs pino writing to
// /dev/null, in the same run (alternating fresh child processes, median of the rounds).
// The figure is main-thread time: how long the app's thread spends in the N log calls.
//
//   npm run build && node bench/app-side.mjs [--n 1000000] [--rounds 3]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const N = Number(arg('n', 1_000_000));

if (arg('variant', null) !== null) {
  await child(arg('variant'), N, arg('db', null));
} else {
  await parent();
}

/** One measured run in this process: N log calls, then a clean shutdown. */
async function child(variant, n, db) {
  const { default: pino } = await import('pino');
  const dest =
    variant === 'devnull' ? pino.destination('/dev/null') : pino.transport({ target: 'dancer/pino', options: { db } });
  const log = pino({ name: 'bench' }, dest);
  // Warm up the logger and the transport (worker started, store open).
  for (let i = 0; i < 1000; i++) log.info({ i, user: 'u-1', path: '/orders' }, 'warm up');
  await new Promise((r) => setTimeout(r, variant === 'devnull' ? 50 : 500));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (i % 1000 === 999) log.warn({ i, user: 'u-1', path: '/orders' }, 'slow request');
    else log.info({ i, user: 'u-1', path: '/orders' }, 'request handled');
  }
  const loopMs = performance.now() - t0;
  const rssMb = process.memoryUsage().rss / 1e6;
  await new Promise((resolve) => {
    if (variant === 'devnull') dest.flush(() => resolve());
    else {
      dest.once('finish', resolve);
      dest.once('error', (error) => {
        process.stderr.write(`transport error: ${error.message}\n`);
        resolve();
      });
      dest.end();
    }
  });
  const totalMs = performance.now() - t0;
  process.stdout.write(JSON.stringify({ variant, loopMs, totalMs, rssMb }));
}

async function parent() {
  const rounds = Number(arg('rounds', 3));
  const self = fileURLToPath(import.meta.url);
  const results = { devnull: [], dancer: [] };
  for (let r = 0; r < rounds; r++) {
    for (const variant of ['devnull', 'dancer']) {
      const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-app-'));
      const db = path.join(dir, 'bench.db');
      const out = execFileSync(process.execPath, [self, '--variant', variant, '--n', String(N), '--db', db], {
        encoding: 'utf8',
        maxBuffer: 1e7,
      });
      const result = JSON.parse(out);
      if (variant === 'dancer') {
        const { default: Database } = await import('better-sqlite3');
        const sqlite = new Database(db, { readonly: true });
        result.stored = sqlite.prepare('SELECT coalesce(sum(count), 0) AS n FROM logs').get().n;
        result.dropped = Object.fromEntries(
          sqlite
            .prepare('SELECT reason, count FROM dropped')
            .all()
            .map((d) => [d.reason, d.count]),
        );
        sqlite.close();
      }
      rmSync(dir, { recursive: true, force: true });
      results[variant].push(result);
      process.stderr.write(`round ${r + 1} ${variant}: ${JSON.stringify(result)}\n`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(results.devnull.map((r) => r.loopMs));
  const dancer = median(results.dancer.map((r) => r.loopMs));
  const ratios = results.dancer.map((r, i) => r.loopMs / results.devnull[i].loopMs);
  const summary = {
    n: N,
    rounds,
    devnullLoopMs: Math.round(base),
    dancerLoopMs: Math.round(dancer),
    ratio: Number((dancer / base).toFixed(3)),
    ratiosPerRound: ratios.map((x) => Number(x.toFixed(3))),
    target: 1.1,
    pass: dancer / base <= 1.1,
    dancerTotalMsMedian: Math.round(median(results.dancer.map((r) => r.totalMs))),
    dancerStored: results.dancer.map((r) => r.stored),
    dancerDropped: results.dancer.map((r) => r.dropped),
    node: process.version,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}
