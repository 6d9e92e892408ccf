import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startFix } from '../../src/fixes/pipeline.js';
import {
  assertMergeable,
  commitAll,
  createWorktree,
  currentBranch,
  excludeDancerPaths,
  hasChanges,
} from '../../src/fixes/repo.js';
import { depsFor, goodAgent, makeServiceRepo, sh } from './helpers.js';

const env = { GIT_AUTHOR_NAME: 'D', GIT_AUTHOR_EMAIL: 'd@x', GIT_COMMITTER_NAME: 'D', GIT_COMMITTER_EMAIL: 'd@x' };

describe('repository preflight and worktrees', () => {
  it('a dirty main working tree is DANCER_GIT_DIRTY naming the files; untracked files are fine', async () => {
    const r = makeServiceRepo();
    writeFileSync(path.join(r.repo, 'notes.txt'), 'untracked');
    await expect(assertMergeable(r.repo, 'main')).resolves.toBe('main');
    writeFileSync(path.join(r.repo, 'src/cart.mjs'), '// edited by a human\n');
    await expect(assertMergeable(r.repo, 'main')).rejects.toMatchObject({
      code: 'DANCER_GIT_DIRTY',
      details: { paths: ['src/cart.mjs'] },
    });
    expect(readFileSync(path.join(r.repo, 'src/cart.mjs'), 'utf8')).toBe('// edited by a human\n');
  });

  it('a detached HEAD, the wrong branch or a merge in progress is DANCER_GIT_STATE', async () => {
    const r = makeServiceRepo();
    sh(r.repo, 'checkout', '-q', '--detach');
    await expect(currentBranch(r.repo)).rejects.toMatchObject({ code: 'DANCER_GIT_STATE' });
    await expect(assertMergeable(r.repo)).rejects.toThrow(/detached HEAD/);
    sh(r.repo, 'checkout', '-q', '-b', 'feature');
    await expect(assertMergeable(r.repo, 'main')).rejects.toThrow(/feature checked out, not main/);
    sh(r.repo, 'checkout', '-q', 'main');
    writeFileSync(path.join(r.repo, '.git', 'MERGE_HEAD'), sh(r.repo, 'rev-parse', 'HEAD'));
    await expect(assertMergeable(r.repo, 'main')).rejects.toThrow(/unfinished operation \(MERGE_HEAD\)/);
  });

  it('an existing branch or worktree folder is DANCER_WORKTREE_EXISTS and nothing is touched', async () => {
    const r = makeServiceRepo();
    const base = sh(r.repo, 'rev-parse', 'HEAD');
    sh(r.repo, 'branch', 'dancer/fix-x');
    await expect(
      createWorktree(r.repo, { branch: 'dancer/fix-x', dir: path.join(r.worktreeBase, 'a'), base }),
    ).rejects.toMatchObject({ code: 'DANCER_WORKTREE_EXISTS' });
    const dir = path.join(r.worktreeBase, 'b');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'precious.txt'), 'keep me');
    await expect(createWorktree(r.repo, { branch: 'dancer/fix-y', dir, base })).rejects.toThrow(
      /already exists and is not empty/,
    );
    expect(readFileSync(path.join(dir, 'precious.txt'), 'utf8')).toBe('keep me');
    expect(sh(r.repo, 'branch', '--list', 'dancer/fix-y')).toBe('');
  });

  it('the pipeline picks a free name when a branch of the same minute exists', async () => {
    const r = makeServiceRepo();
    const deps = depsFor(r, async () => ({ kind: 'escalate', why: 'needs a human', where: 'src/cart.mjs' }));
    const clock = () => Date.UTC(2026, 0, 2, 3, 4);
    sh(r.repo, 'branch', 'dancer/fix-20260102-0304-ab12cd34');
    let seen = '';
    const fix = await startFix(
      {
        ...deps,
        clock,
        runAgent: async (dir) => {
          seen = sh(dir, 'rev-parse', '--abbrev-ref', 'HEAD');
          return { kind: 'escalate', why: 'x', where: 'y' };
        },
      },
      { patternId: '1', patternHash: 'ab12cd34' },
    );
    expect(seen).toBe('dancer/fix-20260102-0304-ab12cd34-2');
    expect(fix.state).toBe('rejected');
    deps.db.close();
  });

  it('commits everything but node_modules and .dancer, and hides .dancer from status', async () => {
    const r = makeServiceRepo();
    await excludeDancerPaths(r.repo);
    await excludeDancerPaths(r.repo);
    const exclude = readFileSync(path.join(r.repo, '.git/info/exclude'), 'utf8');
    expect(exclude.match(/\/\.dancer\//g)).toHaveLength(1);
    expect(exclude).toContain('/node_modules\n');
    mkdirSync(path.join(r.repo, '.dancer'), { recursive: true });
    writeFileSync(path.join(r.repo, '.dancer/dancer.db'), 'x');
    expect(await hasChanges(r.repo)).toBe(false);
    const { symlinkSync } = await import('node:fs');
    symlinkSync(r.root, path.join(r.repo, 'node_modules'));
    expect(await hasChanges(r.repo)).toBe(false);
    writeFileSync(path.join(r.repo, 'src/new.mjs'), 'export {};\n');
    const commit = await commitAll(r.repo, 'Add new\n', env);
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(sh(r.repo, 'show', '--name-only', '--format=', 'HEAD')).toBe('src/new.mjs');
    expect(await commitAll(r.repo, 'Nothing\n', env)).toBeUndefined();
  });

  it('initialises submodules in the fix worktree', async () => {
    const lib = makeServiceRepo('dancer-sub-');
    const r = makeServiceRepo();
    sh(r.repo, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', lib.repo, 'vendor/lib');
    sh(r.repo, 'commit', '-q', '-m', 'Add submodule');
    const base = sh(r.repo, 'rev-parse', 'HEAD');
    const dir = path.join(r.worktreeBase, 'with-sub');
    await createWorktree(r.repo, { branch: 'dancer/fix-sub', dir, base });
    expect(existsSync(path.join(dir, 'vendor/lib/src/cart.mjs'))).toBe(true);
  });

  it('a submodule that cannot be fetched is DANCER_GIT_STATE and leaves no branch or folder', async () => {
    const lib = makeServiceRepo('dancer-sub-');
    const r = makeServiceRepo();
    sh(r.repo, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', lib.repo, 'vendor/lib');
    sh(r.repo, 'commit', '-q', '-m', 'Add submodule');
    sh(r.repo, 'config', '-f', '.gitmodules', 'submodule.vendor/lib.url', path.join(r.root, 'missing'));
    sh(r.repo, 'commit', '-q', '-am', 'Point the submodule nowhere');
    sh(r.repo, 'submodule', 'sync', '-q');
    sh(r.repo, 'submodule', 'deinit', '-q', '-f', 'vendor/lib');
    const { rmSync } = await import('node:fs');
    rmSync(path.join(r.repo, '.git/modules'), { recursive: true, force: true });
    const dir = path.join(r.worktreeBase, 'bad-sub');
    await expect(
      createWorktree(r.repo, { branch: 'dancer/fix-bad', dir, base: sh(r.repo, 'rev-parse', 'HEAD') }),
    ).rejects.toMatchObject({ code: 'DANCER_GIT_STATE' });
    expect(existsSync(dir)).toBe(false);
    expect(sh(r.repo, 'branch', '--list', 'dancer/fix-bad')).toBe('');
  });

  it('a fix worktree starts from the deployed commit, not the main tip', async () => {
    const r = makeServiceRepo();
    const deployed = sh(r.repo, 'rev-parse', 'HEAD');
    writeFileSync(path.join(r.repo, 'later.txt'), 'not deployed yet');
    sh(r.repo, 'add', 'later.txt');
    sh(r.repo, 'commit', '-q', '-m', 'Later');
    const deps = depsFor(r, goodAgent, {
      deployedCommit: () => deployed,
      fixes: { ...depsFor(r, goodAgent).fixes, gate: { ...depsFor(r, goodAgent).fixes.gate, steps: [] } },
    });
    const fix = await startFix(deps, { patternId: '1', patternHash: 'feedbeef' });
    expect(fix.baseCommit).toBe(deployed);
    expect(sh(r.repo, 'merge-base', fix.branch as string, 'main')).toBe(deployed);
    deps.db.close();
  });
});
