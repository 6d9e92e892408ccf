// Ingest benchmark: NDJSON lines -> store (LogWriter: FTS5 + collapsing on) vs a raw better-sqlite3
// batched insert of the same parsed rows into the same logs table without FTS or collapsing,
// in the same run, on fresh database files.
//
//   npm run build && node bench/ingest.mjs [--lines 300000] [--batch 2000] [--rounds 3]
//
// Prints one JSON object with the figures (best round of each, and every round).
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { LogWriter, openStore, readRetentionState, runRetentionStep } from '../dist/store/index.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '300000' },
    batch: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
  },
});
const LINES = Number(values.lines);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);

// ---- input: a deterministic mix of pino-shaped lines --------------------------------------------
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STACK = [
  'TypeError: Cannot read properties of undefined (reading "id")',
  '    at getUser (/srv/app/dist/users/service.js:42:17)',
  '    at async handler (/srv/app/dist/users/routes.js:18:22)',
  '    at async Server.<anonymous> (/srv/app/dist/server.js:77:5)',
  '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
].join('\n');

/** Generate `n` NDJSON lines: request logs, varied app logs, runs of duplicates, errors. */
function makeLines(n) {
  const rand = rng(42);
  const lines = [];
  let t = Date.UTC(2026, 10, 25, 12, 0, 0);
  const base = { pid: 4242, hostname: 'web-1' };
  while (lines.length < n) {
    t += 1;
    const r = rand();
    if (r < 0.6) {
      const id = Math.floor(rand() * 1e6);
      lines.push(
        JSON.stringify({
          level: 30,
          time: t,
          ...base,
          name: 'http',
          reqId: `req-${lines.length}`,
          req: { method: 'GET', url: `/users/${id}` },
          res: { statusCode: rand() < 0.97 ? 200 : 500 },
          responseTime: Math.round(rand() * 5000) / 100,
          msg: 'request completed',
        }),
      );
    } else if (r < 0.93) {
      const id = Math.floor(rand() * 1e5);
      const msgs = [
        `cache miss for key user:${id}`,
        `loaded ${id % 100} rows from orders in ${id % 37} ms`,
        `session ${id.toString(16)} refreshed`,
        `queue depth ${id % 500} below high-water mark`,
      ];
      lines.push(JSON.stringify({ level: rand() < 0.5 ? 20 : 30, time: t, ...base, name: 'app', msg: msgs[id % 4] }));
    } else if (r < 0.94) {
      const run = 5 + Math.floor(rand() * 45);
      for (let i = 0; i < run && lines.length < n; i++) {
        t += 1;
        lines.push(
          JSON.stringify({ level: 40, time: t, ...base, name: 'db', msg: 'connection pool exhausted, retrying' }),
        );
      }
    } else {
      lines.push(
        JSON.stringify({
          level: 50,
          time: t,
          ...base,
          name: 'users',
          err: {
            type: 'TypeError',
            message: 'Cannot read properties of undefined (reading "id")',
            stack: STACK,
            code: 'ERR_USER',
          },
          msg: 'failed to load user',
        }),
      );
    }
  }
  return lines;
}

// ---- parsing: A2's parser from dist/capture when present, else a plain JSON.parse mapping -------
const KNOWN = new Set([
  'level',
  'time',
  'pid',
  'hostname',
  'name',
  'msg',
  'err',
  'reqId',
  'req',
  'res',
  'responseTime',
]);

function plainParse(line) {
  const o = JSON.parse(line);
  const rec = {
    ts: typeof o.time === 'number' ? o.time : Date.parse(o.time),
    level: o.level,
    message: o.msg ?? '',
    source: o.name,
    pid: o.pid,
    hostname: o.hostname,
    requestId: o.reqId,
    stream: 'ingest',
  };
  if (o.err) {
    rec.errType = o.err.type;
    rec.errMessage = o.err.message;
    rec.errCode = o.err.code;
    rec.stack = o.err.stack;
  }
  if (o.req) {
    rec.httpMethod = o.req.method;
    rec.httpRoute = o.req.url;
  }
  if (o.res) rec.httpStatus = o.res.statusCode;
  if (o.responseTime !== undefined) rec.durationMs = o.responseTime;
  let extra;
  for (const k in o) {
    if (KNOWN.has(k)) continue;
    extra ??= {};
    extra[k] = o[k];
  }
  if (extra) rec.extra = extra;
  return rec;
}

async function loadParser() {
  try {
    const { parseLine } = await import('../dist/capture/parse-line.js');
    if (typeof parseLine === 'function') {
      const now = Date.now();
      return {
        name: "A2's parseLine from dist/capture/parse-line.js",
        parse: (line) => parseLine(line, { now, stream: 'ingest' })?.record,
      };
    }
  } catch {
    // capture not built yet: fall back below
  }
  return { name: 'plain JSON.parse mapping (bench/ingest.mjs)', parse: plainParse };
}

