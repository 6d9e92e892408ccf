import path from 'node:path';
import type { PolicyConfig } from '../config/index.js';
import { DancerError, errorMessage, isDancerError } from '../errors.js';
import { earlierAttempts, recordFixDiff, rolledBackWithPatch } from './attempts.js';
import { parseDiff } from './diff.js';
import { findRegressionTests, type GateStepOutcome, runGate } from './gate.js';
import { gateFilesAt } from './gate-sandbox.js';
import { git, gitOut } from './git.js';
import { patternErrorOf } from './honesty-step.js';
import { formatMs, merge } from './merge.js';
import { type ChangelogEntry, formatCommitMessage } from './message.js';
import { env, move, now, type PipelineDeps, request } from './pipeline-common.js';
import { pruneRetained } from './retention.js';
import { rollbackFix } from './rollback.js';

export { approveFix, mergeMessage, rejectFix } from './merge.js';
export type { PipelineDeps } from './pipeline-common.js';
export { pruneRetained } from './retention.js';
export { type RollbackOptions, rollbackFix } from './rollback.js';

import { checkPolicy, formatViolations, type PolicyResult, protectedGlobs } from './policy.js';
import {
  createFix,
  type FixRecord,
  type FixUpdate,
  getFix,
  listFixes,
  markRetryTaken,
  pendingRetries,
  recordGateStep,
  updateFix,
} from './records.js';
import {
  changedFiles,
  commitAll,
  deleteBranch,
  diffBetween,
  excludeDancerPaths,
  fileAt,
  hasChanges,
  removeWorktree,
} from './repo.js';
import { type Actor, type FixState, humanActor, isTerminal, OPEN_STATES } from './state.js';
import type { AgentOutcome, FixBrief, FixTrigger, RepairContext } from './types.js';
import { ensureWorktree } from './worktree-setup.js';

/** Dancer's paths no gate step may see: the store's files, the worktree base, and `deps.hide`. */
export function dancerPaths(deps: Pick<PipelineDeps, 'db' | 'worktreeBase' | 'hide'>): string[] {
  const db = deps.db.name && deps.db.name !== ':memory:' ? path.resolve(deps.db.name) : undefined;
  return [deps.worktreeBase, ...(db ? [db, `${db}-wal`, `${db}-shm`, `${db}-journal`] : []), ...(deps.hide ?? [])];
}

/** A one-paragraph statement of the policy, for the agent's brief. */
export function policySummary(policy: PolicyConfig, configPath?: string): string {
  return [
    `Never touch: ${protectedGlobs(policy, configPath).join(', ')}.`,
    `At most ${policy.maxFiles} files and ${policy.maxLines} changed lines.`,
    'Do not skip, narrow or delete tests; no eval or new Function.',
    policy.allowDependencies ? 'New dependencies are allowed.' : 'Do not add dependencies.',
    'Add a regression test that fails without the fix and passes with it, and name it in regressionTest.',
  ].join(' ');
}

/**
 * Start a fix for `trigger`: supersede older open fixes for the same pattern, record the new fix,
 * then {@link advanceFix} it as far as it goes without a human.
 */
export async function startFix(
  deps: PipelineDeps,
  trigger: FixTrigger,
  options: { retryOf?: number; actor?: Actor } = {},
): Promise<FixRecord> {
  await excludeDancerPaths(deps.repo);
  const fix = createFix(
    deps.db,
    {
      patternId: trigger.patternId,
      patternHash: trigger.patternHash,
      patternText: trigger.patternText,
      consultationId: trigger.consultationId,
      retryOf: options.retryOf,
      actor: options.actor ?? 'detector',
      reason: trigger.reason ?? `pattern ${trigger.patternId} triggered a consultation`,
    },
    now(deps),
  );
  for (const older of listFixes(deps.db, { patternId: trigger.patternId, states: OPEN_STATES })) {
    if (older.id === fix.id) continue;
    await move(deps, older.id, {
      event: 'supersede',
      actor: options.actor ?? 'detector',
      reason: `superseded by fix ${fix.id} for the same pattern`,
    });
  }
  const ended = await advanceFix(deps, fix.id);
  if (isTerminal(ended.state)) await pruneRetained(deps);
  return ended;
}

