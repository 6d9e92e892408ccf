/**
 * Both acts of the self-healing demo, real everything: `dancer run` as a child process, real git,
 * the real Claude Code binary against the scripted model server, real HTTP traffic.
 * Needs `npm run build` first (the demo spawns bin/dancer.js, which runs dist/).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo/run-demo.js';
import { openStore } from '../../src/store/open.js';
import { killAll, strayProcesses } from './helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'dancer-e2e-demo-'));
const lines: string[] = [];

afterAll(async () => {
  killAll(await strayProcesses(root, 1000));
  rmSync(root, { recursive: true, force: true });
});

const git = (repo: string, args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' });

describe('the self-healing demo, both acts', () => {
  it('heals the latent bug with no dropped request and rolls back the bad fix', { timeout: 420_000 }, async () => {
    const summary = await runDemo({ windowSeconds: 5, root, say: (line) => lines.push(line), actTimeoutSeconds: 180 });
    const story = lines.join('\n');
    expect(summary.failure, story).toBeUndefined();
    expect(summary.outcome).toBe('healed');
    expect(summary.model).toBe('scripted');
    expect(summary.failedRequests).toBe(0);
    expect(summary.requests).toBeGreaterThan(100);
    expect(summary.rolledBack).toBe(true);
    expect(summary.rollbackReason).toBeTruthy();
    expect(summary.errorsAfterFix).toBe(0);
    expect(summary.mttrSeconds).not.toBeNull();

    // Every process the demo started is gone.
    expect(await strayProcesses(root)).toEqual([]);

    const repo = summary.repo;
    const branches = git(repo, ['branch', '--list', 'dancer/fix-*', '--format=%(refname:short)']).trim().split('\n');
    expect(branches.filter((b) => b.startsWith('dancer/fix-')).length).toBeGreaterThanOrEqual(2);
    const tags = git(repo, ['tag', '--list', 'dancer-before-*']).trim().split('\n').filter(Boolean);
    expect(tags.length).toBeGreaterThanOrEqual(2);

    const merges = git(repo, ['log', '--merges', '--format=%H%n%B%n--end--', 'main']);
    expect(merges).toMatch(/^Dancer-Fix: \S+/m);
    expect(merges).toMatch(/^Dancer-Pattern: \S+/m);
    // The rollback is a revert commit on main naming the fix it undoes.
    const log = git(repo, ['log', '--format=%s%n%b', 'main']);
    expect(log).toMatch(/^Roll back dancer fix \d+/m);
    expect(log).toMatch(/^Dancer-Rollback-Of: \d+/m);

    // The lower-case coupon fix stayed on main; the bad EUR conversion was reverted.
    const pricing = readFileSync(path.join(repo, 'src', 'pricing.ts'), 'utf8');
    expect(pricing).toContain('code.trim().toUpperCase()');
    expect(pricing).not.toContain('export function convert');

    // Act two, by the pid that logged each answer (workers map to releases): the bad release
    // answered before the rollback decision and never later than 2 s after it; the release rolled
    // back to answered after.
    const db = openStore(path.join(repo, '.dancer', 'dancer.db'), { readonly: true });
    try {
      const rb = db
        .prepare(
          "SELECT from_release AS bad, to_release AS good, started_at AS decidedAt FROM deploys WHERE kind = 'rollback' AND fix_id IS NOT NULL",
        )
        .all() as Array<{ bad: string; good: string; decidedAt: number }>;
      expect(rb).toHaveLength(1);
      const { bad, good, decidedAt } = rb[0]!;
      const answeredBy = (release: string, op: '<=' | '>', at: number) =>
        (
          db
            .prepare(
              `SELECT COUNT(*) AS n FROM logs WHERE pid IN (SELECT pid FROM worker_releases WHERE release = ? AND staged = 0) AND ts ${op} ?`,
            )
            .get(release, at) as { n: number }
        ).n;
      expect(answeredBy(bad, '<=', decidedAt)).toBeGreaterThan(0);
      expect(answeredBy(bad, '>', decidedAt + 2000)).toBe(0);
      expect(answeredBy(good, '>', decidedAt + 2000)).toBeGreaterThan(0);
    } finally {
      db.close();
    }

    expect(summary.changelog).toBeTruthy();
    expect(existsSync(summary.changelog as string)).toBe(true);
    const changelog = readFileSync(summary.changelog as string, 'utf8');
    expect(changelog).toContain('Accept coupon codes in any letter case');
    expect(changelog).toContain('Support EUR orders by converting totals');
  });
});
