#!/usr/bin/env node
// Leave-one-system-out check of the template miner on the Loghub-2k dev set.
//
//   npm run build && node bench/loghub/loo.mjs [--data DIR] [--json]
//
// The miner's data-driven choices are the settings in GRID below (nothing else in it is fitted:
// no word lists, no weights). For each system S, the setting with the best mean GA on the OTHER
// seven systems is chosen, then S is scored with it: S never takes part in the choice that is
// scored on it. Mining is in-process (the same TemplateMiner.add() that `dancer mine` calls, one
// message per line); metrics as ../shared/tools/loghub-eval.py computes them (metrics.mjs).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TemplateMiner } from '../../dist/patterns/miner.js';
import { score } from './metrics.mjs';

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

export const SYSTEMS = ['HDFS', 'Hadoop', 'Spark', 'Zookeeper', 'HealthApp', 'Apache', 'OpenSSH', 'Proxifier'];

/** The settings the choice is made among (the shipped default is the first). */
export const GRID = [
  { name: 'default', options: {} },
  { name: 'st=0.6', options: { similarityThreshold: 0.6 } },
  { name: 'st=0.8', options: { similarityThreshold: 0.8 } },
  { name: 'k=3', options: { evidence: { minDistinct: 3 } } },
  { name: 'k=5', options: { evidence: { minDistinct: 5 } } },
  { name: 'rare=1', options: { evidence: { minRare: 1 } } },
  { name: 'rare=3', options: { evidence: { minRare: 3 } } },
];

export function loadSystem(dir, system) {
  const lines = readFileSync(path.join(dir, system, 'content.txt'), 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const truth = readFileSync(path.join(dir, system, 'truth.tsv'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, group, ...rest] = l.split('\t');
      return { group, template: rest.join('\t') };
    });
  return { lines, truth };
}

export function mineLines(lines, options) {
  const miner = new TemplateMiner(options);
  const ids = lines.map((l) => miner.add(l).templateId);
  return ids.map((id) => {
    const t = miner.get(id);
    return { group: t.id, template: t.template };
  });
}

/** Score every setting on every system, and each system with the setting chosen without it. */
export function leaveOneOut(dir) {
  const systems = SYSTEMS.map((s) => ({ name: s, ...loadSystem(dir, s) }));
  // scores[g][s]
  const scores = GRID.map((g) => systems.map((s) => score(s.truth, mineLines(s.lines, g.options))));
  const rows = systems.map((s, si) => {
    let best = 0;
    let bestMean = -1;
    GRID.forEach((_g, gi) => {
      const others = scores[gi].filter((_x, j) => j !== si);
      const m = others.reduce((a, x) => a + x.GA, 0) / others.length;
      if (m > bestMean + 1e-12) {
        bestMean = m;
        best = gi;
      }
    });
    return { system: s.name, chosen: GRID[best].name, ...scores[best][si], shipped: scores[0][si] };
  });
  return { systems: SYSTEMS, scores, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!existsSync(data)) {
    console.error(`leave-one-out skipped: ${data} not found (see bench/loghub/README.md)`);
    process.exit(0);
  }
  const { scores, rows } = leaveOneOut(data);
  const systems = SYSTEMS;
  if (args.includes('--json')) console.log(JSON.stringify({ grid: GRID, scores, rows }, null, 2));
  else {
    for (const [gi, g] of GRID.entries()) {
      const m = scores[gi].reduce((a, x) => a + x.GA, 0) / systems.length;
      console.log(`${g.name.padEnd(16)} mean GA ${m.toFixed(4)}  ${scores[gi].map((x) => x.GA.toFixed(3)).join(' ')}`);
    }
    for (const r of rows)
      console.log(
        `${r.system.padEnd(10)} chosen ${r.chosen.padEnd(14)} GA ${r.GA.toFixed(4)} PA ${r.PA.toFixed(4)} FGA ${r.FGA.toFixed(4)} FTA ${r.FTA.toFixed(4)}`,
      );
    const mean = (k) => rows.reduce((a, r) => a + r[k], 0) / rows.length;
    console.log(
      `mean LOO   GA ${mean('GA').toFixed(4)} PA ${mean('PA').toFixed(4)} FGA ${mean('FGA').toFixed(4)} FTA ${mean('FTA').toFixed(4)}`,
    );
  }
}
