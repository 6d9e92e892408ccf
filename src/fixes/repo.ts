/**
 * Repository operations the fix pipeline needs: preflight checks, branches and worktrees,
 * commits, tags, merges and reverts. Each is one or a few git commands; none rewrites history,
 * and none deletes anything that Dancer did not create.
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DancerError } from '../errors.js';
import { git, gitOut } from './git.js';

/** Paths never committed from a worktree (the reused dependencies link, Dancer's own state). */
export const NEVER_COMMIT = ['node_modules', '.dancer'] as const;

/**
 * The branch checked out in `repo`.
 *
 * @throws {DancerError} `DANCER_GIT_STATE` on a detached HEAD.
 */
export async function currentBranch(repo: string): Promise<string> {
  const r = await git(repo, ['symbolic-ref', '--quiet', '--short', 'HEAD'], { allowFail: true });
  if (r.exitCode !== 0) {
    throw new DancerError(
      'DANCER_GIT_STATE',
      `${repo} has a detached HEAD; check out the branch Dancer should merge fixes into (or set fixes.mainBranch)`,
      { details: { repo } },
    );
  }
  return r.stdout.trim();
}

/** The full commit id `rev` names. */
export async function revParse(repo: string, rev: string): Promise<string> {
  return gitOut(repo, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { code: 'DANCER_GIT_STATE' });
}

/** True when `refs/heads/<branch>` exists. */
export async function branchExists(repo: string, branch: string): Promise<boolean> {
  const r = await git(repo, ['show-ref', '--verify', '--quiet', `refs/heads/${branch}`], { allowFail: true });
  return r.exitCode === 0;
}

/** True when `refs/tags/<tag>` exists. */
export async function tagExists(repo: string, tag: string): Promise<boolean> {
  const r = await git(repo, ['show-ref', '--verify', '--quiet', `refs/tags/${tag}`], { allowFail: true });
  return r.exitCode === 0;
}

async function gitDir(repo: string): Promise<string> {
  return path.resolve(repo, await gitOut(repo, ['rev-parse', '--git-dir']));
}

/**
 * Check that `repo` is a state Dancer can merge into: on a branch (`expectBranch` when given),
 * no merge, rebase, cherry-pick or revert in progress, and no uncommitted changes to tracked files.
 * Untracked files are left alone (git refuses to overwrite them in a merge).
 *
 * @throws {DancerError} `DANCER_GIT_STATE` or `DANCER_GIT_DIRTY` (with the changed paths).
 */
export async function assertMergeable(repo: string, expectBranch?: string): Promise<string> {
  const branch = await currentBranch(repo);
  if (expectBranch !== undefined && branch !== expectBranch) {
    throw new DancerError(
      'DANCER_GIT_STATE',
      `${repo} has ${branch} checked out, not ${expectBranch}; Dancer merges fixes into ${expectBranch}`,
      { details: { repo, branch, expectBranch } },
    );
  }
  const dir = await gitDir(repo);
  for (const marker of ['MERGE_HEAD', 'CHERRY_PICK_HEAD', 'REVERT_HEAD', 'rebase-merge', 'rebase-apply']) {
    if (existsSync(path.join(dir, marker))) {
      throw new DancerError('DANCER_GIT_STATE', `${repo} has an unfinished operation (${marker}); finish or abort it`, {
        details: { repo, marker },
      });
    }
  }
  const status = (await git(repo, ['status', '--porcelain=v1', '--untracked-files=no'])).stdout;
  if (status.trim() !== '') {
    const paths = status
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => l.slice(3));
    throw new DancerError(
      'DANCER_GIT_DIRTY',
      `${repo} has uncommitted changes (${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ', ...' : ''}); commit or stash them first`,
      { details: { repo, paths } },
    );
  }
  return branch;
}

/**
 * Hide Dancer's own folder and the reused dependencies link from git in every worktree of
 * `repo`, through the repository's `info/exclude` (never a tracked file). `/node_modules` has no
 * trailing slash so that it also matches a symlink.
 */
export async function excludeDancerPaths(repo: string): Promise<void> {
  const common = path.resolve(repo, await gitOut(repo, ['rev-parse', '--git-common-dir']));
  const file = path.join(common, 'info', 'exclude');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const have = new Set(text.split('\n').map((l) => l.trim()));
  const missing = ['/.dancer/', '/node_modules'].filter((l) => !have.has(l));
  if (missing.length === 0) return;
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}# added by dancer\n${missing.join('\n')}\n`);
}

