// CLI start-up: `dancer logs --help` with lazy command groups (as shipped) against the same
// command with every group imported first (what the eager registration used to load), in one
// run, alternating. Run after `npm run build`: node bench/cli-startup.mjs [runs]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'dancer.js');
const runs = Number(process.argv[2] ?? 15);
const { COMMAND_GROUPS } = await import(pathToFileURL(path.join(root, 'dist/cli/commands.js')).href);
// An --import data URL that loads every group, as `import { register } from './x.js'` did.
const eagerImports = COMMAND_GROUPS.map(
  (_, i) =>
    `await (await import('${pathToFileURL(path.join(root, 'dist/cli/commands.js')).href}')).COMMAND_GROUPS[${i}].load();`,
).join('');
const eagerFlag = `--import=data:text/javascript,${encodeURIComponent(eagerImports)}`;

function time(args) {
  const start = process.hrtime.bigint();
  const run = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const cases = {
  'lazy: dancer logs --help': [bin, 'logs', '--help'],
  'eager (every group imported): dancer logs --help': [eagerFlag, bin, 'logs', '--help'],
  'lazy: dancer --help (loads every group)': [bin, '--help'],
};
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const args of Object.values(cases)) time(args); // warm the file cache
for (let i = 0; i < runs; i++) for (const [name, args] of Object.entries(cases)) samples[name].push(time(args));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(samples['eager (every group imported): dancer logs --help']);
for (const [name, xs] of Object.entries(samples)) {
  const m = median(xs);
  console.log(
    `${name.padEnd(52)} median ${m.toFixed(0).padStart(5)} ms  min ${Math.min(...xs)
      .toFixed(0)
      .padStart(5)} ms  ${(m / base).toFixed(2)}x eager`,
  );
}