// ---- the two contenders ---------------------------------------------------------------------------
function runDancer(dir, lines, parse, name = 'dancer.db', redact = undefined) {
  const db = openStore(path.join(dir, name));
  // `redact: undefined` is the default (store.redactAtIngest on); `false` turns it off.
  const writer = new LogWriter(db, { maxBatchRecords: BATCH, maxBatchDelayMs: 60_000, redact });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (const line of lines) writer.write(parse(line));
  writer.close();
  const cpuMs = cpuSince(c0);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const rows = db.prepare('SELECT count(*) AS n, sum(count) AS records FROM logs').get();
  const dropped = db.prepare('SELECT coalesce(sum(count), 0) AS n FROM dropped').get().n;
  if (rows.records !== lines.length) throw new Error(`dancer stored ${rows.records} of ${lines.length} records`);
  // Retention on the result: shrink to half the used size in default-size steps; time each step
  // (the longest a writer would wait for one).
  const used = readRetentionState(db).usedBytes;
  const stepMs = [];
  const stepCpuMs = [];
  let deleted = 0;
  for (let i = 0; i < 1000; i++) {
    const s0 = process.hrtime.bigint();
    const sc = process.cpuUsage();
    const step = runRetentionStep(db, { maxAgeMs: 1e15, maxBytes: Math.floor(used / 2) }, Date.now());
    stepCpuMs.push(cpuSince(sc));
    stepMs.push(Number(process.hrtime.bigint() - s0) / 1e6);
    deleted += step.deleted;
    if (!step.more) break;
  }
  db.close();
  stepMs.sort((a, b) => a - b);
  stepCpuMs.sort((a, b) => a - b);
  const retention = {
    steps: stepMs.length,
    deleted,
    medianStepMs: +stepMs[Math.floor(stepMs.length / 2)].toFixed(1),
    p95StepMs: +stepMs[Math.floor(stepMs.length * 0.95)].toFixed(1),
    maxStepMs: +stepMs[stepMs.length - 1].toFixed(1),
    medianStepCpuMs: +stepCpuMs[Math.floor(stepCpuMs.length / 2)].toFixed(1),
    maxStepCpuMs: +stepCpuMs[stepCpuMs.length - 1].toFixed(1),
  };
  return { ms, cpuMs, rows: rows.n, records: rows.records, dropped, retention };
}

// Every column the writer fills, except err_hash (computed by the writer), straight from the record.
const RAW_FIELDS = {
  ts: 'ts',
  last_ts: 'ts',
  level: 'level',
  source: 'source',
  message: 'message',
  template_id: 'templateId',
  err_type: 'errType',
  err_message: 'errMessage',
  err_code: 'errCode',
  stack: 'stack',
  pid: 'pid',
  thread: 'thread',
  hostname: 'hostname',
  request_id: 'requestId',
  session_id: 'sessionId',
  user_id: 'userId',
  tenant_id: 'tenantId',
  trace_id: 'traceId',
  span_id: 'spanId',
  http_method: 'httpMethod',
  http_route: 'httpRoute',
  http_status: 'httpStatus',
  duration_ms: 'durationMs',
  mem_bytes: 'memBytes',
  file: 'file',
  line: 'line',
  func: 'func',
  stream: 'stream',
  flags: 'flags',
  original_bytes: 'originalBytes',
};
const RAW_COLUMNS = Object.keys(RAW_FIELDS);
const RAW_KEYS = Object.values(RAW_FIELDS);

function runRaw(dir, lines, parse, name = 'raw.db') {
  // Same logs table (same migration, same indexes), no FTS index written, no collapsing, no error hash.
  openStore(path.join(dir, name)).close();
  const db = new Database(path.join(dir, name));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const insert = db.prepare(
    `INSERT INTO logs (${RAW_COLUMNS.join(', ')}, extra) VALUES (${RAW_COLUMNS.map(() => '?').join(', ')}, ?)`,
  );
  const tx = db.transaction((batch) => {
    for (const r of batch) {
      const values = RAW_KEYS.map((k) => r[k] ?? null);
      values[RAW_KEYS.indexOf('flags')] = r.flags ?? 0;
      values.push(r.extra ? JSON.stringify(r.extra) : null);
      insert.run(values);
    }
  });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let batch = [];
  for (const line of lines) {
    batch.push(parse(line));
    if (batch.length >= BATCH) {
      tx.immediate(batch);
      batch = [];
    }
  }
  if (batch.length > 0) tx.immediate(batch);
  const cpuMs = cpuSince(c0);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const rows = db.prepare('SELECT count(*) AS n FROM logs').get().n;
  db.close();
  if (rows !== lines.length) throw new Error(`raw stored ${rows} of ${lines.length}`);
  return { ms, cpuMs, rows };
}

function parseOnly(lines, parse) {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let n = 0;
  for (const line of lines) if (parse(line)) n++;
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: cpuSince(c0), n };
}

