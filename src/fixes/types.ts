/**
 * The contracts between the fix pipeline and the stages plugged into it: the agent (consult),
 * the deploy and the observation window (supervise). Plain data, no behaviour.
 */
import type { AgentBrief, AgentRepair, FixAgentOutcome } from '../consult/index.js';

/** How a consultation ended, as the pipeline records it (the agent's contract, declared in consult). */
export type AgentOutcome = FixAgentOutcome;

/** What the agent is told about the fix it works on: the agent's brief and the pattern's hash. */
export interface FixBrief extends AgentBrief {
  patternHash: string;
}

/** Why the gate sent the fix back, for a repair round. */
export type RepairContext = AgentRepair;

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
  /** The fix branch the commit merged (a fleet pushes it with the merge). */
  branch?: string | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * What a deploy did: live, or not (the pipeline then rolls the merge back in git). `commit`: the
 * fix went live as another merge commit than the one asked for (a fleet re-merged it onto a main
 * that moved, and the main branch here points at it now); the pipeline records it as the fix's merge.
 */
export type DeployResult = { ok: true; commit?: string | undefined } | { ok: false; reason: string };

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
