/**
 * Rolling a merged fix back in git without rewriting history, the second half of the one
 * rollback path (the supervisor hands off to the last good release first). Idempotent and one at
 * a time per fix: the automatic path, `dancer rollback`, Zulip and a resume may all ask.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import { git } from './git.js';
import { formatCommitMessage } from './message.js';
import { rollbackBranchName, worktreeFolderName } from './names.js';
import { env, mainBranchOf, move, now, type PipelineDeps, request, uniqueTag } from './pipeline-common.js';
import { type FixRecord, getFix, updateFix } from './records.js';
import {
  assertMergeable,
  branchExists,
  createTag,
  createWorktree,
  findMergeOf,
  mergeNoFf,
  removeWorktree,
  revertMerge,
  revParse,
} from './repo.js';
import { type Actor, ROLLBACK_STATES } from './state.js';

/** Options for {@link rollbackFix}. */
export interface RollbackOptions {
  actor: Actor;
  reason: string;
  /** Deploy the revert through `deps.deploy` (default true; false when the supervisor already restored the previous release). */
  redeploy?: boolean;
}

/**
 * Roll a merged fix back without rewriting history: `git revert -m 1` of its merge on a
 * `dancer/rollback-<UTC yyyymmdd-hhmm>` branch, merged into main with `--no-ff` (main tagged
 * before), the reason in the message; then deploy the result and record `rolled_back`.
 *
 * @throws {DancerError} `DANCER_ROLLBACK_FAILED` when the revert does not apply or main is not
 * mergeable; the fix keeps its state, and the reason is in the error.
 */
export async function rollbackFix(deps: PipelineDeps, id: number, options: RollbackOptions): Promise<FixRecord> {
  // The automatic path, `dancer rollback`, Zulip and a resume after a restart may all arrive for
  // the same fix: one at a time, and a fix already rolled back is left as it is.
  const key = `${deps.repo}#${id}`;
  const before = rollbackLocks.get(key) ?? Promise.resolve();
  const run = before
    .catch(() => undefined)
    .then(() => {
      const now = getFix(deps.db, id);
      return now.state === 'rolled_back' ? now : rollbackOnce(deps, id, options);
    });
  rollbackLocks.set(key, run);
  try {
    return await run;
  } finally {
    if (rollbackLocks.get(key) === run) rollbackLocks.delete(key);
  }
}

const rollbackLocks = new Map<string, Promise<FixRecord>>();

async function rollbackOnce(deps: PipelineDeps, id: number, options: RollbackOptions): Promise<FixRecord> {
  let fix = getFix(deps.db, id);
  if (!ROLLBACK_STATES.includes(fix.state) || !fix.mergeCommit) {
    throw new DancerError(
      'DANCER_ILLEGAL_TRANSITION',
      `Fix ${id} is ${fix.state}; only a merged fix can be rolled back`,
      {
        details: { id, state: fix.state },
      },
    );
  }
  const main = await mainBranchOf(deps);
  try {
    if (!fix.rollbackCommit) {
      let branch = fix.rollbackBranch;
      if (!branch) {
        for (let attempt = 1; ; attempt++) {
          branch = rollbackBranchName(now(deps), attempt);
          if (!(await branchExists(deps.repo, branch))) break;
        }
        updateFix(deps.db, id, { rollbackBranch: branch, reason: options.reason }, now(deps));
      }
      branch = branch as string;
      const dir = path.join(deps.worktreeBase, worktreeFolderName(branch));
      const message = formatCommitMessage(
        {
          title: `Roll back dancer fix ${id}: ${fix.summary ?? `pattern ${fix.patternId}`}`,
          problem: `Rolled back by ${options.actor.replace(/^human:/, '')}: ${options.reason}`,
          change: `Reverts merge ${fix.mergeCommit.slice(0, 12)} (branch ${fix.branch}) against its first parent.`,
          testing: 'A revert restores the tree of the commit before the merge.',
        },
        {
          fixId: id,
          patternId: fix.patternId,
          consultationId: fix.consultationId ?? undefined,
          costUsd: 0,
          rollbackOf: id,
        },
      );
      let rollbackMerge = await findMergeOf(deps.repo, main, (await revIfExists(deps.repo, branch)) ?? '-');
      if (!rollbackMerge) {
        await assertMergeable(deps.repo, main);
        if (!(await branchExists(deps.repo, branch))) {
          if (existsSync(dir)) await removeWorktree(deps.repo, dir);
          await createWorktree(deps.repo, { branch, dir, base: main });
          await revertMerge(dir, fix.mergeCommit, message, env(deps));
        } else if ((await revParse(deps.repo, branch)) === (await revParse(deps.repo, main))) {
          // A process killed between creating the branch and committing the revert: start the
          // revert again from a clean worktree of the branch.
          if (!existsSync(dir)) await git(deps.repo, ['worktree', 'add', dir, branch]);
          else await git(dir, ['reset', '--hard', '-q', 'HEAD']);
          await revertMerge(dir, fix.mergeCommit, message, env(deps));
        }
        const tag = await uniqueTag(deps.repo, now(deps));
        await createTag(deps.repo, tag, main, `Before rolling back dancer fix ${id}`, env(deps));
        rollbackMerge = await mergeNoFf(deps.repo, branch, message, env(deps));
      }
      if (existsSync(dir)) await removeWorktree(deps.repo, dir);
      updateFix(deps.db, id, { rollbackCommit: rollbackMerge }, now(deps));
      fix = getFix(deps.db, id);
    }
  } catch (error) {
    throw new DancerError('DANCER_ROLLBACK_FAILED', `Rolling back fix ${id} failed: ${errorMessage(error)}`, {
      cause: error,
      details: { id, ...(isDancerError(error) ? { code: error.code, ...error.details } : {}) },
    });
  }
  if ((options.redeploy ?? true) && deps.deploy) {
    const result = await deps.deploy(request(fix, 'rollback', fix.rollbackCommit as string, deps.signal));
    if (!result.ok) {
      throw new DancerError(
        'DANCER_ROLLBACK_FAILED',
        `The rollback of fix ${id} is merged but its deploy failed: ${result.reason}`,
        {
          details: { id, commit: fix.rollbackCommit },
        },
      );
    }
  }
  return move(deps, id, {
    event: 'rollback',
    actor: options.actor,
    reason: options.reason,
    details: { rollbackCommit: fix.rollbackCommit, rollbackBranch: fix.rollbackBranch },
  });
}

async function revIfExists(repo: string, branch: string): Promise<string | undefined> {
  const r = await git(repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { allowFail: true });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}