/** Options for {@link createWorktree}. */
export interface CreateWorktreeOptions {
  branch: string;
  /** Absolute folder for the new worktree; must not exist. */
  dir: string;
  /** Commit the branch starts from. */
  base: string;
}

/**
 * Create `branch` at `base` and check it out in a new worktree at `dir`; initialise submodules.
 *
 * @throws {DancerError} `DANCER_WORKTREE_EXISTS` when the branch or the folder exists (nothing is
 * touched); `DANCER_GIT_STATE` when submodules cannot be initialised (the new worktree is removed).
 */
export async function createWorktree(repo: string, options: CreateWorktreeOptions): Promise<void> {
  if (await branchExists(repo, options.branch)) {
    throw new DancerError('DANCER_WORKTREE_EXISTS', `Branch ${options.branch} already exists`, {
      details: { branch: options.branch },
    });
  }
  if (existsSync(options.dir)) {
    const empty = readdirSync(options.dir).length === 0;
    throw new DancerError(
      'DANCER_WORKTREE_EXISTS',
      `Worktree folder ${options.dir} already exists${empty ? '' : ' and is not empty'}; Dancer will not reuse it`,
      { details: { dir: options.dir } },
    );
  }
  await git(repo, ['worktree', 'add', '-b', options.branch, options.dir, options.base]);
  if (existsSync(path.join(options.dir, '.gitmodules'))) {
    const r = await git(
      options.dir,
      ['-c', 'protocol.file.allow=always', 'submodule', 'update', '--init', '--recursive'],
      { allowFail: true },
    );
    if (r.exitCode !== 0) {
      await git(repo, ['worktree', 'remove', '--force', options.dir], { allowFail: true });
      await git(repo, ['branch', '-D', options.branch], { allowFail: true });
      throw new DancerError(
        'DANCER_GIT_STATE',
        `Submodules could not be initialised in the fix worktree: ${r.stderr.split('\n')[0] ?? ''}`,
        { details: { repo, stderr: r.stderr.slice(-2000) } },
      );
    }
  }
}

/** Create a detached worktree at `rev` (for running a test on the base commit). */
export async function addDetachedWorktree(repo: string, dir: string, rev: string): Promise<void> {
  if (existsSync(dir)) {
    throw new DancerError('DANCER_WORKTREE_EXISTS', `Worktree folder ${dir} already exists`, { details: { dir } });
  }
  await git(repo, ['worktree', 'add', '--detach', dir, rev]);
}

/** Remove the worktree at `dir` (untracked files in it go too); the branch stays. */
export async function removeWorktree(repo: string, dir: string): Promise<void> {
  if (!existsSync(dir)) {
    await git(repo, ['worktree', 'prune']);
    return;
  }
  await git(repo, ['worktree', 'remove', '--force', '--force', dir]);
}

/** Delete a local branch (used only for Dancer's own branches, by retention). */
export async function deleteBranch(repo: string, branch: string): Promise<void> {
  await git(repo, ['branch', '-D', branch]);
}

/** True when the worktree at `dir` has changes (tracked or untracked) outside {@link NEVER_COMMIT}. */
export async function hasChanges(dir: string): Promise<boolean> {
  const status = await gitOut(dir, ['status', '--porcelain=v1', '--untracked-files=all', '--', '.', ...excludes()]);
  return status !== '';
}

function excludes(): string[] {
  return NEVER_COMMIT.map((p) => `:(exclude,top)${p}`);
}

/**
 * Stage everything in the worktree at `dir` (except {@link NEVER_COMMIT}) and commit it with
 * `message`. Returns the new commit id, or undefined when there was nothing to commit.
 */
export async function commitAll(
  dir: string,
  message: string,
  env: Record<string, string>,
): Promise<string | undefined> {
  await git(dir, ['add', '-A']);
  // Never commit the reused dependencies link or Dancer's state, even when .gitignore misses them.
  await git(dir, ['reset', '-q', '--', ...NEVER_COMMIT]);
  const staged = await git(dir, ['diff', '--cached', '--quiet'], { allowFail: true });
  if (staged.exitCode === 0) return undefined;
  await git(dir, ['commit', '--no-verify', '-F', '-'], { env, input: message });
  return gitOut(dir, ['rev-parse', 'HEAD']);
}