/**
 * Run the fix's state handlers until it needs a human (`awaiting_approval`, or `approved` with no
 * deploy function), is final, or the signal aborts. Safe to call again at any time: this is how
 * a restarted supervisor resumes.
 */
export async function advanceFix(deps: PipelineDeps, id: number): Promise<FixRecord> {
  for (;;) {
    const fix = getFix(deps.db, id);
    if (deps.signal?.aborted || isTerminal(fix.state)) return fix;
    let next: FixRecord | undefined;
    switch (fix.state) {
      case 'proposed':
        next = await consult(deps, fix);
        break;
      case 'testing':
        next = await test(deps, fix);
        break;
      case 'awaiting_approval':
        return fix;
      case 'approved':
        if (!deps.deploy) return fix;
        next = await merge(deps, fix);
        break;
      case 'deploying':
        next = await deploy(deps, fix);
        break;
      case 'observing':
        next = await observe(deps, fix);
        break;
      case 'deployed':
        return fix;
    }
    if (!next || next.state === fix.state) return next ?? fix;
  }
}

/**
 * Resume every fix that was in flight (after a restart), oldest first, then start pending retry
 * requests. Returns the fixes as they ended.
 */
export async function resumePipeline(deps: PipelineDeps): Promise<FixRecord[]> {
  const states: FixState[] = ['proposed', 'testing', 'approved', 'deploying', 'observing'];
  const out: FixRecord[] = [];
  for (const fix of listFixes(deps.db, { states, ascending: true })) {
    if (deps.signal?.aborted) break;
    if (fix.state === 'approved' && !deps.deploy) continue;
    // A rollback that was under way when the process died is finished first.
    if (fix.rollbackBranch && !fix.rollbackCommit)
      out.push(await rollbackFix(deps, fix.id, { actor: 'supervisor', reason: fix.reason ?? 'resumed rollback' }));
    else out.push(await advanceFix(deps, fix.id));
  }
  out.push(...(await processRetryRequests(deps)));
  return out;
}

// --- proposed: worktree, agent, commit -----------------------------------------------------------

async function stashInterrupted(dir: string, what: string, deps: PipelineDeps): Promise<boolean> {
  if (!(await hasChanges(dir))) return false;
  // Kept, not thrown away: `git stash list` shows it (node_modules and .dancer are excluded).
  await git(dir, ['stash', 'push', '--include-untracked', '-m', `dancer: ${what}`], { env: env(deps) });
  deps.log?.(`${dir}: stashed the changes of an interrupted run (${what})`);
  return true;
}

function brief(deps: PipelineDeps, fix: FixRecord, resumed: boolean): FixBrief {
  let previousAttempt: FixBrief['previousAttempt'];
  if (fix.retryOf !== null) {
    const prev = getFix(deps.db, fix.retryOf);
    const request = deps.db
      .prepare('SELECT reason FROM fix_retry_requests WHERE fix_id = ? AND new_fix_id = ? ORDER BY id DESC LIMIT 1')
      .get(prev.id, fix.id) as { reason: string } | undefined;
    previousAttempt = {
      fixId: prev.id,
      state: prev.state,
      failedStep: prev.failedStep ?? undefined,
      reason: prev.reason ?? '',
      retryReason: request?.reason,
    };
  }
  return {
    fixId: fix.id,
    patternId: fix.patternId,
    patternHash: fix.patternHash,
    patternText: fix.patternText ?? undefined,
    consultationId: fix.consultationId ?? undefined,
    policySummary: policySummary(deps.policy, deps.configPath),
    previousAttempt,
    earlierAttempts: earlierAttempts(deps.db, fix.patternId, fix.id),
    resumed,
  };
}

