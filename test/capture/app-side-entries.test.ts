import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, start, tempDir } from './helpers.js';

const LOADER = path.join(ROOT, 'test/capture/fixtures/load-entry.mjs');

interface Loaded {
  exports: string[];
  esm: string[];
  cjs: string[];
  builtins: string[];
}

async function load(entry: string): Promise<Loaded> {
  const log = path.join(tempDir(), 'loaded.txt');
  const run = await start(process.execPath, [LOADER, entry], { env: { DANCER_LOAD_LOG: log } }).done;
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as Loaded;
}

// What an app-side entry must never pull in.
const FORBIDDEN_FILES = [
  /\/dist\/cli\//,
  /\/dist\/(?:dashboard|consult|mcp|notify|supervise|fixes|patterns)\//,
  /\/node_modules\/commander\//,
  /\/node_modules\/@anthropic-ai\//,
  /\/node_modules\/@modelcontextprotocol\//,
  /\/node_modules\/(?:express|hono|fastify|undici)\//,
];
const FORBIDDEN_BUILTINS = [/^NativeModule (?:http|https|http2|_http_server|_http_client|_http_agent)$/];

function offenders(loaded: Loaded): string[] {
  const files = [...loaded.esm, ...loaded.cjs].filter((f) => FORBIDDEN_FILES.some((re) => re.test(f)));
  const builtins = loaded.builtins.filter((b) => FORBIDDEN_BUILTINS.some((re) => re.test(b)));
  return [...files, ...builtins];
}

describe('app-side entries load nothing heavy (fresh node process, built package)', () => {
  it('the built entries exist', () => {
    expect(existsSync(path.join(ROOT, 'dist/capture/pino-transport.js'))).toBe(true);
    expect(existsSync(path.join(ROOT, 'dist/capture/context.js'))).toBe(true);
  });

  it('dancer/context loads only itself and node built-ins', async () => {
    const loaded = await load('dancer/context');
    expect(loaded.exports).toEqual(['dancerMixin', 'getContext', 'runWithContext', 'updateContext']);
    expect(offenders(loaded)).toEqual([]);
    const ours = loaded.esm.filter((u) => u.startsWith('file:') && !u.endsWith('load-entry.mjs'));
    expect(ours.map((u) => u.replace(/^.*\/dist\//, 'dist/'))).toEqual(['dist/capture/context.js']);
    expect(loaded.cjs).toEqual([]);
  });

  it('dancer/pino loads no CLI, HTTP server, Agent SDK or MCP SDK', async () => {
    const loaded = await load('dancer/pino');
    expect(loaded.exports).toEqual(['default']);
    expect(offenders(loaded)).toEqual([]);
    // Sanity: the check sees what is really loaded.
    expect(loaded.esm.some((u) => u.endsWith('/dist/capture/pino-transport.js'))).toBe(true);
    expect(loaded.cjs.some((f) => f.includes('/node_modules/pino-abstract-transport/'))).toBe(true);
    expect(loaded.cjs.some((f) => f.includes('/node_modules/better-sqlite3/'))).toBe(true);
  });

  it('the check sees a heavy module when one is loaded (commander, as the CLI loads it)', async () => {
    const loaded = await load('commander');
    expect(offenders(loaded).some((f) => f.includes('/node_modules/commander/'))).toBe(true);
  });
});
