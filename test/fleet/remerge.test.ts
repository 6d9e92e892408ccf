/**
 * Two lease holders merging fixes for two different patterns at once (real PostgreSQL, real git:
 * one bare shared remote, one clone per host). The second push of main is refused by the remote;
 * the holder fetches, re-merges its fix onto the new main, runs the gate on the combined tree and
 * pushes again. A conflict, a gate that fails on the combined tree, or a remote that keeps moving
 * ends with a reason and nothing of this host's fix on the remote's main.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetPool, migrateFleet, openFleetPool } from '../../src/fleet/connect.js';
import { acquireLease } from '../../src/fleet/leases.js';
import { heartbeatHost } from '../../src/fleet/queries.js';
import type { RecheckFn } from '../../src/fleet/remerge.js';
import { refusedAsStale } from '../../src/fleet/remerge.js';
import { getFleetFix } from '../../src/fleet/rollout.js';
import { createFleetPipeline, type PipelineDeployFunctions } from '../../src/fleet/rollout-handoff.js';
import { type HostDeployer, startRolloutWorker } from '../../src/fleet/rollout-worker.js';
import { openStore } from '../../src/store/open.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import { seedRemote, sh } from './git-remote.js';

let server: TestPostgres;
let pool: FleetPool;
let dir: string;

beforeAll(async () => {
  server = await startPostgres();
  pool = openFleetPool(await server.createDatabase('remerge_test'));
  await migrateFleet(pool);
  dir = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-remerge-'));
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;

/** A fresh shared remote (its main: app.js, lib.js) in its own folder. */
function freshRemote(): { root: string; bare: string } {
  const root = path.join(dir, `r${++seq}`);
  execFileSync('mkdir', ['-p', root]);
  const bare = seedRemote(root);
  const seed = path.join(root, 'seed');
  writeFileSync(path.join(seed, 'lib.js'), 'module.exports = 1;\n');
  sh(seed, 'add', '.');
  sh(seed, 'commit', '-qm', 'lib');
  sh(seed, 'push', '-q', bare, 'main');
  return { root, bare };
}

/** A host's clone where fix `branch` writing `files` was merged into main (what the pipeline's merge leaves). */
function mergedClone(root: string, bare: string, host: string, branch: string, files: Record<string, string>) {
  const repo = path.join(root, host);
  execFileSync('git', ['clone', '-q', bare, repo]);
  sh(repo, 'checkout', '-q', '-b', branch);
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(repo, f), text);
  sh(repo, 'add', '.');
  sh(repo, 'commit', '-qm', `fix on ${branch}`);
  sh(repo, 'checkout', '-q', 'main');
  sh(repo, 'merge', '-q', '--no-ff', '-m', `Dancer fix on ${branch}`, branch);
  return { repo, merge: sh(repo, 'rev-parse', 'HEAD') };
}

const local: PipelineDeployFunctions = {
  async deploy() {
    throw new Error('a fix deploy must not go to the local supervisor alone');
  },
  async observe() {
    throw new Error('a fix is observed through the canary row');
  },
};

const deployer: HostDeployer = {
  async fetch() {},
  async deploy(commit) {
    return { ok: true, deployId: 1, release: commit.slice(0, 12) };
  },
  async observe() {
    return { healthy: true, rolledBack: false, reason: 'window passed' };
  },
  async rollback() {},
};

