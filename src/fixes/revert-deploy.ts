/**
 * Recording in git the rollback of a plain deploy (`dancer deploy REF`, not a fix): the
 * supervisor has already handed off to the previous release; this commits the revert of what
 * the rolled-back release added on a `dancer/rollback-*` branch and merges it into main with
 * `--no-ff` (main tagged before), so HEAD's tree equals the serving release's tree again.
 * Idempotent: the merge carries a `Dancer-Rollback-Deploy` trailer naming the rollback, and a
 * second call (a resume after a kill -9, a second listener) finds it instead of reverting twice.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import { git, gitOut } from './git.js';
import { rollbackBranchName, worktreeFolderName } from './names.js';
import { env, mainBranchOf, now, type PipelineDeps, uniqueTag } from './pipeline-common.js';
import { assertMergeable, branchExists, createTag, createWorktree, mergeNoFf, removeWorktree } from './repo.js';

/** The trailer that ties a revert merge to the supervisor's rollback row. */
export const ROLLBACK_DEPLOY_TRAILER = 'Dancer-Rollback-Deploy';

/** What to revert: the release rolled back and the release serving now, as commits. */
export interface RevertDeployOptions {
  /** The supervisor's rollback row (deploys.id of kind `rollback`). */
  rollbackId: number;
  /** A commit of the release that was rolled back. */
  fromCommit: string;
  /** A commit of the release serving now. */
  toCommit: string;
  /** Who rolled back (`alice`, `observer`, `cli`). */
  actor: string;
  reason: string;
}

/** The revert recorded on main. */
export interface RevertDeployResult {
  /** The `--no-ff` merge of the revert into main. */
  commit: string;
  branch: string | undefined;
  /** False when an earlier call had already recorded it. */
  created: boolean;
}

const locks = new Map<string, Promise<unknown>>();

/**
 * Record the rollback of a plain deploy in git. Returns undefined when there is nothing to
 * record: main's tree already equals the serving release's tree.
 *
 * @throws {DancerError} `DANCER_ROLLBACK_FAILED` when the revert does not apply on main or main
 * is not mergeable; the serving release is unaffected and the reason is in the error.
 */
export async function revertDeploy(
  deps: PipelineDeps,
  options: RevertDeployOptions,
): Promise<RevertDeployResult | undefined> {
  const before = locks.get(deps.repo) ?? Promise.resolve();
  const run = before.catch(() => undefined).then(() => revertOnce(deps, options));
  locks.set(deps.repo, run);
  try {
    return await run;
  } finally {
    if (locks.get(deps.repo) === run) locks.delete(deps.repo);
  }
}

async function revertOnce(deps: PipelineDeps, o: RevertDeployOptions): Promise<RevertDeployResult | undefined> {
  const { repo } = deps;
  const main = await mainBranchOf(deps);
  const known = await recordedMerge(repo, main, o.rollbackId);
  if (known) return { commit: known, branch: undefined, created: false };
  const toTree = await gitOut(repo, ['rev-parse', `${o.toCommit}^{tree}`]);
  if ((await gitOut(repo, ['rev-parse', `${main}^{tree}`])) === toTree) return undefined;
  let branch: string | undefined;
  let dir: string | undefined;
  try {
    await assertMergeable(repo, main);
    for (let attempt = 1; ; attempt++) {
      branch = rollbackBranchName(now(deps), attempt);
      if (!(await branchExists(repo, branch))) break;
    }
    dir = path.join(deps.worktreeBase, worktreeFolderName(branch));
    if (existsSync(dir)) await removeWorktree(repo, dir);
    await createWorktree(repo, { branch, dir, base: main });
    // The reverse of what the rolled-back release added, applied on main (a revert of
    // toCommit..fromCommit as one commit, merges in the range included).
    const diff = await git(repo, ['diff', '--binary', '--no-ext-diff', '--no-textconv', o.fromCommit, o.toCommit], {
      raw: true,
    });
    const applied = await git(dir, ['apply', '--3way', '--index', '--whitespace=nowarn'], {
      input: diff.stdout,
      allowFail: true,
    });
    if (applied.exitCode !== 0) {
      throw new DancerError('DANCER_GIT_CONFLICT', `The revert does not apply on ${main}: ${applied.stderr.trim()}`);
    }
    const message = revertMessage(o);
    await git(dir, ['commit', '--no-verify', '--allow-empty', '-F', '-'], { env: env(deps), input: message });
    const tag = await uniqueTag(repo, now(deps));
    await createTag(repo, tag, main, `Before recording rollback #${o.rollbackId}`, env(deps));
    const merge = await mergeNoFf(repo, branch, message, env(deps));
    await removeWorktree(repo, dir);
    return { commit: merge, branch, created: true };
  } catch (error) {
    if (dir && existsSync(dir)) await removeWorktree(repo, dir).catch(() => undefined);
    if (branch && (await branchExists(repo, branch))) {
      await git(repo, ['branch', '-D', branch], { allowFail: true });
    }
    throw new DancerError(
      'DANCER_ROLLBACK_FAILED',
      `Recording rollback #${o.rollbackId} in git failed: ${errorMessage(error)}`,
      { cause: error, details: { rollbackId: o.rollbackId, ...(isDancerError(error) ? { code: error.code } : {}) } },
    );
  }
}

/** The merge on main's first-parent history that records rollback `id`, if any. */
async function recordedMerge(repo: string, main: string, id: number): Promise<string | undefined> {
  const out = await gitOut(repo, [
    'log',
    '--first-parent',
    '--merges',
    '--format=%H',
    '--fixed-strings',
    `--grep=${ROLLBACK_DEPLOY_TRAILER}: ${id}`,
    main,
  ]);
  for (const sha of out.split('\n').filter(Boolean)) {
    const body = await gitOut(repo, ['log', '-1', '--format=%B', sha]);
    if (body.split('\n').some((line) => line.trim() === `${ROLLBACK_DEPLOY_TRAILER}: ${id}`)) return sha;
  }
  return undefined;
}

function revertMessage(o: RevertDeployOptions): string {
  const who = o.actor.replace(/^human:/, '');
  return [
    `Roll back deploy of ${o.fromCommit.slice(0, 12)}: back to ${o.toCommit.slice(0, 12)}`,
    '',
    `Rolled back by ${who}: ${o.reason.replace(/\n/g, ' ')}`,
    '',
    `Reverts what ${o.fromCommit.slice(0, 12)} changed since ${o.toCommit.slice(0, 12)}, the release serving`,
    'again, so the tree on main equals the tree that serves.',
    '',
    `${ROLLBACK_DEPLOY_TRAILER}: ${o.rollbackId}`,
    '',
  ].join('\n');
}
