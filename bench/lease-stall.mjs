#!/usr/bin/env node
/**
 * The event loop's longest stall when a fleet host starts its first consultation, with and
 * without `dancer run`'s preload of the Claude Agent SDK (src/cli/run.ts, issue 19).
 *
 * Each sample is a fresh node process (the import is cold once per process), measured with
 * perf_hooks.monitorEventLoopDelay (10 ms resolution):
 * - cold: the SDK is imported when the consultation starts (what runAgent did on its first call);
 * - preloaded: `preloadAgentSdk()` (dist/consult) runs at start, before the fleet starts; then
 *   the consultation's import is measured.
 * Prints the median and max of the consultation-time stall for each, and their ratio.
 *
 *   npm run build && node bench/lease-stall.mjs [samples=7]
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const samples = Number(process.argv[2] ?? 7);

const child = (preload) => `
import { monitorEventLoopDelay } from 'node:perf_hooks';
const settle = () => new Promise((r) => setTimeout(r, 50));
${preload ? `const { preloadAgentSdk } = await import(${JSON.stringify(path.join(ROOT, 'dist/consult/index.js'))}); await preloadAgentSdk(); await settle();` : ''}
const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
await settle();
h.reset();
// The consultation starts: runAgent imports the SDK.
await import('@anthropic-ai/claude-agent-sdk');
await settle();
h.disable();
process.stdout.write(String(h.max / 1e6));
`;

const run = (preload) =>
  Number(
    execFileSync(process.execPath, ['--input-type=module', '-e', child(preload)], { cwd: ROOT, encoding: 'utf8' }),
  );

const cold = [];
const warm = [];
for (let i = 0; i < samples; i++) {
  cold.push(run(false));
  warm.push(run(true));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `median ${median(xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
console.log(`samples: ${samples} fresh processes each`);
console.log(`consultation-time stall, cold import: ${fmt(cold)}`);
console.log(`consultation-time stall, SDK preloaded at start: ${fmt(warm)}`);
console.log(`ratio preloaded / cold (median): ${(median(warm) / median(cold)).toFixed(3)}`);