async function host(name: string, repo: string, patternKey: string, pushAttempts = 3) {
  await heartbeatHost(pool, name);
  const db = openStore(path.join(dir, `${name}-${patternKey.replace(/\W/g, '')}-${seq}.db`));
  const logs: string[] = [];
  const worker = startRolloutWorker({
    pool,
    host: name,
    deployer,
    canAct: () => true,
    pollMs: 60_000,
    log: () => undefined,
  });
  const pipeline = createFleetPipeline({
    pool,
    db,
    host: name,
    leaseSeconds: 30,
    canary: 1,
    waveSize: 1,
    cooldownMinutes: 30,
    repo,
    remote: 'origin',
    canAct: () => true,
    onRollout: () => void worker.poke(),
    pushAttempts,
    pollMs: 50,
    log: (m) => logs.push(m),
  });
  const lease = await acquireLease(pool, { patternKey, host: name, leaseSeconds: 30, reopenAfterSeconds: 60 });
  expect(lease.kind).toBe('acquired');
  return {
    logs,
    pipeline,
    async close() {
      await worker.stop();
      db.close();
    },
  };
}

/** The combined tree's files as the gate sees them (a real checkout of `commit`). */
function treeFiles(repo: string, commit: string): string[] {
  return sh(repo, 'ls-tree', '--name-only', commit).split('\n').sort();
}

