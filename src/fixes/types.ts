/**
 * The contracts between the fix pipeline and the stages plugged into it: the agent (consult),
 * the deploy and the observation window (supervise). Plain data, no behaviour.
 */
import type { Risk } from './policy.js';

/** How a consultation ended, as the pipeline needs it (a superset of consult's outcome). */
export interface AgentOutcome {
  kind: 'fix' | 'ignore' | 'escalate' | 'improve_logging';
  summary?: string | undefined;
  analysis?: string | undefined;
  rootCause?: string | undefined;
  filesChanged?: string[] | undefined;
  /** Repository-relative path of the test that fails before the fix and passes after it. */
  regressionTest?: string | undefined;
  risk?: Risk | undefined;
  confidence?: number | undefined;
  /** What this agent run cost. */
  costUsd?: number | undefined;
  consultationId?: string | undefined;
  /** ignore / escalate: why. */
  why?: string | undefined;
  /** escalate: where a human should look. */
  where?: string | undefined;
  /** improve_logging: what was missing. */
  missing?: string | undefined;
}

/** What the agent is told about the fix it works on. */
export interface FixBrief {
  fixId: number;
  patternId: string;
  patternHash: string;
  patternText?: string | undefined;
  consultationId?: string | undefined;
  /** The policy in force, in words, so the agent does not waste a round on it. */
  policySummary: string;
  /** Set on a retry: what happened to the previous attempt. */
  previousAttempt?:
    | {
        fixId: number;
        state: string;
        failedStep?: string | undefined;
        reason: string;
        retryReason?: string | undefined;
      }
    | undefined;
  /** Every earlier attempt at the pattern: its change (diff summary) and why it ended (rolled back because...). */
  earlierAttempts?:
    | Array<{
        fixId: number;
        state: string;
        summary?: string | undefined;
        diffSummary?: string | undefined;
        why?: string | undefined;
      }>
    | undefined;
  /** Set when a run was interrupted (a restart) and this is a second try in the same worktree. */
  resumed?: boolean | undefined;
}

/** Why the gate sent the fix back, for a repair round. */
export interface RepairContext {
  /** 1 for the first repair round. */
  round: number;
  failedStep: string;
  reason: string;
  outputTail: string;
}

/**
 * Run the agent in `worktreePath` (the fix worktree, on the fix branch) and return its outcome.
 * The agent edits files there; the pipeline commits them.
 */
export type RunAgent = (worktreePath: string, brief: FixBrief, repair?: RepairContext) => Promise<AgentOutcome>;

/** A deploy the supervisor should make. */
export interface DeployRequest {
  kind: 'fix' | 'rollback';
  fixId: number;
  /** The commit on the main branch to deploy (a merge commit). */
  commit: string;
  patternId: string;
  signal?: AbortSignal | undefined;
}

/** What a deploy did: live, or not (the pipeline then rolls the merge back in git). */
export type DeployResult = { ok: true } | { ok: false; reason: string };

/** Deploy `commit` (build a release, hand the sockets over). Resolves once it is live or has failed. */
export type DeployFn = (request: DeployRequest) => Promise<DeployResult>;

/** The verdict of the observation window after a deploy. */
export type ObserveResult =
  | { verdict: 'healthy'; reason?: string | undefined }
  | { verdict: 'rollback'; reason: string };

/** Watch the deployed fix for the observation window and say whether it stays. */
export type ObserveFn = (request: DeployRequest) => Promise<ObserveResult>;

/** What starts a fix: a pattern trigger (from the detector) or a retry. */
export interface FixTrigger {
  patternId: string;
  /** Stable hash of the pattern; its first 8 characters go into the branch name. */
  patternHash: string;
  patternText?: string | undefined;
  consultationId?: string | undefined;
  /** Why the detector fired, for the creation event. */
  reason?: string | undefined;
}
