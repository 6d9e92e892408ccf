#!/usr/bin/env node
// Output identity of two builds of the template miner: a speed change must not change a single
// assignment or template. Both builds mine the same inputs in one process; everything they
// answer is hashed and compared, and the first difference is printed.
//
//   npm run build && node bench/miner-identity.mjs BASELINE_DIST [CANDIDATE_DIST=dist] [--cli BASELINE_BIN]
//
// Inputs: each of the eight Loghub-2k systems on its own and all of them mixed
// (../shared/data/loghub), a seeded fuzz set (random shapes, values, whitespace, unicode, words
// that vary by one position, stack frames, lines with thousands of tokens) and mutated Loghub
// lines. Each input runs with the caches on and off. Compared: every `addId` answer, the resolved
// assignment of every line after the last, every template (text, tokens, count, merges, first
// and last seen), the dirty ids, the answers of `add()` (id, text, created, changed, parameters),
// `match()` and `tokens()`/`mask()` of the masker. With `--cli`, `dancer mine --assignments`
// (tab and --json forms, and the template table) of both builds is compared byte for byte.
// Exits 1 on any difference.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const cliAt = argv.indexOf('--cli');
const baselineBin = cliAt >= 0 ? argv.splice(cliAt, 2)[1] : undefined;
const quick = argv.includes('--quick') ? argv.splice(argv.indexOf('--quick'), 1) && true : false;
const timing = argv.includes('--timing') ? argv.splice(argv.indexOf('--timing'), 1) && true : false;
const [baseline, candidate = path.join(here, '../dist')] = argv;
if (!baseline) {
  console.error('usage: node bench/miner-identity.mjs BASELINE_DIST [CANDIDATE_DIST] [--cli BASELINE_BIN] [--quick]');
  process.exit(2);
}

let data = path.resolve(here, '../../shared/data/loghub');
for (let dir = path.resolve(here, '../..'); !existsSync(data) && dir !== path.dirname(dir); dir = path.dirname(dir)) {
  data = path.join(path.dirname(dir), 'shared/data/loghub');
}
const SYSTEMS = ['HDFS', 'Hadoop', 'Spark', 'Zookeeper', 'HealthApp', 'Apache', 'OpenSSH', 'Proxifier'];
const systems = existsSync(data)
  ? SYSTEMS.map((s) => ({
      name: s,
      lines: readFileSync(path.join(data, s, 'content.txt'), 'utf8')
        .split('\n')
        .filter(Boolean),
    }))
  : [];
if (systems.length === 0) console.error(`warning: ${data} not found: Loghub inputs skipped`);

// ---- the fuzz set (seeded) -----------------------------------------------------------------
let seed = 1234567;
const rand = () => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const int = (n) => Math.floor(rand() * n);
const pick = (a) => a[int(a.length)];
const skew = (a) => a[Math.floor(a.length * rand() ** 3)];
const WORDS = `started stopped failed retrying accepted rejected queued opened closed sent received
  connection session request job worker user file block task node lease cache shard replica
  the a of for to from in on at by with GET POST PUT DELETE HEAD INFO WARN ERROR RUNNING
  NEW_SAVING EUR USD GBP DE FR alpha beta gamma delta epsilon zeta eta theta iota kappa lambda
  mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega log4j ssh2 jk2_init SOCKS5 true
  false null True NULL none ok OK yes no`.split(/\s+/);