function entryFor(fix: FixRecord, outcome: AgentOutcome, title?: string): ChangelogEntry {
  const files = outcome.filesChanged?.length ? ` Files: ${outcome.filesChanged.join(', ')}.` : '';
  return {
    title: title ?? outcome.summary ?? `Dancer fix ${fix.id} for pattern ${fix.patternId}`,
    // The agent's analysis explains what was wrong; "What changed" is the change itself.
    problem:
      [
        outcome.rootCause ??
          (outcome.missing ? `Missing from the logs: ${outcome.missing}` : undefined) ??
          fix.patternText ??
          undefined,
        outcome.analysis,
      ]
        .filter(Boolean)
        .join('\n\n') || undefined,
    change: `${outcome.summary ?? ''}${files}`.trim(),
    testing: outcome.regressionTest
      ? `Regression test ${outcome.regressionTest}: the gate checks that it fails on the base commit and passes with the fix.`
      : 'No regression test named; the gate runs the configured steps.',
  };
}

async function consult(deps: PipelineDeps, fixIn: FixRecord): Promise<FixRecord> {
  let fix = await ensureWorktree(deps, fixIn);
  if (fix.state !== fixIn.state) return fix; // no worktree (e.g. the disk is full): failed
  const dir = fix.worktree as string;
  const resumed = await stashInterrupted(dir, `fix ${fix.id} interrupted consultation`, deps);
  let outcome: AgentOutcome;
  try {
    outcome = await deps.runAgent(dir, brief(deps, fix, resumed));
  } catch (error) {
    if (deps.signal?.aborted) throw error;
    return move(deps, fix.id, {
      event: 'fail',
      actor: 'agent',
      reason: `the consultation failed: ${errorMessage(error)}`,
      fields: { failedStep: 'agent' },
      details: isDancerError(error) ? error.toJSON() : undefined,
    });
  }
  const cost = fix.costUsd + (outcome.costUsd ?? 0);
  updateFix(
    deps.db,
    fix.id,
    {
      kind: outcome.kind === 'improve_logging' ? 'improve_logging' : 'fix',
      consultationId: outcome.consultationId ?? fix.consultationId,
      summary: outcome.summary ?? outcome.why ?? null,
      analysis: outcome.analysis ?? outcome.where ?? null,
      rootCause: outcome.rootCause ?? (outcome.missing ? `Missing from the logs: ${outcome.missing}` : null),
      regressionTest: outcome.regressionTest ?? null,
      risk: outcome.risk ?? null,
      confidence: outcome.confidence ?? null,
      costUsd: cost,
    },
    now(deps),
  );
  fix = getFix(deps.db, fix.id);
  if (outcome.kind === 'ignore' || outcome.kind === 'escalate') {
    await stashInterrupted(dir, `fix ${fix.id} ${outcome.kind} outcome left changes`, deps);
    const rejected = await move(deps, fix.id, {
      event: 'reject',
      actor: 'agent',
      reason: `the agent chose ${outcome.kind}: ${outcome.why ?? outcome.summary ?? ''}${outcome.where ? ` (look at ${outcome.where})` : ''}`,
      details: { outcome: outcome.kind },
    });
    await removeWorktree(deps.repo, dir);
    await deleteBranch(deps.repo, fix.branch as string);
    updateFix(deps.db, fix.id, { worktree: null }, now(deps));
    return getFix(deps.db, rejected.id);
  }
  const message = formatCommitMessage(entryFor(fix, outcome), {
    fixId: fix.id,
    patternId: fix.patternId,
    consultationId: fix.consultationId ?? undefined,
    costUsd: cost,
  });
  const head = await commitAll(dir, message, env(deps));
  if (head === undefined) {
    return move(deps, fix.id, {
      event: 'fail',
      actor: 'agent',
      reason: `the agent reported ${outcome.kind} but changed no files`,
      fields: { failedStep: 'agent' },
    });
  }
  return move(deps, fix.id, {
    event: 'submit',
    actor: 'agent',
    reason: `the agent proposed a change: ${outcome.summary ?? ''}`,
    fields: { headCommit: head },
  });
}

