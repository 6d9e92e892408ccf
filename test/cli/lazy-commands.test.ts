import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { execa } from 'execa';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { COMMAND_GROUPS, type CommandGroup, groupsFor } from '../../src/cli/commands.js';
import { buildProgram } from '../../src/cli/main.js';

// Each case starts node; on a loaded 2-core machine one start can take seconds.
vi.setConfig({ testTimeout: 120_000 });

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin', 'dancer.js');
const recorder = path.join(root, 'test/cli/fixtures/record-loads.mjs');
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Loaded {
  esm: string[];
  cjs: string[];
}

/** Run `node --import record-loads.mjs ARGS` in a fresh process; return its output and every module it loaded. */
async function loadsOf(args: string[]): Promise<Loaded & { stdout: string; exitCode: number | undefined }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-lazy-'));
  dirs.push(dir);
  const log = path.join(dir, 'loaded.json');
  const run = await execa(process.execPath, ['--import', recorder, ...args], {
    cwd: dir,
    reject: false,
    env: { DANCER_LOAD_LOG: log, NO_COLOR: '1' },
  });
  expect(run.stderr).toBe('');
  const loaded = JSON.parse(readFileSync(log, 'utf8')) as Loaded;
  return { ...loaded, stdout: run.stdout, exitCode: run.exitCode };
}

