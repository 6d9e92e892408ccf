/**
 * docs/model-server.md's worked example, run as the page writes it: its shell blocks, line by
 * line, with the real Claude Code binary against `dancer model-server` playing
 * examples/py-worker/rehearse.scenario.yaml, up to the fix the page promises (worker.py guarded,
 * test_empty_job.py added, the gate passed, waiting for approval).
 *
 * What the test changes, and only that: `/tmp/py-worker` is a temp folder, port 8787 a free port,
 * `dancer` a shim running this checkout's bin, and (before the commit) releases and fix worktrees
 * are kept inside the folder (as root they would go to /var/dancer/<service>, shared by the host).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { freePort } from '../../src/demo/traffic.js';
import { killAll, strayProcesses, waitFor } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PAGE = readFileSync(path.join(ROOT, 'docs/model-server.md'), 'utf8');

/** The `sh` blocks of the worked example, in order. */
function exampleBlocks(): string[][] {
  const section = PAGE.slice(PAGE.indexOf('## A worked example'));
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) =>
    (m[1] ?? '')
      .split('\n')
      .map((l) => l.replace(/\s+#\s.*$/, '').trim())
      .filter((l) => l !== ''),
  );
}

const work = mkdtempSync(path.join(tmpdir(), 'dancer-rehearse-'));
const dir = path.join(work, 'py-worker');
const bin = path.join(work, 'bin');
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(-c.pid, 'SIGTERM');
  killAll(await strayProcesses(work, 15_000));
  rmSync(work, { recursive: true, force: true });
}, 60_000);

function background(command: string, env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string } {
  const child = spawn('sh', ['-c', command], {
    cwd: dir,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return { child, stderr: () => err };
}

/** SIGTERM to the `dancer` process a `sh -c` line started (sh may or may not have exec'd it). */
function terminate(child: ChildProcess): void {
  const pid = child.pid!;
  const isDancer = (p: number) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('bin/dancer.js');
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const target = isDancer(pid) ? pid : kids.find(isDancer);
  expect(target).toBeDefined();
  process.kill(target!, 'SIGTERM');
}

function stopped(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('docs/model-server.md: the worked example, as written', { timeout: 400_000 }, () => {
  it('rehearses the py-worker fix offline: real Claude Code against dancer model-server, the fix gated and waiting', async () => {
    mkdirSync(bin);
    writeFileSync(
      path.join(bin, 'dancer'),
      `#!/bin/sh\nexec ${process.execPath} ${path.join(ROOT, 'bin/dancer.js')} "$@"\n`,
    );
    chmodSync(path.join(bin, 'dancer'), 0o755);
    const port = await freePort();
    const env = { ...process.env, NO_COLOR: '1', PATH: `${bin}:${process.env.PATH}` };
    const blocks = exampleBlocks();
    expect(blocks).toHaveLength(2);
    const [setup, send] = blocks as [string[], string[]];
    const sh = (line: string, cwd = dir) => {
      const r = spawnSync('sh', ['-c', line], { cwd, env, encoding: 'utf8', timeout: 120_000 });
      expect({ line, code: r.status, stderr: r.stderr }).toMatchObject({ line, code: 0 });
      return r.stdout;
    };
    const local = (line: string) => line.replaceAll('/tmp/py-worker', dir).replaceAll('8787', String(port));

    let model: ReturnType<typeof background> | undefined;
    let run: ReturnType<typeof background> | undefined;
    for (const raw of setup) {
      const line = local(raw);
      if (line.startsWith('cp -r ')) {
        expect(line).toBe(`cp -r examples/py-worker ${dir} && cd ${dir}`);
        sh(line, ROOT);
      } else if (line.startsWith('git init')) {
        // Test only: releases and worktrees inside the folder, not /var/dancer (see the file comment).
        const file = path.join(dir, 'dancer.yaml');
        const doc = parseDocument(readFileSync(file, 'utf8'));
        doc.setIn(['service', 'releasesDir'], '.dancer/releases');
        doc.setIn(['fixes', 'worktreeBase'], '.dancer/worktrees');
        writeFileSync(file, doc.toString());
        sh(line);
      } else if (line.endsWith(' &')) {
        expect(line).toMatch(
          /^dancer model-server --scenario rehearse\.scenario\.yaml --port \d+ --record requests\.jsonl &$/,
        );
        model = background(line.slice(0, -2), env);
        await waitFor('the model server', 15_000, () =>
          model!.stderr().includes('playing 5 turns') ? true : undefined,
        );
      } else if (line.endsWith('dancer run')) {
        run = background(line, env);
      } else {
        sh(line);
      }
    }
    expect(model && run).toBeTruthy();
    // The init the page runs wrote the Python gate; nothing of the service was edited.
    expect(readFileSync(path.join(dir, 'dancer.yaml'), 'utf8')).toMatch(
      /regression: \{ command: "python3 -m unittest \{file\}" \}/,
    );

    // "In another terminal": once the worker is up (it creates its spool folder).
    await waitFor('the worker to start', 60_000, () => {
      if (run!.child.exitCode !== null) throw new Error(`dancer run exited: ${run!.stderr()}`);
      return existsSync(path.join(dir, 'spool')) ? true : undefined;
    });
    const [loop, list] = send as [string, string];
    expect(loop).toMatch(/^for i in \$\(seq 1 12\)/);
    sh(loop);
    const fix = await waitFor(
      'the fix to pass the gate',
      300_000,
      () => {
        const out = spawnSync('dancer', ['fixes', 'list', '--json'], { cwd: dir, env, encoding: 'utf8' });
        if (out.status !== 0) return undefined;
        const fixes = JSON.parse(out.stdout) as Array<{ id: number; state: string }>;
        const done = fixes.find((f) => ['awaiting_approval', 'failed', 'rejected'].includes(f.state));
        return done;
      },
      1000,
    );
    const show = spawnSync('dancer', ['fixes', 'show', String(fix.id)], { cwd: dir, env, encoding: 'utf8' }).stdout;
    expect(fix.state, show + run!.stderr()).toBe('awaiting_approval');
    expect(sh(list)).toMatch(/awaiting_approval\s.*Jobs with no items average to 0/);

    // The fix the page promises, in the fix's branch.
    const diff = sh(`dancer fixes diff ${fix.id}`);
    expect(diff).toMatch(/\+\s+if not items:\n\+\s+return 0\.0/);
    expect(diff).toMatch(/test_empty_job\.py/);
    expect(show).toMatch(/regression\s+test_empty_job\.py/);
    // The brief went to the model server, redacted, and Claude Code played the script through.
    const requests = readFileSync(path.join(dir, 'requests.jsonl'), 'utf8').trim().split('\n');
    expect(requests.length).toBeGreaterThanOrEqual(5);
    expect(requests[0]).toMatch(/ZeroDivisionError/);
    expect(requests[0]).not.toMatch(/"x-api-key":"rehearsal"/);

    terminate(run!.child);
    expect(await stopped(run!.child), run!.stderr()).toBe(0);
    terminate(model!.child);
    expect(await stopped(model!.child)).toBe(0);
    expect(model!.stderr()).toMatch(/, 0 unexpected/);
  });
});