// --- testing: policy and gate, with repair rounds ------------------------------------------------

async function policyFor(deps: PipelineDeps, fix: FixRecord, head: string): Promise<PolicyResult> {
  const base = fix.baseCommit as string;
  const diff = parseDiff(await diffBetween(deps.repo, base, head));
  const packageJson = await Promise.all(
    diff.files
      .filter((f) => path.basename(f.path) === 'package.json')
      .map(async (f) => ({
        path: f.path,
        before: await fileAt(deps.repo, base, f.oldPath),
        after: await fileAt(deps.repo, head, f.path),
      })),
  );
  return checkPolicy(diff, deps.policy, {
    risk: fix.risk ?? undefined,
    packageJson,
    configPath: deps.configPath,
    gateFiles: await gateFilesAt(deps.repo, base, deps.fixes),
  });
}

async function test(deps: PipelineDeps, fixIn: FixRecord): Promise<FixRecord> {
  let fix = await ensureWorktree(deps, fixIn);
  if (fix.state !== fixIn.state) return fix; // no worktree (e.g. the disk is full): failed
  const dir = fix.worktree as string;
  await stashInterrupted(dir, `fix ${fix.id} interrupted repair`, deps);
  for (;;) {
    const head = await gitOut(dir, ['rev-parse', 'HEAD']);
    const same = await duplicateOfRolledBack(deps, fix, head);
    if (same !== undefined) {
      return move(deps, fix.id, {
        event: 'fail',
        actor: 'policy',
        reason: `duplicate_of_rolled_back: the diff is identical to fix ${same}, which was rolled back`,
        fields: { failedStep: 'duplicate_of_rolled_back' },
        details: { duplicateOf: same },
      });
    }
    const policy = await policyFor(deps, fix, head);
    updateFix(
      deps.db,
      fix.id,
      { headCommit: head, filesChanged: policy.filesChanged, linesChanged: policy.linesChanged },
      now(deps),
    );
    if (!policy.ok) {
      return move(deps, fix.id, {
        event: 'fail',
        actor: 'policy',
        reason: `the fix breaks the policy:\n${formatViolations(policy.violations)}`,
        fields: { failedStep: 'policy' },
        details: { violations: policy.violations },
      });
    }
    const round = fix.repairRounds;
    const files = await changedFiles(deps.repo, fix.baseCommit as string, head);
    let seq = 0;
    const result = await runGate({
      repo: deps.repo,
      worktree: dir,
      baseCommit: fix.baseCommit as string,
      changedFiles: files,
      regressionTests: findRegressionTests(fix.regressionTest, files, deps.fixes.gate.regression.testGlobs),
      requireRegression: fix.kind === 'fix' || deps.fixes.gate.regression.requireForImproveLogging,
      expectedError: fix.kind === 'fix' ? patternErrorOf(deps.db, fix.patternId) : undefined,
      config: deps.fixes,
      dependenciesFrom: deps.dependenciesFrom ?? deps.repo,
      signal: deps.signal,
      sandbox: deps.sandbox,
      hide: dancerPaths(deps),
      onWarning: deps.log,
      clock: deps.clock,
      onStep: (step: GateStepOutcome) => {
        recordGateStep(deps.db, {
          fixId: fix.id,
          round,
          seq: seq++,
          name: step.name,
          command: step.command,
          ok: step.ok,
          exitCode: step.exitCode,
          signal: step.signal,
          timedOut: step.timedOut,
          durationMs: step.durationMs,
          outputTail: step.outputTail,
          note: step.note,
          startedAt: step.startedAt,
          status: step.status,
          details: step.details,
        });
      },
    });
    if (deps.signal?.aborted) return getFix(deps.db, fix.id);
    if (result.ok) {
      let passed = await move(deps, fix.id, {
        event: 'pass',
        actor: 'gate',
        reason: result.needsHuman
          ? `the gate passed (round ${round}) but needs a human: ${result.needsHuman.join('; ')}`
          : `the gate passed (round ${round}): ${result.steps.map((s) => `${s.name} ${formatMs(s.durationMs)}`).join(', ')}`,
      });
      // A weaker suite or an unexecuted change is never approved without a human.
      if (!policy.needsApproval && !result.needsHuman) {
        passed = await move(deps, fix.id, {
          event: 'approve',
          actor: 'policy',
          reason: 'risk is low and policy.autoApprove allows low-risk fixes to deploy without a human',
        });
      }
      return passed;
    }
    const failed = result.steps.at(-1);
    if (round >= deps.fixes.repairRounds || result.code === 'DANCER_INSTALL_NETWORK_OFF') {
      return move(deps, fix.id, {
        event: 'fail',
        actor: 'gate',
        reason: `the gate failed at ${result.failedStep}${round > 0 ? ` after ${round} repair round${round === 1 ? '' : 's'}` : ''}: ${result.reason}`,
        fields: { failedStep: result.failedStep ?? null },
      });
    }
    const repair: RepairContext = {
      round: round + 1,
      failedStep: result.failedStep ?? 'gate',
      reason: result.reason ?? '',
      outputTail: failed?.outputTail ?? '',
    };
    let outcome: AgentOutcome;
    try {
      outcome = await deps.runAgent(dir, brief(deps, fix, false), repair);
    } catch (error) {
      if (deps.signal?.aborted) throw error;
      return move(deps, fix.id, {
        event: 'fail',
        actor: 'agent',
        reason: `repair round ${repair.round} failed: ${errorMessage(error)}`,
        fields: { failedStep: result.failedStep ?? 'agent' },
      });
    }
    const cost = fix.costUsd + (outcome.costUsd ?? 0);
    const message = formatCommitMessage(
      {
        ...entryFor(fix, outcome, `Repair round ${repair.round}: ${outcome.summary ?? `fix ${repair.failedStep}`}`),
        problem: `The gate failed at ${repair.failedStep}.`,
      },
      { fixId: fix.id, patternId: fix.patternId, consultationId: fix.consultationId ?? undefined, costUsd: cost },
    );
    const update: FixUpdate = { repairRounds: round + 1, costUsd: cost };
    if (outcome.regressionTest) update.regressionTest = outcome.regressionTest;
    if (outcome.risk) update.risk = outcome.risk;
    if (outcome.summary) update.summary = outcome.summary;
    await commitAll(dir, message, env(deps));
    updateFix(deps.db, fix.id, update, now(deps));
    fix = getFix(deps.db, fix.id);
  }
}

