/**
 * `dancer rollback` after a plain `dancer deploy` (no fix): the service goes back to the previous
 * immutable release (no build), and the rollback is recorded in git (a revert on a
 * `dancer/rollback-*` branch merged --no-ff, so HEAD's tree equals the serving tree), in the
 * deploys table and in the audit table; a restart does not record it twice. Real `dancer run`,
 * real git, real HTTP; every answer names the pid and release that served it.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { StatusReport } from '../../src/supervise/supervisor.js';
import { expectGone, get, makeServiceDir, waitFor } from '../supervise/helpers.js';
import { dancer, gitIn, type Running, startRun, statusOf } from './dancer-cli.js';

const LISTEN = path.resolve(import.meta.dirname, '../../dist/supervise/listen.js');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function running(config: string, run: Running): Promise<StatusReport> {
  return waitFor(
    async () => {
      const s = await statusOf(config).catch(() => undefined);
      return s?.state === 'running' ? s : undefined;
    },
    60_000,
    'running',
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${run.stderr()}`);
  });
}

describe('dancer rollback after a plain dancer deploy', { timeout: 240_000 }, () => {
  it('goes back to the previous release and records the revert in git once', async () => {
    const dir = makeServiceDir({
      start: 'node app.mjs',
      observe: { windowSeconds: 600, checkEverySeconds: 0.5, minRecords: 0 },
    });
    const config = path.join(dir, 'dancer.yaml');
    const git = gitIn(dir);
    writeFileSync(
      path.join(dir, 'app.mjs'),
      `import http from 'node:http';\nimport { readFileSync } from 'node:fs';\nimport { listen } from ${JSON.stringify(LISTEN)};\nconst v = readFileSync('VERSION', 'utf8').trim();\nawait listen(http.createServer((q, s) => s.end(process.pid + ' ' + process.env.DANCER_RELEASE + ' ' + v + '\\n')));\n`,
    );
    writeFileSync(path.join(dir, 'VERSION'), '1\n');
    writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'v1');
    const v1 = git('rev-parse', 'HEAD^{tree}');

    const first = startRun(config);
    const pids = new Set<number>();
    cleanups.push(async () => {
      for (const r of [first, second]) {
        if (r && r.child.exitCode === null && r.child.signalCode === null) {
          r.child.kill('SIGTERM');
          await r.exit;
        }
      }
      await expectGone([...pids]);
      rmSync(dir, { recursive: true, force: true });
    });
    let second: Running | undefined;
    const up = await running(config, first);
    for (const p of up.pids) pids.add(p);
    const port = up.sockets[0]!.port;
    // v2 is committed on main and deployed by hand
    writeFileSync(path.join(dir, 'VERSION'), '2\n');
    git('commit', '-q', '-am', 'v2');
    const v2Commit = git('rev-parse', 'HEAD');
    const v2 = git('rev-parse', 'HEAD^{tree}');
    const d = dancer(['deploy', 'HEAD', '--no-wait', '--config', config, '--json']);
    expect(d.code, d.stderr).toBe(0);
    const serving2 = (await get(port, '/')).body.trim().split(' ');
    expect(serving2.slice(1)).toEqual([v2, '2']);

    const rb = dancer(['rollback', '--reason', 'v2 is wrong', '--config', config, '--json']);
    expect(rb.code, rb.stderr).toBe(0);
    const outcome = JSON.parse(rb.stdout) as { deployId: number; from: string; to: string; decidedAt: number };
    expect(outcome).toMatchObject({ from: v2, to: v1 });
    expect(outcome).not.toHaveProperty('fixId');
    // the previous immutable release serves again: pid and release of the answer, v1's code
    const after = (await get(port, '/')).body.trim().split(' ');
    expect(after.slice(1)).toEqual([v1, '1']);
    const s = await statusOf(config);
    for (const p of s.pids) pids.add(p);
    expect(s.pids).toContain(Number(after[0]));
    expect(s.currentRelease).toBe(v1);

    // recorded in git: HEAD's tree is the serving tree, through a revert merged --no-ff
    await waitFor(
      () => (git('rev-parse', 'HEAD^{tree}') === v1 ? true : undefined),
      60_000,
      'the revert on main',
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${first.stderr()}`);
    });
    const parents = git('rev-list', '--parents', '-n', '1', 'HEAD').split(' ');
    expect(parents).toHaveLength(3);
    expect(parents[1]).toBe(v2Commit);
    const message = git('log', '-1', '--format=%B', 'HEAD');
    expect(message).toMatch(/^Roll back deploy of [0-9a-f]{12}: back to [0-9a-f]{12}/);
    expect(message).toContain('Rolled back by');
    expect(message).toContain('v2 is wrong');
    expect(message).toMatch(new RegExp(`^Dancer-Rollback-Deploy: ${outcome.deployId}$`, 'm'));
    expect(git('branch', '--list', 'dancer/rollback-*')).toMatch(/dancer\/rollback-\d{8}-\d{4}/);
    expect(git('tag', '--list', 'dancer-before-*')).not.toBe('');
    expect(git('status', '--porcelain')).toBe('');
    expect(git('show', 'HEAD:VERSION')).toBe('1');

    // the deploys row and the audit row
    const db = openStore(path.join(dir, '.dancer', 'dancer.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT kind, status, reason, to_release FROM deploys WHERE id = ?').get(outcome.deployId);
      expect(row).toMatchObject({ kind: 'rollback', status: 'succeeded', reason: 'v2 is wrong', to_release: v1 });
      const audit = db
        .prepare("SELECT actor, source, action, target, outcome, detail FROM audit WHERE action = 'rollback'")
        .all() as Array<{ target: string; detail: string }>;
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ source: 'system', outcome: 'ok', target: `release:${v2.slice(0, 12)}` });
      expect(audit[0]!.detail).toMatch(/^revert [0-9a-f]{12} merged on main$/);
    } finally {
      db.close();
    }

    // a restart resumes nothing twice: still one revert, still serving v1
    const commits = git('rev-list', '--count', 'HEAD');
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
    second = startRun(config);
    const again = await running(config, second);
    for (const p of again.pids) pids.add(p);
    expect(again.currentRelease).toBe(v1);
    await new Promise((r) => setTimeout(r, 3000));
    expect(git('rev-list', '--count', 'HEAD')).toBe(commits);
    expect((await get(again.sockets[0]!.port, '/')).body.trim().split(' ').slice(1)).toEqual([v1, '1']);
  });
});
