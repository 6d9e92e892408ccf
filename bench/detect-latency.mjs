// Detection latency: from the record that crosses a threshold being stored (its batch committed)
// to the detector's decision, with the real writer (default 200 ms batches), miner and detector on
// a real SQLite file, under background load, with many templates and warm baselines.
//
//   npm run build && node bench/detect-latency.mjs [--trials 40] [--templates 2000] [--rate 2000]
//
// Each trial writes 10 errors of a brand-new pattern, then the 11th (the one that crosses the
// new-pattern threshold), and waits for the trigger. Crash trials write one fatal record.
// Two figures per trial:
//   stored->decision: afterCommit of the batch holding the crossing record -> decision emitted
//   write->decision:  writer.write(crossing record) -> decision emitted (adds the batch delay)
// Prints one JSON object.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parseConfigText } from '../dist/config/index.js';
import { createPatternsPipeline } from '../dist/patterns/detector-pipeline.js';
import { LogWriter } from '../dist/store/log-writer.js';
import { openStore } from '../dist/store/open.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '40' },
    templates: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '2000' },
  },
});
const TRIALS = Number(values.trials);
const TEMPLATES = Number(values.templates);
const RATE = Number(values.rate);

let seed = 42;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const word = (n = 6) => Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(rnd() * 26))).join('');
const shapes = Array.from({ length: TEMPLATES }, () => `${word()} ${word(5)} ${word(7)} id=<ID> took <MS> ms`);
const line = (shape) =>
  shape.replace('<ID>', String(Math.floor(rnd() * 1e6))).replace('<MS>', String(Math.floor(rnd() * 500)));

const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-detect-'));
const db = openStore(path.join(dir, 'dancer.db'));
const config = parseConfigText('{}', '<bench>');
const now0 = Date.now();

// ---- history: 90 minutes of buckets for every template (warm baselines), written fast ----------
{
  const pipeline = createPatternsPipeline(db, config, { now: () => now0 });
  const writer = new LogWriter(db, { plugins: pipeline.plugins, maxBatchRecords: 5000 });
  for (let m = 90; m >= 1; m--) {
    const ts = now0 - m * 60_000;
    for (let i = 0; i < TEMPLATES; i++)
      writer.write({ ts: ts + (i % 60_000), level: 30, message: line(shapes[i]), pid: i });
    writer.flush();
  }
  writer.close();
  pipeline.detector.tick(now0);
}

// ---- live: real clock, default batching, background load ---------------------------------------
const pipeline = createPatternsPipeline(db, config);
let committedAt = new Map(); // crossing-record marker -> time its batch committed
const probe = {
  name: 'bench-probe',
  afterCommit(rows) {
    const t = performance.now();
    for (const r of rows) if (r.record.extra?.benchMarker) committedAt.set(r.record.extra.benchMarker, t);
  },
};
// The probe runs before the detector's plugin: its afterCommit time is when the batch was stored.
const writer = new LogWriter(db, { plugins: [...pipeline.plugins.slice(0, 1), probe, ...pipeline.plugins.slice(1)] });
pipeline.detector.start();
// Time the detector's own work per committed batch (wall and CPU), to separate it from the load.
const evalWall = [];
const evalCpu = [];
const onCommitted = pipeline.detector.onCommitted.bind(pipeline.detector);
pipeline.detector.onCommitted = (rows) => {
  const t = performance.now();
  const c = process.cpuUsage();
  const out = onCommitted(rows);
  const used = process.cpuUsage(c);
  evalWall.push(performance.now() - t);
  evalCpu.push((used.user + used.system) / 1000);
  return out;
};

let bg = 0;
const background = setInterval(() => {
  for (let i = 0; i < RATE / 10; i++) {
    writer.write({ ts: Date.now(), level: 30, message: line(shapes[Math.floor(rnd() * shapes.length)]), pid: 1 });
    bg++;
  }
}, 100);

function waitTrigger(marker) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no trigger for ${marker} in 5 s`)), 5000);
    const onDecision = (d) => {
      if (d.outcome !== 'fire') return;
      clearTimeout(timer);
      pipeline.detector.off('decision', onDecision);
      resolve({ at: performance.now(), decision: d });
    };
    pipeline.detector.on('decision', onDecision);
  });
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: +q(0.5).toFixed(2), p95: +q(0.95).toFixed(2), max: +s[s.length - 1].toFixed(2) };
};

async function trial(kind, k) {
  const marker = `${kind}-${k}`;
  const shape = `${word()} ${word()} exploded while ${word()} handled order <ID>`;
  if (kind === 'new_pattern') {
    for (let i = 0; i < 10; i++) writer.write({ ts: Date.now(), level: 50, message: line(shape), pid: 2 });
  }
  const done = waitTrigger(marker);
  const wroteAt = performance.now();
  writer.write({
    ts: Date.now(),
    level: kind === 'crash' ? 60 : 50,
    message: line(shape),
    pid: 3,
    extra: { benchMarker: marker },
  });
  const { at, decision } = await done;
  if (decision.rule !== kind) throw new Error(`expected ${kind}, got ${decision.rule}`);
  pipeline.detector.complete(decision.triggerId);
  return { stored: at - committedAt.get(marker), written: at - wroteAt };
}

const results = { new_pattern: { stored: [], written: [] }, crash: { stored: [], written: [] } };
for (let k = 0; k < TRIALS; k++) {
  for (const kind of ['new_pattern', 'crash']) {
    const r = await trial(kind, k);
    results[kind].stored.push(r.stored);
    results[kind].written.push(r.written);
  }
  committedAt = new Map();
}
clearInterval(background);
pipeline.detector.stop();
writer.close();
const templates = db.prepare('SELECT count(*) AS n FROM templates').get().n;
db.close();
rmSync(dir, { recursive: true, force: true });

console.log(
  JSON.stringify(
    {
      trials: TRIALS,
      templates,
      backgroundRecordsPerSecond: RATE,
      backgroundRecords: bg,
      loadAverage1m: +loadavg()[0].toFixed(2),
      evaluationPerBatchMs: { wall: stats(evalWall), cpu: stats(evalCpu) },
      newPattern: {
        storedToDecisionMs: stats(results.new_pattern.stored),
        writeToDecisionMs: stats(results.new_pattern.written),
      },
      crash: { storedToDecisionMs: stats(results.crash.stored), writeToDecisionMs: stats(results.crash.written) },
    },
    null,
    2,
  ),
);