/** Record the fix's diff (patch id, stat) and return a rolled-back fix with the same diff, if any. */
async function duplicateOfRolledBack(deps: PipelineDeps, fix: FixRecord, head: string): Promise<number | undefined> {
  const base = fix.baseCommit as string;
  const diff = await diffBetween(deps.repo, base, head);
  if (diff.trim() === '') return undefined;
  const patchId = (await git(deps.repo, ['patch-id', '--stable'], { input: diff })).stdout.trim().split(/\s+/)[0];
  if (!patchId) return undefined;
  const stat = (await git(deps.repo, ['diff', '--stat', base, head])).stdout.trim();
  recordFixDiff(deps.db, fix.id, patchId, stat);
  return rolledBackWithPatch(deps.db, patchId, fix.id);
}

// --- deploying and observing ---------------------------------------------------------------------

async function deploy(deps: PipelineDeps, fix: FixRecord): Promise<FixRecord> {
  if (fix.rollbackBranch)
    return rollbackFix(deps, fix.id, { actor: 'supervisor', reason: fix.reason ?? 'resumed rollback' });
  if (!deps.deploy) return fix;
  const result = await deps.deploy(request(fix, 'fix', fix.mergeCommit as string, deps.signal));
  // Aborted (the emergency stop): a release that went live is the halt's to roll back; one that
  // failed left the old release serving, which is recorded now so that main matches what serves.
  if (deps.signal?.aborted && result.ok) return getFix(deps.db, fix.id);
  if (!result.ok) {
    return rollbackFix(deps, fix.id, {
      actor: 'supervisor',
      reason: `the deploy failed: ${result.reason}`,
      redeploy: false,
    });
  }
  if (result.commit && result.commit !== fix.mergeCommit) {
    return move(deps, fix.id, {
      event: 'live',
      actor: 'supervisor',
      reason: `the new release is live as ${result.commit.slice(0, 12)} (the fix re-merged onto a main that moved, the gate passed again there); observing`,
      fields: { mergeCommit: result.commit },
      details: { mergeCommit: result.commit, mergedAs: fix.mergeCommit },
    });
  }
  return move(deps, fix.id, { event: 'live', actor: 'supervisor', reason: 'the new release is live; observing' });
}

