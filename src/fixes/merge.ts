/**
 * Approval and merge: a human (or the policy) approves, then the fix branch is merged into the
 * main branch with `--no-ff` and a changelog message, main tagged before.
 */
import { DancerError, isDancerError } from '../errors.js';
import { formatCommitMessage } from './message.js';
import { env, mainBranchOf, move, now, type PipelineDeps, uniqueTag } from './pipeline-common.js';
import { type FixRecord, gateSteps, updateFix } from './records.js';
import { assertMergeable, createTag, findMergeOf, mergeNoFf, removeWorktree } from './repo.js';
import { humanActor } from './state.js';

/** `850 ms`, `2.3 s`. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// --- approval ------------------------------------------------------------------------------------

/** A human approves a fix waiting for approval. */
export async function approveFix(
  deps: Pick<PipelineDeps, 'db' | 'clock' | 'onTransition' | 'log'>,
  id: number,
  by: string,
  reason = '',
) {
  return move(deps as PipelineDeps, id, {
    event: 'approve',
    actor: humanActor(by),
    reason: reason || `approved by ${by}`,
    expect: 'awaiting_approval',
  });
}

/** A human rejects a fix that has not been deployed. Its worktree and branch are kept (retention). */
export async function rejectFix(
  deps: Pick<PipelineDeps, 'db' | 'clock' | 'onTransition' | 'log'>,
  id: number,
  by: string,
  reason: string,
) {
  if (!reason.trim()) throw new DancerError('DANCER_USAGE', 'A rejection needs a reason (--reason TEXT)');
  return move(deps as PipelineDeps, id, { event: 'reject', actor: humanActor(by), reason });
}

// --- approved: tag and merge ---------------------------------------------------------------------

function testedText(deps: PipelineDeps, fix: FixRecord): string {
  const steps = gateSteps(deps.db, fix.id).filter((s) => s.round === fix.repairRounds);
  const parts = steps
    .filter((s) => !s.name.startsWith('regression:'))
    .map((s) => (s.note ? `${s.name} ${s.note}` : `${s.name} passed (${formatMs(s.durationMs)})`));
  if (steps.some((s) => s.name === 'regression:base') && fix.regressionTest) {
    parts.push(
      `the regression test ${fix.regressionTest} fails on the base commit ${fix.baseCommit?.slice(0, 12)} and passes with the fix`,
    );
  }
  const rounds =
    fix.repairRounds > 0 ? ` after ${fix.repairRounds} repair round${fix.repairRounds === 1 ? '' : 's'}` : '';
  return `The gate passed${rounds}: ${parts.join('; ') || 'no steps configured'}.`;
}

/** The merge commit message of a fix: the changelog entry and the trailers. */
export function mergeMessage(deps: PipelineDeps, fix: FixRecord, approvedBy: string): string {
  return formatCommitMessage(
    {
      title: `Dancer fix ${fix.id}: ${fix.summary ?? `pattern ${fix.patternId}`}`,
      problem: [fix.rootCause, fix.analysis, fix.patternText ? `Pattern: ${fix.patternText}` : '']
        .filter(Boolean)
        .join('\n\n'),
      change: `${fix.summary ?? ''} (${fix.filesChanged ?? '?'} file(s), ${fix.linesChanged ?? '?'} line(s); risk ${fix.risk ?? 'unknown'}; approved by ${approvedBy}; branch ${fix.branch})`,
      testing: testedText(deps, fix),
    },
    { fixId: fix.id, patternId: fix.patternId, consultationId: fix.consultationId ?? undefined, costUsd: fix.costUsd },
  );
}

function approverOf(deps: PipelineDeps, id: number): string {
  const row = deps.db
    .prepare("SELECT actor FROM fix_events WHERE fix_id = ? AND event = 'approve' ORDER BY id DESC LIMIT 1")
    .get(id) as { actor: string } | undefined;
  return row ? row.actor.replace(/^human:/, '') : 'unknown';
}

/** approved → deploying: tag main, merge the fix branch with --no-ff. */
export async function merge(deps: PipelineDeps, fix: FixRecord): Promise<FixRecord> {
  const main = await mainBranchOf(deps);
  const head = fix.headCommit as string;
  let mergeCommit = fix.mergeCommit ?? (await findMergeOf(deps.repo, main, head));
  let tag = fix.beforeTag;
  if (!mergeCommit) {
    await assertMergeable(deps.repo, main);
    tag = await uniqueTag(deps.repo, now(deps));
    await createTag(deps.repo, tag, main, `Before merging dancer fix ${fix.id} (${fix.branch})`, env(deps));
    updateFix(deps.db, fix.id, { beforeTag: tag }, now(deps));
    try {
      mergeCommit = await mergeNoFf(
        deps.repo,
        fix.branch as string,
        mergeMessage(deps, fix, approverOf(deps, fix.id)),
        env(deps),
      );
    } catch (error) {
      if (!isDancerError(error, 'DANCER_GIT_CONFLICT')) throw error;
      return move(deps, fix.id, {
        event: 'fail',
        actor: 'git',
        reason: `${error.message}; the main branch moved since the fix started: retry it`,
        fields: { failedStep: 'merge' },
        details: error.details,
      });
    }
  }
  if (fix.worktree) await removeWorktree(deps.repo, fix.worktree);
  return move(deps, fix.id, {
    event: 'deploy',
    actor: 'git',
    reason: `merged ${fix.branch} into ${main} as ${mergeCommit.slice(0, 12)} (main tagged ${tag ?? '?'} before)`,
    fields: { mergeCommit, beforeTag: tag, worktree: null },
  });
}
