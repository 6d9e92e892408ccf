/**
 * The fix's worktree: made on the first step of a fix, found again (or checked out again) after
 * a restart. When it cannot be made (a full disk, a git error), the fix fails with the reason
 * and nothing half-made stays behind (folder, worktree registration, new branch), instead of the
 * fix waiting in its state for ever.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { errorMessage, isDancerError } from '../errors.js';
import { reclaimTree } from '../sandbox/index.js';
import { git } from './git.js';
import { fixBranchName, worktreeFolderName } from './names.js';
import { mainBranchOf, move, now, type PipelineDeps } from './pipeline-common.js';
import { type FixRecord, getFix, updateFix } from './records.js';
import { branchExists, createWorktree, deleteBranch, revParse } from './repo.js';

/**
 * The fix with its worktree ready, or the fix moved to `failed` (actor `git`, failed step
 * `worktree`) when the worktree cannot be made. Aborts (the emergency stop) are thrown.
 */
export async function ensureWorktree(deps: PipelineDeps, fix: FixRecord): Promise<FixRecord> {
  try {
    return await worktreeOf(deps, fix);
  } catch (error) {
    if (deps.signal?.aborted) throw error;
    const failed = await move(deps, fix.id, {
      event: 'fail',
      actor: 'git',
      reason: `the fix worktree could not be made: ${errorMessage(error)}`,
      fields: { failedStep: 'worktree' },
      details: isDancerError(error) ? error.toJSON() : undefined,
    });
    await cleanUp(deps, failed);
    return getFix(deps.db, fix.id);
  }
}

/** Remove what a failed `git worktree add` left: the folder, its registration, the new branch. */
async function cleanUp(deps: PipelineDeps, fix: FixRecord): Promise<void> {
  if (fix.worktree) rmSync(fix.worktree, { recursive: true, force: true });
  await git(deps.repo, ['worktree', 'prune']);
  if (fix.branch && fix.headCommit === fix.baseCommit && (await branchExists(deps.repo, fix.branch))) {
    await deleteBranch(deps.repo, fix.branch);
  }
  updateFix(deps.db, fix.id, { worktree: null }, now(deps));
}

async function worktreeOf(deps: PipelineDeps, fix: FixRecord): Promise<FixRecord> {
  if (fix.branch && fix.worktree && existsSync(fix.worktree)) {
    // A process killed mid-gate or mid-agent left the tree lent to the sandbox user: take it back.
    reclaimTree(fix.worktree);
    return fix;
  }
  if (fix.branch && fix.worktree && (await branchExists(deps.repo, fix.branch))) {
    // Killed after the branch was made but the folder is gone: check the branch out again.
    await git(deps.repo, ['worktree', 'prune']);
    await git(deps.repo, ['worktree', 'add', fix.worktree, fix.branch]);
    return fix;
  }
  const base = fix.baseCommit ?? (await revParse(deps.repo, await (deps.deployedCommit?.() ?? mainBranchOf(deps))));
  let attempt = 1;
  let branch = fixBranchName(fix.createdAt, fix.patternHash, attempt);
  // A rejected or failed fix's branch may be deleted from git but its name stays recorded.
  const taken = (name: string) =>
    deps.db.prepare('SELECT 1 FROM fixes WHERE branch = ? AND id <> ?').get(name, fix.id) !== undefined;
  while (
    taken(branch) ||
    (await branchExists(deps.repo, branch)) ||
    existsSync(path.join(deps.worktreeBase, worktreeFolderName(branch)))
  ) {
    attempt++;
    branch = fixBranchName(fix.createdAt, fix.patternHash, attempt);
  }
  const dir = path.join(deps.worktreeBase, worktreeFolderName(branch));
  mkdirSync(deps.worktreeBase, { recursive: true });
  updateFix(deps.db, fix.id, { branch, worktree: dir, baseCommit: base, headCommit: base }, now(deps));
  await createWorktree(deps.repo, { branch, dir, base });
  return getFix(deps.db, fix.id);
}
