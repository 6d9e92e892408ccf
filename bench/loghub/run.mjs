#!/usr/bin/env node
// Loghub-2k quality benchmark of the template miner.
//
//   npm run build && node bench/loghub/run.mjs [--data DIR] [--no-write]
//
// Runs `dancer mine --assignments` on each system's content.txt (read from ../shared/data/loghub
// beside the repository; never copied into it), scores it with ../shared/tools/loghub-eval.py,
// and writes GA, PA and FGA per system and the mean, beside Drain's, to bench/RESULTS.md.
// One configuration for every system: the defaults, no dancer.yaml.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GRID, leaveOneOut } from './loo.mjs';
import { writeSection } from './results-section.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const args = process.argv.slice(2);
const dataArg = args.indexOf('--data');
const data = dataArg >= 0 ? path.resolve(args[dataArg + 1]) : findData(repo);

/** `shared/data/loghub` beside the clone or beside one of its parent folders (a worktree). */
function findData(from) {
  for (let dir = path.resolve(from, '..'); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'shared/data/loghub');
    if (existsSync(candidate) || dir === path.dirname(dir)) return candidate;
  }
}
const evaluator = path.resolve(data, '../../tools/loghub-eval.py');
const write = !args.includes('--no-write');

if (!existsSync(data) || !existsSync(evaluator)) {
  console.error(`loghub benchmark skipped: ${data} or ${evaluator} not found (see bench/loghub/README.md)`);
  process.exit(0);
}
if (!existsSync(path.join(repo, 'dist/cli/main.js'))) {
  console.error('run `npm run build` first');
  process.exit(1);
}

// Drain (logparser, tuned per system) as scored in ../shared/data/loghub/README.md.
const DRAIN = {
  HDFS: [0.9975, 0.6255, 0.8667],
  Hadoop: [0.9475, 0.5135, 0.8203],
  Spark: [0.92, 0.382, 0.7692],
  Zookeeper: [0.9665, 0.497, 0.8542],
  HealthApp: [0.78, 0.2305, 0.3514],
  Apache: [1.0, 0.6935, 1.0],
  OpenSSH: [0.789, 0.508, 0.88],
  Proxifier: [0.5265, 0.5035, 0.5385],
};