/** CPU time (user + system) of this process since `start`, in ms: robust on a shared machine. */
function cpuSince(start) {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

// ---- run ------------------------------------------------------------------------------------------
const parser = await loadParser();
const lines = makeLines(LINES);
const bytes = lines.reduce((s, l) => s + l.length + 1, 0);
const rounds = [];
for (let round = 0; round < ROUNDS; round++) {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-ingest-'));
  try {
    // Alternate the order so neither side always runs on a warmer machine.
    const order = round % 2 === 0 ? ['raw', 'dancer'] : ['dancer', 'raw'];
    const result = {};
    for (const who of order) {
      result[who] = who === 'raw' ? runRaw(dir, lines, parser.parse) : runDancer(dir, lines, parser.parse);
    }
    result.parse = parseOnly(lines, parser.parse);
    // Store only: the same records parsed beforehand, so only the store's own cost is timed.
    const records = lines.map(parser.parse);
    const same = (r) => r;
    for (const who of order) {
      if (who === 'raw') result.rawStore = runRaw(dir, records, same, 'raw-store.db');
      else result.dancerStore = runDancer(dir, records, same, 'dancer-store.db');
    }
    // store.redactAtIngest: the same store-only run with redaction off, on freshly parsed records
    // (the run above redacted its records in place).
    result.dancerStoreNoRedact = runDancer(dir, lines.map(parser.parse), same, 'dancer-store-noredact.db', false);
    rounds.push(result);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const rate = (ms) => Math.round((LINES / ms) * 1000);
const best = (who, key = 'ms') => Math.min(...rounds.map((r) => r[who][key]));
const median = (who, key = 'ms') => {
  const xs = rounds.map((r) => r[who][key]).sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)];
};
const out = {
  lines: LINES,
  mbIn: +(bytes / 1e6).toFixed(1),
  batch: BATCH,
  parser: parser.name,
  dancerRowsForLines: rounds[0].dancer.rows,
  retentionOnResult: rounds.map((r) => r.dancer.retention),
  // Wall clock: what a dedicated machine would sustain only when nothing else runs.
  best: {
    dancerLinesPerSec: rate(best('dancer')),
    rawLinesPerSec: rate(best('raw')),
    parseOnlyLinesPerSec: rate(best('parse')),
    ratio: +(best('raw') / best('dancer')).toFixed(2),
  },
  // Median round of each side (wall and CPU), and the median of the per-round ratios.
  median: {
    dancerLinesPerSec: rate(median('dancer')),
    rawLinesPerSec: rate(median('raw')),
    dancerLinesPerCpuSec: rate(median('dancer', 'cpuMs')),
    rawLinesPerCpuSec: rate(median('raw', 'cpuMs')),
    ratio:
      rounds
        .map((r) => r.raw.ms / r.dancer.ms)
        .sort((a, b) => a - b)
        [Math.floor(rounds.length / 2)].toFixed(2) * 1,
  },
  // CPU time of this process: lines per CPU-second, robust when other work shares the cores.
  bestCpu: {
    dancerLinesPerCpuSec: rate(best('dancer', 'cpuMs')),
    rawLinesPerCpuSec: rate(best('raw', 'cpuMs')),
    parseOnlyLinesPerCpuSec: rate(best('parse', 'cpuMs')),
    ratio: +(best('raw', 'cpuMs') / best('dancer', 'cpuMs')).toFixed(2),
  },
  // The store alone (records parsed beforehand): the writer with FTS + collapsing vs the raw insert.
  storeOnly: {
    dancerRecordsPerSec: rate(best('dancerStore')),
    rawRecordsPerSec: rate(best('rawStore')),
    ratio: +(best('rawStore') / best('dancerStore')).toFixed(2),
    dancerRecordsPerCpuSec: rate(best('dancerStore', 'cpuMs')),
    rawRecordsPerCpuSec: rate(best('rawStore', 'cpuMs')),
  },
  // store.redactAtIngest (default on) against the same writer with it off: records per CPU-second.
  redactAtIngest: {
    onRecordsPerCpuSec: rate(best('dancerStore', 'cpuMs')),
    offRecordsPerCpuSec: rate(best('dancerStoreNoRedact', 'cpuMs')),
    costRatioCpu: +(best('dancerStore', 'cpuMs') / best('dancerStoreNoRedact', 'cpuMs')).toFixed(2),
    costRatioWall: +(best('dancerStore') / best('dancerStoreNoRedact')).toFixed(2),
  },
  rounds: rounds.map((r) => ({
    dancer: rate(r.dancer.ms),
    raw: rate(r.raw.ms),
    ratio: +(r.raw.ms / r.dancer.ms).toFixed(2),
    dancerCpu: rate(r.dancer.cpuMs),
    rawCpu: rate(r.raw.cpuMs),
  })),
  loadAverage: os.loadavg().map((x) => +x.toFixed(1)),
  cpus: os.cpus().length,
  node: process.version,
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