/** The unified diff between two commits. */
export async function diffBetween(repo: string, from: string, to: string): Promise<string> {
  return (await git(repo, ['diff', '--no-color', '--no-ext-diff', '--no-textconv', '--text', '-M', from, to])).stdout;
}

/** The names of the files changed between two commits. */
export async function changedFiles(repo: string, from: string, to: string): Promise<string[]> {
  const out = await gitOut(repo, ['diff', '--name-only', '-M', from, to]);
  return out === '' ? [] : out.split('\n');
}

/** The content of `file` at `rev`, or undefined when it does not exist there. */
export async function fileAt(repo: string, rev: string, file: string): Promise<string | undefined> {
  const r = await git(repo, ['show', `${rev}:${file}`], { allowFail: true });
  return r.exitCode === 0 ? r.stdout : undefined;
}

/** Create an annotated tag `name` at `rev`. */
export async function createTag(repo: string, name: string, rev: string, message: string, env: Record<string, string>) {
  await git(repo, ['tag', '-a', name, '-m', message, rev], { env });
}

/**
 * Merge `branch` into the branch checked out in `repo` with `--no-ff` and `message`.
 * On a conflict the merge is aborted (the working tree is left as it was).
 *
 * @throws {DancerError} `DANCER_GIT_CONFLICT` when the branch does not merge cleanly.
 */
export async function mergeNoFf(
  repo: string,
  branch: string,
  message: string,
  env: Record<string, string>,
): Promise<string> {
  // `git merge -F -` is not in every git; a temp file is.
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-merge-'));
  const file = path.join(dir, 'MERGE_MSG');
  writeFileSync(file, message);
  let r: Awaited<ReturnType<typeof git>>;
  try {
    r = await git(repo, ['merge', '--no-ff', '--no-verify', '-F', file, branch], { env, allowFail: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (r.exitCode !== 0) {
    const conflicted = (await git(repo, ['diff', '--name-only', '--diff-filter=U'], { allowFail: true })).stdout.trim();
    const inMerge =
      (await git(repo, ['rev-parse', '--verify', '--quiet', 'MERGE_HEAD'], { allowFail: true })).exitCode === 0;
    if (inMerge) await git(repo, ['merge', '--abort'], { allowFail: true });
    const isConflict = conflicted !== '' || /CONFLICT/.test(r.stdout);
    throw new DancerError(
      isConflict ? 'DANCER_GIT_CONFLICT' : 'DANCER_GIT_FAILED',
      `Merging ${branch} failed${conflicted ? ` with conflicts in ${conflicted.split('\n').join(', ')}` : `: ${(r.stderr || r.stdout).split('\n')[0]}`}`,
      {
        details: {
          repo,
          branch,
          conflicted: conflicted ? conflicted.split('\n') : [],
          stderr: r.stderr,
          stdout: r.stdout,
        },
      },
    );
  }
  return gitOut(repo, ['rev-parse', 'HEAD']);
}

/**
 * In the worktree at `dir`, revert the merge commit `merge` against its first parent and commit
 * with `message`. On a conflict the revert is aborted.
 *
 * @throws {DancerError} `DANCER_GIT_CONFLICT` when the revert does not apply cleanly.
 */
export async function revertMerge(
  dir: string,
  merge: string,
  message: string,
  env: Record<string, string>,
): Promise<string> {
  const r = await git(dir, ['revert', '-m', '1', '--no-commit', merge], { env, allowFail: true });
  if (r.exitCode !== 0) {
    await git(dir, ['revert', '--abort'], { allowFail: true });
    throw new DancerError(
      'DANCER_GIT_CONFLICT',
      `Reverting ${merge} does not apply cleanly: ${r.stderr.split('\n')[0]}`,
      {
        details: { merge, stderr: r.stderr },
      },
    );
  }
  await git(dir, ['commit', '--no-verify', '--allow-empty', '-F', '-'], { env, input: message });
  return gitOut(dir, ['rev-parse', 'HEAD']);
}

/** The first merge commit on `branch`'s first-parent history whose second parent is `commit`'s branch tip. */
export async function findMergeOf(repo: string, into: string, tip: string): Promise<string | undefined> {
  const out = await gitOut(repo, ['log', '--merges', '--first-parent', '--format=%H %P', into]);
  for (const line of out.split('\n')) {
    const [merge, , second] = line.split(' ');
    if (merge && second === tip) return merge;
  }
  return undefined;
}
