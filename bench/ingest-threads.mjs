// `dancer ingest --threads 2` in process, against the raw batched insert in the same run: wall
// clock, CPU of the whole process, and CPU of each of the two threads (Linux: /proc/thread-self),
// so the figure a machine with two free cores would give (the busier thread) is measured even
// when the machine is shared.
//
//   npm run build && node bench/ingest.mjs --write-ndjson /tmp/in300k.ndjson --lines 300000
//   node bench/ingest-threads.mjs /tmp/in300k.ndjson [--rounds 3] [--batch 2000]
//
// Raw = the yardstick of `bench/ingest.mjs --raw-insert`: read the file, JSON.parse each line,
// insert 7 columns in transactions of --batch rows (no FTS, no index, no mining, no redaction).
// Threads = ThreadedIngest from dist/cli/ingest-threads.js with the default config (FTS,
// collapsing, redaction at ingest, the miner and the detector): what `dancer ingest` runs.
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { ThreadedIngest } from '../dist/cli/ingest-threads.js';
import { configSchema } from '../dist/config/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' }, batch: { type: 'string', default: '2000' } },
});
const FILE = positionals[0];
if (!FILE) throw new Error('usage: node bench/ingest-threads.mjs FILE.ndjson [--rounds N]');
const ROUNDS = Number(values.rounds);
const BATCH = Number(values.batch);
const CPU_FILE = path.join(os.tmpdir(), `dancer-bench-worker-cpu-${process.pid}`);

const TICKS = 100; // USER_HZ on Linux
/** CPU seconds of the calling thread (user + system), from /proc/thread-self/stat. */
function threadCpuSeconds() {
  const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

function processCpuSeconds(start) {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

function runRaw(db) {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const thread0 = threadCpuSeconds();
  const conn = new Database(db);
  conn.pragma('journal_mode = WAL');
  conn.pragma('synchronous = NORMAL');
  conn.exec(
    'CREATE TABLE IF NOT EXISTS logs (ts INTEGER, level INTEGER, source TEXT, message TEXT, pid INTEGER, hostname TEXT, request_id TEXT)',
  );
  const insert = conn.prepare('INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?, ?)');
  const batch = conn.transaction((rows) => {
    for (const o of rows)
      insert.run(o.time, o.level, o.name ?? null, o.msg ?? '', o.pid ?? null, o.hostname ?? null, o.reqId ?? null);
  });
  let rows = [];
  let n = 0;
  for (const line of readFileSync(FILE, 'utf8').split('\n')) {
    if (line === '') continue;
    rows.push(JSON.parse(line));
    n++;
    if (rows.length >= BATCH) {
      batch(rows);
      rows = [];
    }
  }
  if (rows.length > 0) batch(rows);
  conn.close();
  return {
    lines: n,
    wallS: Number(process.hrtime.bigint() - t0) / 1e9,
    cpuS: processCpuSeconds(c0),
    mainThreadCpuS: threadCpuSeconds() - thread0,
  };
}

async function runThreads(db) {
  const config = configSchema.parse({});
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const thread0 = threadCpuSeconds();
  rmSync(CPU_FILE, { force: true });
  process.env.DANCER_BENCH_WORKER_CPU_FILE = CPU_FILE; // read by ingest-threads-worker.mjs
  const ingest = ThreadedIngest.open({
    dbPath: db,
    config,
    maxRecordBytes: config.capture.maxRecordBytes,
    maxBatchRecords: config.store.batch.maxRecords,
    maxBatchDelayMs: config.store.batch.maxDelayMs,
    redact: config.store.redactAtIngest ? config.consult.redact : false,
    live: false,
    onReport: (e) => process.stderr.write(`${e.code}: ${e.message}\n`),
    workerUrl: new URL('./ingest-threads-worker.mjs', import.meta.url),
  });
  const stream = createReadStream(FILE, { highWaterMark: 256 * 1024 });
  for await (const chunk of stream) await ingest.write(chunk);
  await ingest.end();
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const stats = ingest.stats;
  let workerCpuS = Number.NaN;
  for (let i = 0; i < 100 && Number.isNaN(workerCpuS); i++) {
    try {
      workerCpuS = Number(readFileSync(CPU_FILE, 'utf8'));
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    lines: stats.lines,
    records: stats.records,
    rows: stats.rows,
    wallS,
    cpuS: processCpuSeconds(c0),
    mainThreadCpuS: threadCpuSeconds() - thread0,
    workerThreadCpuS: workerCpuS,
  };
}

const rounds = [];
for (let round = 0; round < ROUNDS; round++) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dancer-bench-threads-'));
  try {
    const order = round % 2 === 0 ? ['raw', 'threads'] : ['threads', 'raw'];
    const result = {};
    for (const who of order) {
      result[who] = who === 'raw' ? runRaw(path.join(dir, 'raw.db')) : await runThreads(path.join(dir, 'dancer.db'));
    }
    rounds.push(result);
    writeSync(2, `round ${round + 1}: ${JSON.stringify(result)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const lines = rounds[0].raw.lines;
const per = (who, key) => median(rounds.map((r) => r[who][key]));
const busiest = (r) => Math.max(r.threads.mainThreadCpuS, r.threads.workerThreadCpuS);
const out = {
  file: FILE,
  lines,
  roundsRun: ROUNDS,
  median: {
    threadsLinesPerSecWall: Math.round(lines / per('threads', 'wallS')),
    rawLinesPerSecWall: Math.round(lines / per('raw', 'wallS')),
    ratioWall: +median(rounds.map((r) => r.raw.wallS / r.threads.wallS)).toFixed(2),
    threadsCpuMicrosPerLine: +((per('threads', 'cpuS') / lines) * 1e6).toFixed(2),
    rawCpuMicrosPerLine: +((per('raw', 'cpuS') / lines) * 1e6).toFixed(2),
    ratioCpu: +median(rounds.map((r) => r.raw.cpuS / r.threads.cpuS)).toFixed(2),
    threadsMainThreadCpuS: +per('threads', 'mainThreadCpuS').toFixed(2),
    threadsWorkerThreadCpuS: +per('threads', 'workerThreadCpuS').toFixed(2),
    // Two free cores: the run takes at least as long as its busier thread needs, and at least
    // half its whole CPU. Raw runs on one thread.
    ratioTwoFreeCores: +median(rounds.map((r) => r.raw.cpuS / Math.max(busiest(r), r.threads.cpuS / 2))).toFixed(2),
  },
  rounds: rounds.map((r) => ({
    raw: { wallS: +r.raw.wallS.toFixed(2), cpuS: +r.raw.cpuS.toFixed(2) },
    threads: {
      wallS: +r.threads.wallS.toFixed(2),
      cpuS: +r.threads.cpuS.toFixed(2),
      mainS: +r.threads.mainThreadCpuS.toFixed(2),
      workerS: +r.threads.workerThreadCpuS.toFixed(2),
      rows: r.threads.rows,
    },
  })),
  loadAverage: os.loadavg().map((x) => +x.toFixed(1)),
  cpus: os.cpus().length,
  node: process.version,
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