describe('two hosts merging fixes for two patterns at once', () => {
  it('the second holder re-merges onto the new main, passes the gate there, pushes and rolls out the combined commit', async () => {
    const { root, bare } = freshRemote();
    const a = mergedClone(root, bare, 'h1', 'dancer/fix-a', { 'a.js': 'module.exports = "a";\n' });
    const b = mergedClone(root, bare, 'h2', 'dancer/fix-b', { 'b.js': 'module.exports = "b";\n' });
    const h1 = await host('h1', a.repo, 'kind:ra');
    const h2 = await host('h2', b.repo, 'kind:rb');
    const rechecks: Array<{ commit: string; base: string; files: string[] }> = [];
    const recheck: RecheckFn = async (r) => {
      // The gate runs on a real checkout of the combined commit: both fixes must be in it.
      const files = treeFiles(b.repo, r.commit);
      rechecks.push({ commit: r.commit, base: r.base, files });
      return files.includes('a.js') && files.includes('b.js')
        ? { ok: true, summary: 'test 1 ms' }
        : { ok: false, reason: 'test: a fix is missing' };
    };
    try {
      const fa = h1.pipeline.deployFunctions(local, recheck);
      const fb = h2.pipeline.deployFunctions(local, recheck);
      expect(
        await fa.deploy({ kind: 'fix', fixId: 7, commit: a.merge, patternId: 'ra', branch: 'dancer/fix-a' }),
      ).toEqual({
        ok: true,
      });
      expect(rechecks).toEqual([]); // the first push was a fast-forward: nothing to re-check
      const out = await fb.deploy({ kind: 'fix', fixId: 7, commit: b.merge, patternId: 'rb', branch: 'dancer/fix-b' });
      expect(out.ok).toBe(true);
      const combined = (out as { commit?: string }).commit as string;
      expect(combined).toMatch(/^[0-9a-f]{40}$/);
      expect(combined).not.toBe(b.merge);
      expect(rechecks).toEqual([{ commit: combined, base: a.merge, files: ['a.js', 'app.js', 'b.js', 'lib.js'] }]);
      // The remote's main is the combined commit: h1's merge is its first parent, fix-b its second.
      expect(sh(root, '--git-dir', bare, 'rev-parse', 'refs/heads/main')).toBe(combined);
      expect(sh(b.repo, 'rev-parse', `${combined}^1`)).toBe(a.merge);
      expect(sh(b.repo, 'rev-parse', `${combined}^2`)).toBe(sh(b.repo, 'rev-parse', 'dancer/fix-b'));
      expect(sh(b.repo, 'log', '-1', '--format=%s', combined)).toBe('Dancer fix on dancer/fix-b');
      // h2's main (and its working tree) follow what was pushed.
      expect(sh(b.repo, 'rev-parse', 'main')).toBe(combined);
      expect(readFileSync(path.join(b.repo, 'a.js'), 'utf8')).toBe('module.exports = "a";\n');
      // The rollout is of the combined commit; the lease remembers the pipeline's own merge.
      const r = await pool.query("SELECT id, commit_sha FROM fleet_fixes WHERE pattern_key = 'kind:rb'");
      expect(r.rows.map((x) => x.commit_sha)).toEqual([combined]);
      const lease = await pool.query("SELECT stage, state FROM fleet_leases WHERE pattern_key = 'kind:rb'");
      expect(lease.rows[0]).toMatchObject({
        stage: 'rolling_out',
        state: { commit: combined, localCommit: b.merge, fleetFixId: Number(r.rows[0].id) },
      });
      expect(h2.pipeline.localFixFor(combined)).toEqual({ fixId: 7 });
      expect((await getFleetFix(pool, Number(r.rows[0].id)))?.deploys.find((d) => d.host === 'h2')?.state).not.toBe(
        'failed',
      );
      expect(h2.logs.some((l) => l.includes("origin's main moved to") && l.includes('re-merging dancer/fix-b'))).toBe(
        true,
      );
      // The pipeline restarted with its own merge commit resumes the same rollout (no second one).
      const again = await fb.deploy({
        kind: 'fix',
        fixId: 7,
        commit: b.merge,
        patternId: 'rb',
        branch: 'dancer/fix-b',
      });
      expect(again).toEqual({ ok: true, commit: combined });
      expect(
        (await pool.query("SELECT count(*)::int AS n FROM fleet_fixes WHERE pattern_key = 'kind:rb'")).rows[0].n,
      ).toBe(1);
    } finally {
      await h1.close();
      await h2.close();
    }
  });

  it('a fix that conflicts with the new main is refused with the files named; nothing of it reaches the remote', async () => {
    const { root, bare } = freshRemote();
    const a = mergedClone(root, bare, 'h1', 'dancer/fix-c', { 'lib.js': 'module.exports = 2;\n' });
    const b = mergedClone(root, bare, 'h2', 'dancer/fix-d', { 'lib.js': 'module.exports = 3;\n' });
    const h1 = await host('h1', a.repo, 'kind:rc');
    const h2 = await host('h2', b.repo, 'kind:rd');
    let rechecked = 0;
    const recheck: RecheckFn = async () => {
      rechecked++;
      return { ok: true };
    };
    try {
      expect(
        (
          await h1.pipeline
            .deployFunctions(local, recheck)
            .deploy({ kind: 'fix', fixId: 1, commit: a.merge, patternId: 'rc', branch: 'dancer/fix-c' })
        ).ok,
      ).toBe(true);
      const out = await h2.pipeline
        .deployFunctions(local, recheck)
        .deploy({ kind: 'fix', fixId: 1, commit: b.merge, patternId: 'rd', branch: 'dancer/fix-d' });
      expect(out).toEqual({
        ok: false,
        reason: `fleet: the fix was not pushed to origin: the fix conflicts with origin's main ${a.merge.slice(0, 12)} (another host's fix) in lib.js; it is not rolled out: retry it from the new main`,
      });
      expect(rechecked).toBe(0);
      expect(sh(root, '--git-dir', bare, 'rev-parse', 'refs/heads/main')).toBe(a.merge);
      expect(() => sh(root, '--git-dir', bare, 'rev-parse', '--verify', '-q', 'refs/heads/dancer/fix-d')).toThrow(); // atomic: not the branch either
      expect(sh(b.repo, 'rev-parse', 'main')).toBe(b.merge); // left for the pipeline's rollback
      expect(sh(b.repo, 'status', '--porcelain')).toBe('');
      expect(sh(b.repo, 'worktree', 'list').split('\n')).toHaveLength(1); // the merge's worktree is gone
      expect(
        (await pool.query("SELECT count(*)::int AS n FROM fleet_fixes WHERE pattern_key = 'kind:rd'")).rows[0].n,
      ).toBe(0);
    } finally {
      await h1.close();
      await h2.close();
    }
  });

  it('a gate that fails on the combined tree stops the push, with the gate named', async () => {
    const { root, bare } = freshRemote();
    const a = mergedClone(root, bare, 'h1', 'dancer/fix-e', { 'e.js': '1\n' });
    const b = mergedClone(root, bare, 'h2', 'dancer/fix-f', { 'f.js': '2\n' });
    const h1 = await host('h1', a.repo, 'kind:re');
    const h2 = await host('h2', b.repo, 'kind:rf');
    try {
      expect(
        (
          await h1.pipeline
            .deployFunctions(local)
            .deploy({ kind: 'fix', fixId: 1, commit: a.merge, patternId: 're', branch: 'dancer/fix-e' })
        ).ok,
      ).toBe(true);
      const out = await h2.pipeline
        .deployFunctions(local, async () => ({ ok: false, reason: 'test: 1 of 12 tests failed' }))
        .deploy({ kind: 'fix', fixId: 1, commit: b.merge, patternId: 'rf', branch: 'dancer/fix-f' });
      expect(out).toEqual({
        ok: false,
        reason: `fleet: the fix was not pushed to origin: the gate failed on the fix re-merged onto origin's main ${a.merge.slice(0, 12)}: test: 1 of 12 tests failed`,
      });
      expect(sh(root, '--git-dir', bare, 'rev-parse', 'refs/heads/main')).toBe(a.merge);
      // Without a gate to run on the combined tree the fix is never pushed untested.
      const none = await h2.pipeline
        .deployFunctions(local)
        .deploy({ kind: 'fix', fixId: 1, commit: b.merge, patternId: 'rf', branch: 'dancer/fix-f' });
      expect(none).toMatchObject({ ok: false, reason: expect.stringContaining('the fix is not pushed untested') });
    } finally {
      await h1.close();
      await h2.close();
    }
  });

  it('gives up after the bounded number of re-merges when the remote keeps moving', async () => {
    const { root, bare } = freshRemote();
    const b = mergedClone(root, bare, 'h2', 'dancer/fix-g', { 'g.js': 'g\n' });
    const other = path.join(root, 'other');
    execFileSync('git', ['clone', '-q', bare, other]);
    let n = 0;
    const moveRemote = () => {
      writeFileSync(path.join(other, `o${++n}.js`), `${n}\n`);
      sh(other, 'add', '.');
      sh(other, 'commit', '-qm', `other host's fix ${n}`);
      sh(other, 'push', '-q', 'origin', 'main');
    };
    moveRemote();
    const h2 = await host('h2', b.repo, 'kind:rg', 2);
    let rechecks = 0;
    try {
      const out = await h2.pipeline
        .deployFunctions(local, async () => {
          rechecks++;
          moveRemote(); // a third host pushes while this one runs its gate
          return { ok: true };
        })
        .deploy({ kind: 'fix', fixId: 4, commit: b.merge, patternId: 'rg', branch: 'dancer/fix-g' });
      expect(out).toEqual({
        ok: false,
        reason:
          "fleet: the fix was not pushed to origin: origin's main moved again after 2 re-merges of the fix; gave up (retry the fix)",
      });
      expect(rechecks).toBe(2);
      expect(sh(root, '--git-dir', bare, 'log', '--format=%s', 'main')).not.toContain('fix-g');
      expect(existsSync(path.join(b.repo, 'g.js'))).toBe(true);
    } finally {
      await h2.close();
    }
  });
});

describe('refusedAsStale', () => {
  it('tells a moved ref from a hook refusal', () => {
    expect(refusedAsStale('To /r.git\n!\tabc:refs/heads/main\t[rejected] (fetch first)\nDone\n')).toBe(true);
    expect(refusedAsStale('!\trefs/heads/main:refs/heads/main\t[rejected] (non-fast-forward)\n')).toBe(true);
    expect(refusedAsStale('!\trefs/heads/main:refs/heads/main\t[remote rejected] (pre-receive hook declined)\n')).toBe(
      false,
    );
  });
});
