/**
 * A kill -9 of the supervisor between the rollback decision and the revert commit. Real
 * everything: `dancer run` as a child process, the real Claude Code binary against the scripted
 * model server (the demo's plausible bad fix), the real gate, git, releases and HTTP traffic.
 * A `prepare-commit-msg` hook (git runs it even with --no-verify) holds the revert commit of the
 * rollback until the supervisor has been killed, then fails it, as a kill mid-commit would leave
 * things. The restarted supervisor must converge to the end state of an uninterrupted rollback:
 * the last good release serving, the fix `rolled_back`, the revert committed once (HEAD's tree is
 * the serving tree), the fix event and audit rows present, and no request answered by the bad
 * release later than 2 s after the decision (by the pid that logged each answer).
 * Needs `npm run build` first.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { badFixScenario } from '../../src/demo/scenarios.js';
import { waitFor } from './helpers.js';
import { eurOrders, mix, Stack } from './stack.js';

let stack: Stack | undefined;

afterAll(async () => {
  const stray = await stack?.stop();
  expect(stray, 'processes left under the test dir').toEqual([]);
}, 60_000);

describe('kill -9 of the supervisor between the rollback decision and the revert commit', () => {
  it('a restart converges to the same end state as an uninterrupted rollback', { timeout: 420_000 }, async () => {
    stack = await Stack.create(badFixScenario());
    const s = stack;
    const repo = s.repo.repo;
    const reached = path.join(s.root, 'hook-reached');
    const release = path.join(s.root, 'hook-release');
    const hook = path.join(repo, '.git', 'hooks', 'prepare-commit-msg');
    writeFileSync(
      hook,
      `#!/bin/sh\ngrep -q '^Roll back dancer fix' "$1" || exit 0\ntouch '${reached}'\nwhile [ ! -f '${release}' ]; do sleep 0.1; done\nexit 1\n`,
    );
    chmodSync(hook, 0o755);
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();

    const first = await s.startSupervisor();
    s.startTraffic(mix(eurOrders));
    await waitFor('the revert commit of the rollback to start', 300_000, () => {
      if (first.exitCode !== null) throw new Error(`dancer run exited:\n${s.log()}`);
      return existsSync(reached) ? true : undefined;
    });
    const [rb] = s.query<{ id: number; fix_id: number; from_release: string; to_release: string; started_at: number }>(
      "SELECT id, fix_id, from_release, to_release, started_at FROM deploys WHERE kind = 'rollback' ORDER BY id",
    );
    expect(rb, s.log()).toBeDefined();
    const fixId = rb!.fix_id;
    const before = s.query<{ state: string; rollback_branch: string | null; rollback_commit: string | null }>(
      'SELECT state, rollback_branch, rollback_commit FROM fixes WHERE id = ?',
      fixId,
    )[0];
    // killed after the decision and before the revert commit
    expect(before?.rollback_commit ?? null).toBeNull();
    expect(['deploying', 'observing', 'deployed']).toContain(before?.state);

    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    rmSync(hook);
    writeFileSync(release, ''); // the held `git commit` of the dead supervisor now fails
    await new Promise((r) => setTimeout(r, 1000));

    await s.startSupervisor();
    await waitFor('the fix to be recorded rolled_back', 120_000, () =>
      s.fixes().find((f) => f.id === fixId && f.state === 'rolled_back'),
    );
    await waitFor(
      'the fix row to hold its revert',
      30_000,
      () =>
        s.query<{ c: string | null }>('SELECT rollback_commit AS c FROM fixes WHERE id = ?', fixId)[0]?.c ?? undefined,
    );
    const status = JSON.parse((await s.dancer(['status', '--json'])).stdout) as { currentRelease: string };
    // the last good release serves, and main holds exactly its tree through one revert
    expect(status.currentRelease).toBe(rb!.to_release);
    expect(git('rev-parse', 'HEAD^{tree}')).toBe(status.currentRelease);
    expect(
      git('log', '--first-parent', '--format=%s', 'main')
        .split('\n')
        .filter((l) => l.startsWith(`Roll back dancer fix ${fixId}`)),
    ).toHaveLength(1);
    expect(git('rev-list', '--parents', '-n', '1', 'HEAD').split(' ')).toHaveLength(3);
    expect(git('status', '--porcelain', '--untracked-files=no')).toBe('');
    const events = s.query<{ actor: string }>(
      "SELECT actor FROM fix_events WHERE fix_id = ? AND to_state = 'rolled_back'",
      fixId,
    );
    expect(events).toEqual([{ actor: 'supervisor' }]);
    const audit = s.query<{ target: string; outcome: string }>(
      "SELECT target, outcome FROM audit WHERE action = 'rollback'",
    );
    expect(audit).toEqual([{ target: `fix:${fixId}`, outcome: 'ok' }]);
    // one deploy of the bad diff, one rollback
    const deploys = s.query<{ kind: string; to_release: string }>('SELECT kind, to_release FROM deploys ORDER BY id');
    expect(deploys.filter((d) => d.kind === 'deploy' && d.to_release === rb!.from_release)).toHaveLength(1);
    expect(deploys.filter((d) => d.kind === 'rollback')).toHaveLength(1);

    // By pid: the answers the bad release's workers logged, before and long after the decision.
    await new Promise((r) => setTimeout(r, 2000));
    const answeredBy = (release: string, op: '<=' | '>', at: number) =>
      s.query<{ n: number }>(
        `SELECT COUNT(*) AS n FROM logs l WHERE l.pid IN (SELECT pid FROM worker_releases WHERE release = ? AND staged = 0) AND l.ts ${op} ?`,
        release,
        at,
      )[0]?.n ?? 0;
    expect(answeredBy(rb!.from_release, '<=', rb!.started_at)).toBeGreaterThan(0);
    expect(answeredBy(rb!.from_release, '>', rb!.started_at + 2000)).toBe(0);
    expect(answeredBy(rb!.to_release, '>', rb!.started_at + 2000)).toBeGreaterThan(0);
  });
});