async function observe(deps: PipelineDeps, fix: FixRecord): Promise<FixRecord> {
  if (fix.rollbackBranch)
    return rollbackFix(deps, fix.id, { actor: 'supervisor', reason: fix.reason ?? 'resumed rollback' });
  if (!deps.observe) {
    return move(deps, fix.id, { event: 'confirm', actor: 'timer', reason: 'no observation window configured' });
  }
  const verdict = await deps.observe(request(fix, 'fix', fix.mergeCommit as string, deps.signal));
  if (deps.signal?.aborted) return getFix(deps.db, fix.id);
  if (verdict.verdict === 'healthy') {
    return move(deps, fix.id, {
      event: 'confirm',
      actor: 'timer',
      reason: verdict.reason ?? 'the observation window closed with no rollback trigger',
    });
  }
  return rollbackFix(deps, fix.id, { actor: 'supervisor', reason: verdict.reason });
}

// --- retries and retention -----------------------------------------------------------------------

/**
 * Start a new attempt at a finished fix's pattern; the agent is told why the last attempt failed.
 */
export async function retryFix(
  deps: PipelineDeps,
  id: number,
  options: { actor?: Actor; reason?: string; onCreated?: (fixId: number) => void } = {},
): Promise<FixRecord> {
  const prev = getFix(deps.db, id);
  if (!isTerminal(prev.state)) {
    throw new DancerError('DANCER_USAGE', `Fix ${id} is ${prev.state}; only a finished fix can be retried`, {
      details: { id, state: prev.state },
    });
  }
  const trigger: FixTrigger = {
    patternId: prev.patternId,
    patternHash: prev.patternHash,
    patternText: prev.patternText ?? undefined,
    reason: `retry of fix ${id} (${prev.state}${prev.failedStep ? ` at ${prev.failedStep}` : ''})${options.reason ? `: ${options.reason}` : ''}`,
  };
  // Create first so the caller can link the request before the (long) run starts.
  const created = createFix(
    deps.db,
    {
      patternId: trigger.patternId,
      patternHash: trigger.patternHash,
      patternText: trigger.patternText,
      retryOf: id,
      actor: options.actor ?? 'supervisor',
      reason: trigger.reason as string,
    },
    now(deps),
  );
  options.onCreated?.(created.id);
  for (const older of listFixes(deps.db, { patternId: prev.patternId, states: OPEN_STATES })) {
    if (older.id !== created.id) {
      await move(deps, older.id, {
        event: 'supersede',
        actor: options.actor ?? 'supervisor',
        reason: `superseded by fix ${created.id}`,
      });
    }
  }
  return advanceFix(deps, created.id);
}

/** Start every pending retry request (recorded by `dancer fixes retry`). */
export async function processRetryRequests(deps: PipelineDeps): Promise<FixRecord[]> {
  const out: FixRecord[] = [];
  for (const req of pendingRetries(deps.db)) {
    if (deps.signal?.aborted) break;
    out.push(
      await retryFix(deps, req.fixId, {
        actor: humanActor(req.requestedBy),
        reason: req.reason,
        onCreated: (newId) => markRetryTaken(deps.db, req.id, now(deps), newId),
      }),
    );
  }
  return out;
}