const work = mkdtempSync(path.join(tmpdir(), 'dancer-loghub-'));
const rows = [];
try {
  for (const system of Object.keys(DRAIN)) {
    const content = path.join(data, system, 'content.txt');
    const truth = path.join(data, system, 'truth.tsv');
    // cwd is an empty temp dir, so no dancer.yaml is picked up: defaults only.
    const mined = spawnSync(
      process.execPath,
      [path.join(repo, 'bin/dancer.js'), 'mine', '--assignments', '--quiet', content],
      {
        cwd: work,
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      },
    );
    if (mined.status !== 0) throw new Error(`dancer mine failed on ${system}: ${mined.stderr}`);
    const pred = path.join(work, `${system}.tsv`);
    writeFileSync(pred, mined.stdout);
    const score = JSON.parse(
      execFileSync('python3', [evaluator, '--truth', truth, '--pred', pred, '--name', system], { encoding: 'utf8' }),
    );
    const templates = new Set(
      mined.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[1]),
    ).size;
    rows.push({ system, GA: score.GA, PA: score.PA, FGA: score.FGA, FTA: score.FTA, templates, drain: DRAIN[system] });
    console.error(
      `${system.padEnd(10)} GA ${score.GA.toFixed(4)}  PA ${score.PA.toFixed(4)}  FGA ${score.FGA.toFixed(4)}  FTA ${score.FTA.toFixed(4)}`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const mean = (f) => rows.reduce((s, r) => s + f(r), 0) / rows.length;
const f4 = (x) => x.toFixed(4).replace(/^0\./, '.');
const table = [
  '| system | GA | PA | FGA | FTA | templates | Drain GA | Drain PA | Drain FGA |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.system} | ${f4(r.GA)} | ${f4(r.PA)} | ${f4(r.FGA)} | ${f4(r.FTA)} | ${r.templates} | ${f4(r.drain[0])} | ${f4(r.drain[1])} | ${f4(r.drain[2])} |`,
  ),
  `| **mean** | **${f4(mean((r) => r.GA))}** | **${f4(mean((r) => r.PA))}** | **${f4(mean((r) => r.FGA))}** | **${f4(mean((r) => r.FTA))}** | | **${f4(mean((r) => r.drain[0]))}** | **${f4(mean((r) => r.drain[1]))}** | **${f4(mean((r) => r.drain[2]))}** |`,
].join('\n');

// Leave one system out (loo.mjs): for each system, the setting chosen on the other seven.
const loo = leaveOneOut(data);
const looMean = (k) => loo.rows.reduce((a, r) => a + r[k], 0) / loo.rows.length;
// The in-process port of the evaluator must agree with the Python one on the shipped default.
for (const r of rows) {
  const port = loo.scores[0][loo.rows.findIndex((x) => x.system === r.system)];
  if (Math.abs(port.GA - r.GA) > 1e-9 || Math.abs(port.FTA - r.FTA) > 1e-9) {
    throw new Error(`metrics.mjs disagrees with loghub-eval.py on ${r.system}: ${port.GA} vs ${r.GA}`);
  }
}
const looTable = [
  '| held out | setting chosen on the other 7 | GA | PA | FGA | FTA | Drain GA | GA − Drain |',
  '|---|---|---|---|---|---|---|---|',
  ...loo.rows.map(
    (r) =>
      `| ${r.system} | ${r.chosen} | ${f4(r.GA)} | ${f4(r.PA)} | ${f4(r.FGA)} | ${f4(r.FTA)} | ${f4(DRAIN[r.system][0])} | ${(r.GA - DRAIN[r.system][0]).toFixed(4)} |`,
  ),
  `| **mean** | | **${f4(looMean('GA'))}** | **${f4(looMean('PA'))}** | **${f4(looMean('FGA'))}** | **${f4(looMean('FTA'))}** | **${f4(mean((r) => r.drain[0]))}** | |`,
].join('\n');
const gridTable = [
  '| setting | ' + loo.systems.join(' | ') + ' | mean GA |',
  '|---|' + loo.systems.map(() => '---|').join('') + '---|',
  ...GRID.map(
    (g, gi) =>
      `| ${g.name} | ${loo.scores[gi].map((x) => f4(x.GA)).join(' | ')} | ${f4(loo.scores[gi].reduce((a, x) => a + x.GA, 0) / loo.systems.length)} |`,
  ),
].join('\n');
console.log(table);
console.log(looTable);

const below = rows.filter((r) => r.GA < r.drain[0]).map((r) => r.system);
const body = `Command: \`npm run build && node bench/loghub/run.mjs\` (${new Date().toISOString().slice(0, 10)}, node ${process.version}).

\`dancer mine --assignments\` on each Loghub-2k system's \`content.txt\` (corrected ground truth, from
\`../shared/data/loghub\`, not in this repository), scored with \`../shared/tools/loghub-eval.py\`
(grouping by template id). One configuration for all systems: the defaults (similarity 0.7,
depth 2, every built-in mask, the evidence rule: a word position becomes \`<*>\` at four distinct
words, two of them rare), no dancer.yaml, no per-system rules. Drain's figures are logparser's
Drain tuned per system (its own \`st\`, depth and regexes for each), from the data set's README
(which gives no FTA for Drain).

${table}

### Leave one system out

The dev set must not choose the miner's settings for the system it scores. The only data-driven
choices are the settings below (similarity threshold; the evidence rule's two numbers); there
are no word lists or learned weights. For each system, the setting with the best mean GA on the
other seven is chosen, and the held-out system is scored with it (in process, the same
\`TemplateMiner.add()\`; metrics by \`bench/loghub/metrics.mjs\`, checked above to agree with the
Python evaluator on every system). The shipped default (0.7, four words, two rare) was fixed
before this table was first run: the evidence numbers from the log shapes in
\`test/patterns/shapes.ts\` (written for the tests, not taken from the dev set), and the dev set
does not move them (every evidence setting scores the same GA on all eight systems).

${looTable}

GA of every setting on every system (what the choice above is made from):

${gridTable}

Targets: dev leave-one-out mean GA >= 0.95 (${looMean('GA') >= 0.95 ? 'met' : 'missed'}: ${f4(looMean('GA'))}); no system below Drain (${below.length === 0 ? 'met' : `missed: ${below.join(', ')}`}).
The held-out check (8 other Loghub-2k systems, not in this repository) is run outside: this
table cannot stand in for it.
`;
if (write) {
  writeSection(path.join(repo, 'bench/RESULTS.md'), '## Template miner: Loghub-2k quality', body);
  console.error('wrote bench/RESULTS.md');
}
