/**
 * Kill a real process running the pipeline (from dist/) with SIGKILL in each state, then resume
 * in a fresh process: the fix must end where an uninterrupted run ends, with a consistent history.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { approveFix } from '../../src/fixes/pipeline.js';
import { fixEvents, getFix, listFixes } from '../../src/fixes/records.js';
import { openStore } from '../../src/store/open.js';
import { makeServiceRepo, type ServiceRepo, sh } from './helpers.js';

const DRIVER = fileURLToPath(new URL('./fixtures/driver.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/fixes/index.js', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: string;
  exit: Promise<number | null>;
}

function run(r: ServiceRepo, mode: 'start' | 'resume', extra: Record<string, unknown> = {}): Run {
  const driver = {
    mode,
    repo: r.repo,
    worktreeBase: r.worktreeBase,
    dbFile: r.dbFile,
    callLog: path.join(r.root, 'calls.log'),
    gateMarker: path.join(r.root, 'gate.pause'),
    ...extra,
  };
  const child = spawn(process.execPath, [DRIVER], {
    env: { ...process.env, DRIVER: JSON.stringify(driver) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Run = {
    child,
    stdout: '',
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  let stderr = '';
  child.stdout?.on('data', (d) => {
    out.stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  child.on('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`driver exited ${code}: ${stderr}\n`);
  });
  return out;
}

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

function stateOf(r: ServiceRepo): string | undefined {
  const db = openStore(r.dbFile);
  try {
    return listFixes(db)[0]?.state;
  } finally {
    db.close();
  }
}

async function killIn(r: ServiceRepo, pauseAt: string, extra: Record<string, unknown> = {}): Promise<void> {
  const first = run(r, 'start', { pauseAt, ...extra });
  // The hanging gate step runs in the sandbox: found through /proc, not a file it writes.
  const hanging = () => probePids(path.join(r.root, 'gate.pause'));
  if (pauseAt === 'testing') await until(() => hanging().length > 0, 'the gate step to hang');
  else await until(() => first.stdout.includes(`PAUSED ${pauseAt}`), `PAUSED ${pauseAt}`);
  expect(stateOf(r)).toBe(pauseAt);
  first.child.kill('SIGKILL');
  expect(await first.exit).toBe(null);
  if (pauseAt === 'testing') {
    // The gate step runs in bubblewrap, which dies with the killed pipeline, and its pid
    // namespace with it: nothing of the step is left to kill.
    await until(() => hanging().length === 0, 'the sandboxed gate step to die with the pipeline', 10_000);
  }
}

function probePids(marker: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('fixtures/probe.mjs')) && cmd.includes(marker) && !cmd.includes('--ro-bind')) {
        out.push(Number(pid));
      }
    } catch {
      // gone
    }
  }
  return out;
}

async function resume(r: ServiceRepo): Promise<void> {
  const second = run(r, 'resume');
  expect(await second.exit).toBe(0);
}

function checkHistory(r: ServiceRepo, finalState: string): void {
  const db = openStore(r.dbFile);
  try {
    const fixes = listFixes(db);
    expect(fixes).toHaveLength(1);
    const fix = fixes[0]!;
    expect(fix.state).toBe(finalState);
    const events = fixEvents(db, fix.id);
    // A consistent chain: each transition starts where the previous one ended, no state twice.
    for (let i = 1; i < events.length; i++) expect(events[i]?.fromState).toBe(events[i - 1]?.toState);
    const states = events.map((e) => e.toState);
    expect(new Set(states).size).toBe(states.length);
    if (finalState === 'deployed') {
      expect(states).toEqual([
        'proposed',
        'testing',
        'awaiting_approval',
        'approved',
        'deploying',
        'observing',
        'deployed',
      ]);
      // Exactly one merge of the fix on main, worktree cleaned, tree has the fix.
      const merges = sh(r.repo, 'log', '--merges', '--format=%(trailers:key=Dancer-Fix,valueonly)', 'main')
        .split('\n')
        .filter(Boolean);
      expect(merges).toEqual([String(fix.id)]);
      expect(existsSync(getFix(db, fix.id).worktree ?? '/nonexistent')).toBe(false);
      expect(readFileSync(path.join(r.repo, 'src/cart.mjs'), 'utf8')).toContain('a + b, 0)');
      expect(sh(r.repo, 'status', '--porcelain', '--untracked-files=no')).toBe('');
    }
  } finally {
    db.close();
  }
}

// Every gate also runs the honesty step (the whole suite on the base and on the fix, with coverage):
// several gates per test take longer than the default 30 s on the loaded 2-core machines.
describe('kill -9 in every state, then resume', { timeout: 90_000 }, () => {
  beforeAll(() => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run npm run build before this test`);
  });

  it.each(['proposed', 'testing', 'approved', 'deploying', 'observing'])(
    'killed in %s, a fresh process resumes to deployed',
    async (state) => {
      const r = makeServiceRepo('dancer-resume-');
      await killIn(r, state);
      await resume(r);
      checkHistory(r, 'deployed');
      const calls = readFileSync(path.join(r.root, 'calls.log'), 'utf8');
      if (state === 'proposed') {
        expect(calls.match(/^agent /gm)).toHaveLength(2);
        // The interrupted run's partial work is kept in a stash, not lost and not committed.
        expect(sh(r.repo, 'stash', 'list')).toContain('interrupted consultation');
        expect(sh(r.repo, 'show', '--name-only', '--format=', 'stash@{0}^3')).toContain('half-done.txt');
        expect(sh(r.repo, 'ls-tree', '-r', '--name-only', 'main')).not.toContain('half-done.txt');
      }
      if (state === 'deploying') expect(calls.match(/^deploy fix /gm)).toHaveLength(2);
    },
  );

  it('killed in awaiting_approval, it waits after a restart, and deploys once a human approves', async () => {
    const r = makeServiceRepo('dancer-resume-');
    await killIn(r, 'awaiting_approval', { autoApprove: 'none' });
    await resume(r);
    expect(stateOf(r)).toBe('awaiting_approval');
    const db = openStore(r.dbFile);
    await approveFix({ db }, listFixes(db)[0]!.id, 'carol');
    db.close();
    await resume(r);
    checkHistory(r, 'deployed');
  });

  it('killed while observing a fix that then fails, the rollback completes after the restart', async () => {
    const r = makeServiceRepo('dancer-resume-');
    const tagged = sh(r.repo, 'rev-parse', 'HEAD^{tree}');
    await killIn(r, 'observing', { verdict: 'rollback' });
    const second = run(r, 'resume', { verdict: 'rollback' });
    expect(await second.exit).toBe(0);
    checkHistory(r, 'rolled_back');
    expect(sh(r.repo, 'rev-parse', 'HEAD^{tree}')).toBe(tagged);
  });
});
