#!/usr/bin/env node
// Hostile-input benchmark: a worker under `dancer run` writes a million mixed lines to stdout
// (invalid UTF-8, 10 MB lines, NUL bytes, ANSI escapes, deeply nested and huge JSON, stack traces,
// ordinary pino and text lines) through the supervisor's real capture path (pipe -> line capture
// -> transport dedupe -> redaction -> LogWriter -> SQLite). Every line carries an id (`hx<n>.`);
// afterwards every stored row is read back and the ids found are counted, so the figures are an
// exact account: generated = found in the store + counted in the `dropped` table, by reason.
// The run starts with a baseline of `--baseline` ordinary lines through the same supervisor; the
// supervisor's RSS is sampled every second against the lines written, and reported when the
// baseline is done and at 25/50/75/100 % of the hostile lines (RSS bounded = a plateau, not a
// climb). `--phase both` adds a second supervisor that runs as many ordinary lines as the whole
// run, for a peak-to-peak ratio.
//
//   npm run build && node bench/hostile-input.mjs [--lines 1000000] [--baseline 100000] [--big 20] [--words 20000] [--phase hostile|both|ordinary]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    big: { type: 'string', default: '20' },
    // Words in the "many_words" lines. Thousands of words make the pattern miner quadratic
    // (see bench/RESULTS.md): the default shows it; --words 200 measures the rest.
    words: { type: 'string', default: '20000' },
    phase: { type: 'string', default: 'hostile' },
    baseline: { type: 'string', default: '100000' },
    keep: { type: 'boolean', default: false },
    samples: { type: 'boolean', default: false },
  },
});
const N = Number(args.lines);
const BIG = Number(args.big);
const WORDS = Number(args.words);
const BASE = Number(args.baseline);