const PUNCT = [
  ',',
  '.',
  ':',
  ';',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '"',
  "'",
  '=',
  '-',
  '_',
  '/',
  '@',
  '#',
  '|',
  '<',
  '>',
  '*',
  '+',
  '!',
  '?',
  '\\',
  '%',
  '$',
  '&',
  '~',
  '^',
  '`',
];
const hex = (n) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
const VALUE = [
  () => String(int(100000)),
  () => String(-int(100)),
  () => `${int(256)}.${int(256)}.${int(256)}.${int(256)}`,
  () => `${int(256)}.${int(256)}.${int(256)}.${int(256)}:${int(65536)}`,
  () => `/${int(10)}.${int(10)}.${int(10)}.${int(10)}:${int(9999)}`,
  () => `${int(5000)}ms`,
  () => `${(rand() * 100).toFixed(2)}`,
  () => `${int(900)} ${pick(['KB', 'MB', 'bytes', 'B', 'kb', 'GiB'])}`,
  () => `${int(900)}${pick(['KB', 'MB', 'B', 'k', 's', 'ms'])}`,
  () => `0x${hex(1 + int(12))}`,
  () => `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
  () => hex(6 + int(30)),
  () => `req_${hex(8)}`,
  () => `blk_${rand() < 0.5 ? '-' : ''}${int(1e9)}${int(1e9)}`,
  () => `rdd_${int(9)}_${int(99)}`,
  () => `${pick(WORDS)}=${int(1000)}`,
  () => `${pick(WORDS)}=${pick(WORDS)}`,
  () => `${pick(WORDS)}:${int(100)}`,
  () => `/var/${pick(WORDS)}/${pick(WORDS)}/part-${int(100)}.log`,
  () => `C:\\Users\\${pick(WORDS)}\\x.txt`,
  () => `https://${pick(WORDS)}.example.com:${int(9999)}/a/${int(99)}?q=${int(9)}`,
  () => `${pick(WORDS)}@${pick(WORDS)}.example.org`,
  () => `2026-${1 + int(12)}-${10 + int(18)}T${10 + int(13)}:${10 + int(49)}:${10 + int(49)}.${int(999)}Z`,
  () => `${int(24)}:${10 + int(49)}:${10 + int(49)}`,
  () => `${int(24)}:${10 + int(49)}`,
  () => `fe80::${hex(4)}:${hex(4)}%eth0`,
  () => `[2001:db8::${hex(3)}]:${int(9999)}`,
  () => `${pick(WORDS)}.${pick(WORDS)}.internal:${int(9999)}`,
  () => `"${pick(WORDS)} ${pick(['/a', '/b/c', `/x/${int(99)}`])} HTTP/1.1"`,
  () => `'${pick(WORDS)} ${int(9)}'`,
  () => `(${int(99)})`,
  () => `[${pick(WORDS)}-${int(9)}]`,
  () => `${pick(WORDS)}${int(99)}`,
  () => `<*>`,
  () => `a<*>b`,
  () => pick(['true', 'false', 'null', '(true)', 'false,', 'a.true', 'true-ish', 'NULL.']),
  () => `${'ñé漢字🙂'[int(5)]}${pick(WORDS)}`,
  () => `\ud800${pick(WORDS)}`,
  () => '\u0000',
  () => `${int(9)}${pick(PUNCT)}${int(9)}${pick(PUNCT)}${hex(3)}`,
  () => Array.from({ length: 1 + int(6) }, () => (rand() < 0.5 ? pick(PUNCT) : String(int(99)))).join(''),
  () => `job_${int(1e12)}_${int(9999)}Job`,
  () => `-${int(9)}`,
  () => `+${int(9)}`,
  () => `msra-sa-${int(99)}`,
];
const SPACE = [' ', ' ', ' ', ' ', '  ', '\t', ' \t ', '\u000b', '\f', ' \r ', '\u00a0'];

/** Shapes: a few words and value slots; some vary in one word, so the evidence rule fires. */
function makeShapes(k) {
  const out = [];
  for (let i = 0; i < k; i++) {
    const len = 1 + int(rand() < 0.1 ? 30 : 9);
    const parts = [];
    for (let j = 0; j < len; j++) {
      const r = rand();
      if (r < 0.45) parts.push({ word: skew(WORDS) });
      else if (r < 0.55) parts.push({ words: Array.from({ length: 2 + int(8) }, () => pick(WORDS)) });
      else if (r < 0.62) parts.push({ word: pick(PUNCT) + pick(WORDS) + pick(PUNCT) });
      else parts.push({ value: pick(VALUE) });
    }
    out.push(parts);
  }
  return out;
}
function render(shape) {
  let s = rand() < 0.05 ? pick(SPACE) : '';
  shape.forEach((p, j) => {
    if (j > 0) s += rand() < 0.9 ? ' ' : pick(SPACE);
    s += p.word ?? (p.words ? skew(p.words) : p.value());
  });
  if (rand() < 0.03) s += pick(SPACE);
  return s;
}
function fuzzLines(n, k) {
  const shapes = makeShapes(k);
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.002) out.push(Array.from({ length: 300 + int(3000) }, () => pick(WORDS)).join(' '));
    else if (r < 0.003) out.push('x'.repeat(50_000 + int(50_000)));
    else if (r < 0.004) out.push(Array.from({ length: 500 }, () => pick(VALUE)()).join(' '));
    else if (r < 0.01) out.push(pick(['', ' ', '\t', '<*>', '<*> <*>', '=', ':', '"', "''", '0', '-', '--']));
    else if (r < 0.03)
      out.push(Array.from({ length: 1 + int(12) }, () => pick(PUNCT) + (rand() < 0.5 ? int(9) : '')).join(pick(SPACE)));
    else out.push(render(skew(shapes)));
  }
  return out;
}
/** Loghub lines with one token swapped, dropped, doubled or replaced by a value. */
function mutated(lines, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = pick(lines).split(' ');
    const at = int(t.length);
    const r = rand();
    if (r < 0.25) t[at] = pick(WORDS);
    else if (r < 0.5) t.splice(at, 1);
    else if (r < 0.7) t.splice(at, 0, t[at]);
    else t[at] = pick(VALUE)();
    out.push(t.join(' '));
  }
  return out;
}
const FRAMES = [
  [
    '    at handler (/srv/app/src/routes/cart.js:42:11)',
    '    at Layer.handle (/srv/app/node_modules/express/lib/router/layer.js:95:5)',
  ],
  ['    at checkout (/srv/app/src/checkout.ts:10:3)\n    at main (/srv/app/src/index.ts:5:1)'],
  ['    at Object.<anonymous> (/srv/app/src/db.js:7:9)'],
  ['    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)'],
];

