#!/usr/bin/env node
// The miner alone on the hostile mix of bench/hostile-input.mjs (its generator, without the 10 MB
// lines; JSON lines mined by their `msg`, as the store's plugin does): heap after a full GC, live
// and merged templates, evictions and index entries at eight points. Shows that the template cap
// (patterns.miner.maxTemplates) bounds the miner's memory.
//
//   npm run build && node --expose-gc bench/hostile-miner-heap.mjs [lines=400000] [maxTemplates=10000]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const ROOT = path.resolve(import.meta.dirname, '..');
const LINES = Number(process.argv[2] ?? 400000);
const CAP = Number(process.argv[3] ?? 10000);
if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');
const { TemplateMiner } = await import(path.join(ROOT, 'dist/index.js'));
const src = readFileSync(path.join(ROOT, 'bench/hostile-input.mjs'), 'utf8');
const gen = src.slice(src.indexOf('String.raw`') + 11, src.indexOf('`;\n\nasync function runPhase'));
const dir = mkdtempSync(path.join(tmpdir(), 'dancer-bench-miner-heap-'));
writeFileSync(path.join(dir, 'gen.cjs'), gen.replace('setInterval(() => {}, 1 << 30);', ''));
const child = spawn(process.execPath, [path.join(dir, 'gen.cjs')], {
  env: { ...process.env, HX_LINES: String(LINES), HX_BASELINE: '0', HX_BIG: '0', HX_WORDS: '200', HX_MODE: 'hostile' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const miner = new TemplateMiner({ maxTemplates: CAP });
let n = 0;
const every = LINES / 8;
for await (const line of readline.createInterface({ input: child.stdout, crlfDelay: Infinity })) {
  let text = line;
  if (line.startsWith('{')) {
    try {
      const o = JSON.parse(line);
      if (typeof o.msg === 'string') text = o.msg;
    } catch {
      // not JSON: the line itself
    }
  }
  miner.addId(text.length > 1048576 ? text.slice(0, 1048576) : text);
  n++;
  if (n % 100 === 0) miner.takeDirty(); // a save per batch, as the store's plugin does
  if (n % every === 0) {
    global.gc();
    const s = miner.stats();
    const indexEntries = Object.values(s.index).reduce((a, b) => a + b, 0);
    const heapMiB = +(process.memoryUsage().heapUsed / 1048576).toFixed(1);
    console.log(
      JSON.stringify({ lines: n, heapMiB, live: s.live, merged: s.merged, evicted: s.evicted, indexEntries }),
    );
  }
}
rmSync(dir, { recursive: true, force: true });
