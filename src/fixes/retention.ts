/** Retention of finished fixes: the worktrees and branches kept for analysis, and the rest removed. */
import type { PipelineDeps } from './pipeline-common.js';
import { listFixes, updateFix } from './records.js';
import { branchExists, deleteBranch, removeWorktree } from './repo.js';

/**
 * Keep the worktrees and branches of the newest `fixes.retention.keepFailed` failed, rejected or
 * superseded fixes; remove the rest. Returns the ids cleaned.
 */
export async function pruneRetained(deps: Pick<PipelineDeps, 'db' | 'repo' | 'fixes' | 'clock'>): Promise<number[]> {
  const finished = listFixes(deps.db, { states: ['failed', 'rejected', 'superseded'] });
  const cleaned: number[] = [];
  for (const fix of finished.slice(deps.fixes.retention.keepFailed)) {
    if (!fix.worktree && !(fix.branch && (await branchExists(deps.repo, fix.branch)))) continue;
    if (fix.worktree) await removeWorktree(deps.repo, fix.worktree);
    if (fix.branch && (await branchExists(deps.repo, fix.branch))) await deleteBranch(deps.repo, fix.branch);
    updateFix(deps.db, fix.id, { worktree: null }, (deps.clock ?? Date.now)());
    cleaned.push(fix.id);
  }
  return cleaned;
}