const inputs = [];
for (const s of systems) inputs.push({ name: s.name, lines: s.lines });
if (systems.length > 0) {
  const all = systems.flatMap((s) => s.lines);
  seed = 42;
  inputs.push({ name: 'loghub-mix', lines: Array.from({ length: quick ? 20_000 : 60_000 }, () => pick(all)) });
  seed = 7;
  inputs.push({ name: 'loghub-mutated', lines: mutated(all, quick ? 10_000 : 30_000) });
}
seed = 99;
inputs.push({ name: 'fuzz', lines: fuzzLines(quick ? 15_000 : 40_000, 600) });
seed = 5;
inputs.push({ name: 'fuzz-frames', lines: fuzzLines(quick ? 5_000 : 15_000, 80), frames: true });
seed = 11;
inputs.push({ name: 'fuzz-many-shapes', lines: fuzzLines(quick ? 10_000 : 30_000, 8000) });

/** A value, or the error's class when computing it throws (a template regex past V8's limits). */
function attempt(fn) {
  try {
    return fn();
  } catch (error) {
    return `throws ${error?.constructor?.name}`;
  }
}

// ---- one run: everything a build answers, hashed ----------------------------------------------
async function load(dist) {
  const miner = await import(path.resolve(dist, 'patterns/miner.js'));
  const masks = await import(path.resolve(dist, 'patterns/masks.js'));
  return { TemplateMiner: miner.TemplateMiner, createMasker: masks.createMasker };
}

function run(lib, input, options) {
  const parts = []; // [label, string] pairs, hashed in order; kept to find the first difference
  const h = createHash('sha256');
  const note = (label, value) => {
    const s = typeof value === 'string' ? value : JSON.stringify(value);
    h.update(label);
    h.update('\u0000');
    h.update(s);
    h.update('\u0001');
    parts.push([label, s]);
  };
  const optsFor = (i) => {
    if (!input.frames) return i % 3 === 0 ? undefined : { ts: 1_000_000 + ((i * 7919) % 100_000) };
    const o = { ts: 1_000_000 + i };
    if (i % 2 === 0) o.frames = FRAMES[i % FRAMES.length];
    return o;
  };
  // addId, the hot path.
  const miner = new lib.TemplateMiner(options);
  const ids = new Int32Array(input.lines.length);
  input.lines.forEach((line, i) => {
    ids[i] = miner.addId(line, optsFor(i));
    if (i % 997 === 0) note(`dirty@${i}`, miner.takeDirty());
  });
  note('ids', Array.from(ids).join(','));
  note('resolved', Array.from(ids, (id) => miner.resolveId(id)).join(','));
  note('templates', miner.templates());
  note('size', String(miner.size));
  // add(): the full answer.
  const m2 = new lib.TemplateMiner(options);
  input.lines.forEach((line, i) => {
    const r = m2.add(line, optsFor(i));
    const p = i % 13 === 0 ? attempt(() => r.parameters) : undefined;
    note(`add@${i}`, `${r.templateId}\t${r.template}\t${r.created}\t${r.changed}${p ? `\t${JSON.stringify(p)}` : ''}`);
  });
  // match() and tokens()/mask() on a sample, against the finished miner.
  for (let i = 0; i < input.lines.length; i += 7) {
    const line = input.lines[i];
    const o = optsFor(i);
    const r = m2.match(line, o?.frames ? { frames: o.frames } : {});
    note(`match@${i}`, r ? `${r.templateId}\t${r.template}\t${JSON.stringify(attempt(() => r.parameters))}` : '-');
    note(`tokens@${i}`, miner.tokens(line));
  }
  const masker = lib.createMasker(options.masks);
  for (let i = 0; i < input.lines.length; i += 11) note(`mask@${i}`, masker.mask(input.lines[i]));
  return { hash: h.digest('hex'), parts };
}

