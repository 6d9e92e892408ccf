#!/usr/bin/env node
// Template miner, caches off, two builds in one process: the same Loghub mix through each, in
// alternating rounds, so both see the same machine. Prints CPU-time rates and the paired ratio.
//
//   npm run build && node bench/miner-ab.mjs BASELINE_DIST [CANDIDATE_DIST=dist] [ROUNDS=11]
//
// BASELINE_DIST is a `dist/` folder built from another commit (e.g. `git worktree add /tmp/base
// <commit> && (cd /tmp/base && npm run build)`, then /tmp/base/dist).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [baseline, candidate = path.join(here, '../dist'), roundsArg = '11'] = process.argv.slice(2);
if (!baseline) {
  console.error('usage: node bench/miner-ab.mjs BASELINE_DIST [CANDIDATE_DIST] [ROUNDS]');
  process.exit(2);
}
let data = path.resolve(here, '../../shared/data/loghub');
for (let dir = path.resolve(here, '../..'); !existsSync(data) && dir !== path.dirname(dir); dir = path.dirname(dir)) {
  data = path.join(path.dirname(dir), 'shared/data/loghub');
}
const systems = ['HDFS', 'Hadoop', 'Spark', 'Zookeeper', 'HealthApp', 'Apache', 'OpenSSH', 'Proxifier'];
const lines = systems.flatMap((s) =>
  readFileSync(path.join(data, s, 'content.txt'), 'utf8')
    .split('\n')
    .filter(Boolean),
);
let seed = 42;
const rand = () => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const mixed = Array.from({ length: 50_000 }, () => lines[Math.floor(rand() * lines.length)]);
const load = async (dist) => {
  const { TemplateMiner } = await import(path.resolve(dist, 'patterns/miner.js'));
  const miner = new TemplateMiner({ cacheSize: 0 });
  for (const l of lines) miner.add(l);
  return miner;
};
const a = await load(baseline);
const b = await load(candidate);
const cpu = (miner) => {
  const c0 = process.cpuUsage();
  let sink = 0;
  for (const m of mixed) sink += miner.addId(m);
  const c = process.cpuUsage(c0);
  if (sink < 0) console.log(sink);
  return (c.user + c.system) / 1e6;
};
cpu(a);
cpu(b);
const ra = [];
const rb = [];
const ratio = [];
for (let r = 0; r < Number(roundsArg); r++) {
  const ta = cpu(a);
  const tb = cpu(b);
  ra.push(mixed.length / ta);
  rb.push(mixed.length / tb);
  ratio.push(ta / tb);
}
const med = (x) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
const r0 = (x) => Math.round(x);
console.log(
  JSON.stringify({
    rounds: ratio.length,
    baseline: { median: r0(med(ra)), best: r0(Math.max(...ra)) },
    candidate: { median: r0(med(rb)), best: r0(Math.max(...rb)) },
    speedup: {
      median: +med(ratio).toFixed(3),
      min: +Math.min(...ratio).toFixed(3),
      max: +Math.max(...ratio).toFixed(3),
    },
  }),
);