// The generator: deterministic, writes with backpressure, then stays alive (a restart would
// generate again). Kinds by i % 100 so the mix is fixed and countable.
const GENERATOR = String.raw`
const BASE = Number(process.env.HX_BASELINE);
const N = Number(process.env.HX_LINES) + BASE;
const BIG = Number(process.env.HX_BIG);
const fs = require('node:fs');
const progressFile = process.env.HX_PROGRESS;
const WORDS = Number(process.env.HX_WORDS);
const ordinary = process.env.HX_MODE === 'ordinary';
const out = process.stdout;
const ESC = '\x1b';
const kinds = {};
const bigEvery = Math.max(1, Math.floor((N - BASE) / Math.max(1, BIG)));
function deep(depth, id) {
  return '{"level":50,"msg":"deep ' + id + '","a":' + '['.repeat(depth) + ']'.repeat(depth) + '}';
}
function huge(id) {
  // a 3 MB JSON object with 60 000 keys: over capture.maxRecordBytes, so it is cut to head + tail
  const parts = ['{"msg":"huge ' + id + '","level":30'];
  for (let k = 0; k < 60000; k++) parts.push('"k' + k + '":"' + 'v'.repeat(40) + '"');
  return parts.join(',') + '}';
}
function line(i) {
  const id = 'hx' + i + '.';
  if (ordinary || i < BASE) {
    kinds.ordinary = (kinds.ordinary ?? 0) + 1;
    if (i % 2) return JSON.stringify({ level: 30, time: Date.now(), pid: 7, msg: 'request ' + id, path: '/api/items/' + (i % 977), ms: i % 91 }) + '\n';
    return 'INFO worker ' + (i % 13) + ' handled job ' + id + ' in ' + (i % 500) + ' ms\n';
  }
  const h = i - BASE;
  if (BIG > 0 && h % bigEvery === bigEvery - 1) {
    kinds.line10mb = (kinds.line10mb ?? 0) + 1;
    return Buffer.concat([Buffer.from('BIG ' + id + ' '), Buffer.alloc(10 * 1024 * 1024, 0x61), Buffer.from(' end\n')]);
  }
  const k = i % 100;
  let kind;
  let text;
  if (k < 50) {
    kind = 'ordinary';
    text = i % 2 ? JSON.stringify({ level: 30, time: Date.now(), pid: 7, msg: 'request ' + id, path: '/api/items/' + (i % 977), ms: i % 91 }) : 'INFO worker ' + (i % 13) + ' handled job ' + id + ' in ' + (i % 500) + ' ms';
  } else if (k < 58) {
    kind = 'invalid_utf8';
    const bad = [Buffer.from([0xff, 0xfe]), Buffer.from([0xe2, 0x82]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80])][i % 5];
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    return Buffer.concat([Buffer.from('WARN bad bytes ' + id + ' '), bad, Buffer.from(' tail '), bad, Buffer.from('\n')]);
  } else if (k < 64) {
    kind = 'nul';
    text = i % 2 ? 'ERROR nul ' + id + ' a\0b\0\0c' : '{"level":40,"msg":"nul ' + id + '\\u0000 in json","x":"\0"}';
  } else if (k < 72) {
    kind = 'ansi';
    text = i % 3 === 0
      ? ESC + '[31mERROR' + ESC + '[0m ' + id + ' ' + ESC + '[1;4mbold' + ESC + '[0m ' + ESC + ']0;title' + '\x07' + ESC + '[2K' + ESC + '[10A'
      : i % 3 === 1 ? ESC + '[38;5;196m' + id + ESC + '[0m' + ESC + '[?25l' + ESC + 'c' + ESC + '[999999999999m'
      : id + ' unterminated ' + ESC + '[' + '1;'.repeat(500);
  } else if (k < 76) {
    kind = 'deep_json';
    // a 100 000-deep one in 500 of them (200 KB each); the rest 2000 deep
    text = deep(i % 1000 === 74 ? 100000 : 2000, id);
  } else if (k < 77) {
    kind = 'huge_json';
    if (i % 1000 === 76) text = huge(id);
    else text = JSON.stringify({ level: 30, msg: 'wide ' + id, ...Object.fromEntries(Array.from({ length: 2000 }, (_, j) => ['f' + j, j])) });
  } else if (k < 82) {
    kind = 'stack';
    text = 'Error: boom ' + id + '\n    at handler (/srv/app/src/a.js:' + (i % 90) + ':7)\n    at process (node:internal/x:1:1)';
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    return text + '\n';
  } else if (k < 86) {
    kind = 'json_odd';
    text = ['{"msg":"proto ' + id + '","__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}',
      '{"msg":"dupkeys ' + id + '","msg":"again ' + id + '","level":"fatal"}',
      '{"level":1e400,"time":-1,"msg":"numbers ' + id + '","pid":"NaN"}',
      '{"msg":"unclosed ' + id + '","a":[1,2',
      '{"msg":"surrogate ' + id + ' \\ud800 \\udfff"}'][i % 5];
  } else if (k < 90) {
    kind = 'control_chars';
    text = 'WARN ctl ' + id + ' \x01\x02\x7f\x08\x0b\x0c\r in the middle\r';
  } else if (k < 92) {
    kind = 'long_line';
    text = 'INFO long ' + id + ' ' + 'x'.repeat(i % 1000 < 100 ? 100000 + (i % 250000) : 2000 + (i % 8000));
  } else if (k < 94) {
    kind = 'many_words';
    text = 'INFO words ' + id + ' ' + 'word '.repeat(WORDS + (i % 7));
  } else if (k < 97) {
    kind = 'unicode';
    text = 'INFO uni ' + id + ' \u202e\u2066 rtl \u{1F600}\u0301\u200b zero-width ' + '\u00e9'.repeat(100);
  } else {
    kind = 'planted';  // a password, an API key and a card: redacted at ingest
    text = 'ERROR auth failed ' + id + ' password=hunter2' + i + ' token=sk-ant-api03-' + 'A'.repeat(30) + ' card 4111 1111 1111 1111';
  }
  kinds[kind] = (kinds[kind] ?? 0) + 1;
  return text + '\n';
}
let i = 0;
function pump() {
  while (i < N) {
    const ok = out.write(line(i++));
    if (i % 1000 === 0 && progressFile) fs.writeFileSync(progressFile, String(i));
    if (!ok) return out.once('drain', pump);
  }
  if (progressFile) fs.writeFileSync(progressFile, String(i));
  out.write('HXDONE ' + JSON.stringify(kinds) + '\n', () => {});
}
pump();
setInterval(() => {}, 1 << 30);
`;