const HEAVY = [/\/node_modules\/@anthropic-ai\/claude-agent-sdk/, /\/node_modules\/@modelcontextprotocol\/sdk\//];
const heavy = (loaded: Loaded) => [...loaded.esm, ...loaded.cjs].filter((f) => HEAVY.some((re) => re.test(f)));

describe('dancer loads only the command group it runs (fresh process, built CLI)', () => {
  it('`dancer logs --help` loads neither the Agent SDK nor the MCP SDK', async () => {
    const run = await loadsOf([bin, 'logs', '--help']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('Usage: dancer logs');
    expect(heavy(run)).toEqual([]);
    // Sanity: the recorder saw the CLI and the logs group load.
    expect(run.esm.some((u) => u.endsWith('/dist/cli/logs.js'))).toBe(true);
    expect(run.esm.some((u) => u.endsWith('/dist/cli/consult.js'))).toBe(false);
  });

  it('`dancer ingest --help` loads neither SDK', async () => {
    const run = await loadsOf([bin, 'ingest', '--help']);
    expect(run.exitCode).toBe(0);
    expect(heavy(run)).toEqual([]);
    expect(run.esm.some((u) => u.endsWith('/dist/cli/ingest.js'))).toBe(true);
  });

  it('`dancer mine FILE` without a dancer.yaml never loads the YAML parser; with one it does', async () => {
    const yaml = (loaded: Loaded) => [...loaded.esm, ...loaded.cjs].filter((f) => f.includes('/node_modules/yaml/'));
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-lazy-mine-'));
    dirs.push(dir);
    const input = path.join(dir, 'msgs.txt');
    writeFileSync(input, 'user 1 logged in\nuser 2 logged in\n');
    const bare = await loadsOf([bin, 'mine', '--quiet', '--assignments', input]);
    expect(bare.exitCode).toBe(0);
    expect(bare.stdout).toBe('1\t1\tuser <*> logged in\n2\t1\tuser <*> logged in');
    expect(yaml(bare)).toEqual([]);
    // Nor the config schema (zod): the miner's defaults come from src/defaults.ts.
    const zod = (loaded: Loaded) => [...loaded.esm, ...loaded.cjs].filter((f) => f.includes('/node_modules/zod/'));
    expect(zod(bare)).toEqual([]);
    expect(bare.esm.some((u) => u.endsWith('/dist/config/index.js'))).toBe(false);
    // ... and they are an empty dancer.yaml's: the same templates for lines every mask touches.
    const mixed = path.join(dir, 'mixed.txt');
    writeFileSync(
      mixed,
      [
        'GET /api/v1/items?id=42 took 12ms from 10.0.0.7:5521 at 2026-12-07T03:01:02Z',
        'user "alice smith" <alice@example.com> uuid 123e4567-e89b-12d3-a456-426614174000 size 10KB',
        'path /var/lib/x.db key=value flag=true hex 0xdeadbeef ipv6 fe80::1 took 7ms',
        'GET /api/v1/items?id=43 took 9ms from 10.0.0.8:5522 at 2026-12-07T03:01:03Z',
      ].join('\n'),
    );
    const empty = path.join(dir, 'empty.yaml');
    writeFileSync(empty, '{}\n');
    const defaults = await loadsOf([bin, 'mine', '--quiet', '--assignments', mixed]);
    const fromEmpty = await loadsOf([bin, 'mine', '--quiet', '--assignments', '--config', empty, mixed]);
    expect(zod(fromEmpty).length).toBeGreaterThan(0);
    expect(defaults.stdout).toBe(fromEmpty.stdout);
    expect(defaults.stdout.split('\n')).toHaveLength(4);
    // A config file is still read: here it turns the numbers mask off, so the number stays.
    const config = path.join(dir, 'dancer.yaml');
    writeFileSync(config, 'patterns:\n  masks:\n    disable: [numbers]\n');
    const one = path.join(dir, 'one.txt');
    writeFileSync(one, 'took 5 ms\n');
    const withConfig = await loadsOf([bin, 'mine', '--quiet', '--assignments', '--config', config, one]);
    expect(withConfig.exitCode).toBe(0);
    expect(yaml(withConfig).length).toBeGreaterThan(0);
    expect(withConfig.stdout).toBe('1\t1\ttook 5 ms');
    const without = await loadsOf([bin, 'mine', '--quiet', '--assignments', one]);
    expect(without.stdout).toBe('1\t1\ttook <*> ms');
  });

  it('the recorder sees the SDKs when they are loaded', async () => {
    const script = path.join(root, 'test/cli/fixtures/import-sdks.mjs');
    const run = await loadsOf([script]);
    expect(run.exitCode).toBe(0);
    const seen = heavy(run);
    expect(seen.some((f) => f.includes('claude-agent-sdk'))).toBe(true);
    expect(seen.some((f) => f.includes('@modelcontextprotocol/sdk'))).toBe(true);
  });
});

describe('COMMAND_GROUPS', () => {
  it('lists exactly the top-level commands each group registers', async () => {
    for (const group of COMMAND_GROUPS) {
      const program = new Command('dancer');
      (await group.load()).register(program);
      const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
      expect(names.sort()).toEqual([...group.commands].sort());
    }
  });

  it('a lazily built program gives the same help for a command as the full one', async () => {
    const full = await buildProgram();
    for (const group of COMMAND_GROUPS) {
      for (const name of group.commands) {
        const lazy = await buildProgram(['node', 'dancer', name, '--help']);
        expect(lazy.commands.map((c) => c.name())).toEqual(group.commands);
        const help = (p: Command) => p.commands.find((c) => c.name() === name)?.helpInformation();
        expect(help(lazy)).toBe(help(full));
      }
    }
  });
});

describe('groupsFor', () => {
  const a: CommandGroup = { commands: ['logs'], load: async () => ({ register: () => {} }) };
  const b: CommandGroup = { commands: ['stop', 'resume'], load: async () => ({ register: () => {} }) };
  const all = [a, b];

  it('picks the group that owns the first argument', () => {
    expect(groupsFor(['node', 'dancer', 'logs', 'list', '--json'], all)).toEqual([a]);
    expect(groupsFor(['node', 'dancer', 'resume'], all)).toEqual([b]);
  });

  it('loads every group for root help, help, --version, no command or an unknown one', () => {
    for (const argv of [
      ['node', 'dancer'],
      ['node', 'dancer', '--help'],
      ['node', 'dancer', 'help', 'logs'],
      ['node', 'dancer', '-V'],
      ['node', 'dancer', 'lgos'],
    ]) {
      expect(groupsFor(argv, all)).toEqual(all);
    }
    expect(groupsFor(undefined, all)).toEqual(all);
  });
});
