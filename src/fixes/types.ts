/**
 * The contracts between the fix pipeline and the stages plugged into it: the agent (consult),
 * the deploy and the observation window (supervise). Plain data, no behaviour.
 */
import type { FixBriefLike, RepairLike } from '../consult/index.js';
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

/**
 * What the agent is told about the fix it works on: consult's {@link FixBriefLike} (the one
 * definition; consult lies below fixes, so the shape is declared there) and the pattern's hash.
 */
export interface FixBrief extends FixBriefLike {
  patternHash: string;
}

/** Why the gate sent the fix back, for a repair round (consult's {@link RepairLike}). */
export type RepairContext = RepairLike;

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