const CONFIGS = [
  { name: 'caches on', options: {} },
  { name: 'caches off', options: { cacheSize: 0 } },
  { name: 'small cache', options: { cacheSize: 50 } },
  {
    name: 'masks off, custom',
    options: { masks: { disable: ['numbers', 'size', 'ipv4'], custom: [{ name: 'k', pattern: 'k[0-9]+' }] } },
  },
];

const a = await load(baseline);
const b = await load(candidate);
let failed = 0;
for (const input of inputs) {
  for (const config of CONFIGS) {
    // The last two configurations on the fuzz inputs only (they are about masks and eviction).
    if (config.name !== 'caches on' && config.name !== 'caches off' && !input.name.startsWith('fuzz')) continue;
    const t0 = performance.now();
    const ra = run(a, input, config.options);
    const t1 = performance.now();
    const rb = run(b, input, config.options);
    const t2 = performance.now();
    if (timing) console.error(`  ${input.name}, ${config.name}: ${Math.round(t1 - t0)} ms / ${Math.round(t2 - t1)} ms`);
    const same = ra.hash === rb.hash;
    console.log(
      `${same ? 'same' : 'DIFF'}  ${input.name} (${input.lines.length} lines), ${config.name}: ${rb.hash.slice(0, 16)}`,
    );
    if (!same) {
      failed++;
      const k = ra.parts.findIndex((p, i) => rb.parts[i]?.[0] !== p[0] || rb.parts[i]?.[1] !== p[1]);
      const [la, va] = ra.parts[k] ?? ['(end)', ''];
      const [lb, vb] = rb.parts[k] ?? ['(end)', ''];
      let c = 0;
      while (c < va.length && va[c] === vb[c]) c++;
      console.log(`  first difference at ${la} / ${lb}, character ${c}:`);
      console.log(`  baseline:  ${va.slice(Math.max(0, c - 200), c + 200)}`);
      console.log(`  candidate: ${vb.slice(Math.max(0, c - 200), c + 200)}`);
    }
  }
}

// ---- end to end: `dancer mine` of both builds, byte for byte --------------------------------
if (baselineBin) {
  const work = mkdtempSync(path.join(tmpdir(), 'dancer-identity-'));
  try {
    const candidateBin = path.resolve(candidate, '../bin/dancer.js');
    const files = [];
    for (const input of inputs) {
      if (input.frames) continue;
      const file = path.join(work, `${input.name}.txt`);
      // CRLF on some lines and no newline at the end of one file: the line cutting is compared too.
      writeFileSync(
        file,
        input.lines.map((l, i) => (i % 17 === 0 ? `${l}\r` : l)).join('\n') + (input.name === 'fuzz' ? '' : '\n'),
      );
      files.push(file);
    }
    const cat = path.join(work, 'all.txt');
    writeFileSync(cat, files.map((f) => readFileSync(f, 'utf8')).join('\n'));
    files.push(cat);
    for (const file of files) {
      for (const args of [['--assignments'], ['--assignments', '--json'], ['--json'], []]) {
        const out = (bin) => {
          const r = spawnSync(process.execPath, [bin, 'mine', ...args, '--quiet', file], {
            cwd: work,
            maxBuffer: 1 << 30,
            env: { ...process.env, NO_COLOR: '1' },
          });
          if (r.status !== 0) throw new Error(`${bin} mine failed: ${r.stderr}`);
          return createHash('sha256').update(r.stdout).digest('hex');
        };
        const ha = out(baselineBin);
        const hb = out(candidateBin);
        const same = ha === hb;
        if (!same) failed++;
        console.log(
          `${same ? 'same' : 'DIFF'}  dancer mine ${args.join(' ')} ${path.basename(file)}: ${hb.slice(0, 16)}`,
        );
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
console.log(failed === 0 ? 'identical' : `${failed} DIFFERENCES`);
process.exit(failed === 0 ? 0 : 1);