async function runPhase(mode) {
  const dir = mkdtempSync(path.join(tmpdir(), `dancer-bench-hostile-${mode}-`));
  const base = mode === 'hostile' ? BASE : 0;
  const total = N + BASE;
  const progressFile = path.join(dir, 'progress');
  writeFileSync(path.join(dir, 'gen.cjs'), GENERATOR);
  writeFileSync(
    path.join(dir, 'dancer.yaml'),
    `service:
  name: hostile
  start: node gen.cjs
  mode: port
# Retention off in practice (64 GiB): a million hostile lines make a >1 GiB store, and rows that
# retention deletes would be missing from the account.
store: { path: .dancer/dancer.db, retention: { maxBytes: 68719476736 } }
capture: { tee: none }
fixes: { worktreeBase: .dancer/worktrees } # in the bench's folder, not /var/dancer as root
`,
  );
  const started = Date.now();
  const supervisor = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/dancer.js'), 'run', '--config', path.join(dir, 'dancer.yaml')],
    {
      cwd: dir,
      env: {
        ...process.env,
        HX_LINES: String(total - base),
        HX_BASELINE: String(base),
        HX_BIG: String(BIG),
        HX_WORDS: String(WORDS),
        HX_MODE: mode,
        HX_PROGRESS: progressFile,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  supervisor.stderr.on('data', (d) => {
    err = (err + d.toString()).slice(-20_000);
  });
  const rssOf = () => {
    try {
      const s = readFileSync(`/proc/${supervisor.pid}/status`, 'utf8');
      return {
        rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024,
        hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024,
      };
    } catch {
      return { rss: 0, hwm: 0 };
    }
  };
  let peak = 0;
  let hwm = 0;
  const written = () => {
    try {
      return Number(readFileSync(progressFile, 'utf8')) || 0;
    } catch {
      return 0;
    }
  };
  // RSS against lines written, every second (the pipe's backpressure keeps written close to stored).
  const samples = [];
  let lastSample = 0;
  const timer = setInterval(() => {
    const r = rssOf();
    peak = Math.max(peak, r.rss);
    hwm = Math.max(hwm, r.hwm);
    if (Date.now() - lastSample >= 1000) {
      lastSample = Date.now();
      samples.push({
        s: +((Date.now() - started) / 1000).toFixed(1),
        written: written(),
        rssMiB: +(r.rss / 1048576).toFixed(1),
      });
    }
  }, 200);
  const dbPath = path.join(dir, '.dancer/dancer.db');
  let done = null;
  for (;;) {
    await delay(2000);
    if (supervisor.exitCode !== null) break;
    // The end marker is looked for (a scan of the logs) only once every line was written.
    if (written() < total) continue;
    // A fresh read-only connection each time (one opened before the schema existed may not see it).
    let db;
    try {
      db = new Database(dbPath, { readonly: true, fileMustExist: true });
      const row = db.prepare("SELECT message FROM logs WHERE message LIKE 'HXDONE %' LIMIT 1").get();
      if (row) {
        try {
          done = JSON.parse(row.message.slice(7));
        } catch {
          done = { unparsed: row.message.slice(7, 400) };
        }
      }
    } catch {
      // not created yet
    } finally {
      db?.close();
    }
    if (done) break;
  }
  const seconds = (Date.now() - started) / 1000;
  const alive = supervisor.exitCode === null;
  const r = rssOf();
  hwm = Math.max(hwm, r.hwm);
  clearInterval(timer);
  if (alive) {
    // Everything is stored (the last line is): stop, and do not wait minutes for a loaded machine.
    supervisor.kill('SIGTERM');
    const exited = new Promise((res) => supervisor.once('exit', res));
    if ((await Promise.race([exited, delay(30_000).then(() => 'late')])) === 'late') {
      supervisor.kill('SIGKILL');
      await exited;
    }
  }
  // --- the account -----------------------------------------------------------------------------
  const seen = new Uint8Array(total);
  const ro = new Database(dbPath, { readonly: true });
  let rows = 0;
  let records = 0;
  const flags = {};
  const FLAG_NAMES = await import(path.join(ROOT, 'dist/store/records.js')).then((m) => m.RECORD_FLAGS);
  const idRe = /hx(\d+)\./g;
  for (const row of ro.prepare('SELECT message, stack, err_message, extra, count, flags FROM logs').iterate()) {
    rows++;
    records += row.count;
    for (const [name, bit] of Object.entries(FLAG_NAMES)) if (row.flags & bit) flags[name] = (flags[name] ?? 0) + 1;
    for (const field of [row.message, row.stack, row.err_message, row.extra]) {
      if (!field) continue;
      for (const m of field.matchAll(idRe)) {
        const id = Number(m[1]);
        if (id < total) seen[id] = 1;
      }
    }
  }
  const dropped = Object.fromEntries(
    ro
      .prepare('SELECT reason, count FROM dropped')
      .all()
      .map((d) => [d.reason, d.count]),
  );
  ro.close();
  let found = 0;
  const missing = [];
  for (let i = 0; i < total; i++) {
    if (seen[i]) found++;
    else if (missing.length < 20) missing.push(i);
  }
  const droppedTotal = Object.values(dropped).reduce((a, b) => a + b, 0);
  // RSS at the end of the baseline and at each quarter of the hostile lines: the first sample at
  // or past the mark, and the highest sample in the stretch before it.
  const marks = [];
  const points = [['baseline done', base]];
  for (const q of [25, 50, 75, 100]) points.push([`${q}%`, base + Math.round(((total - base) * q) / 100)]);
  let from = 0;
  for (const [label, at] of points) {
    let i = samples.findIndex((x) => x.written >= at);
    if (i < 0) i = samples.length - 1;
    const stretch = samples.slice(from, i + 1);
    marks.push({
      mark: label,
      linesWritten: samples[i]?.written,
      s: samples[i]?.s,
      rssMiB: samples[i]?.rssMiB,
      maxRssMiBInStretch: Math.max(0, ...stretch.map((x) => x.rssMiB)),
    });
    from = i + 1;
  }
  const endRss = +(r.rss / 1048576).toFixed(1);
  const afterBaseline = marks[0]?.rssMiB;
  const result = {
    mode,
    lines: total,
    baselineLines: base,
    hostileLines: total - base,
    rssMarks: marks,
    rssEndOverBaseline: base > 0 && afterBaseline ? +(endRss / afterBaseline).toFixed(2) : undefined,
    kinds: done,
    supervisorAlive: alive,
    finished: done !== null,
    seconds: +seconds.toFixed(1),
    linesPerSecond: Math.round(total / seconds),
    rows,
    records,
    idsFound: found,
    dropped,
    unaccounted: total - found - droppedTotal,
    firstMissing: missing,
    flags,
    peakRssMiB: +(Math.max(peak, hwm) / 1048576).toFixed(1),
    endRssMiB: endRss,
  };
  if (args.samples) result.samples = samples;
  if (!alive || !done) result.supervisorStderr = err.slice(-4000);
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
  else result.dir = dir;
  return result;
}

const results = [];
if (args.phase !== 'ordinary') results.push(await runPhase('hostile'));
if (args.phase !== 'hostile') results.push(await runPhase('ordinary'));
const out = { results, loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') };
if (results.length === 2) out.peakRssRatio = +(results[0].peakRssMiB / results[1].peakRssMiB).toFixed(2);
console.log(JSON.stringify(out, null, 2));
if (results.some((r) => !r.supervisorAlive || !r.finished || r.unaccounted !== 0)) process.exitCode = 1;
