/**
 * The fix pipeline's public face: what other stages (supervise, notify, dashboard, the CLI and
 * the demo) import. Worktrees and branches, the gate, the policy, the persisted state machine,
 * merge and revert, the changelog.
 */

export {
  type Attempt,
  type AttemptDecision,
  type AttemptLimits,
  addHold,
  attemptsFor,
  decideAttempt,
  type EarlierAttempt,
  earlierAttempts,
  holdsFor,
  isEscalated,
  type PatternHolds,
  reopenPattern,
} from './attempts.js';
export {
  buildChangelog,
  type ChangelogItem,
  collectChangelog,
  renderChangelog,
} from './changelog.js';
export { consultPolicy } from './consult-policy.js';
export { type DiffFile, type ParsedDiff, parseDiff } from './diff.js';
export { findRegressionTests, type GateOutcome, type GateStepOutcome, runGate } from './gate.js';
export { authorEnv, type GitIdentity, git, gitOut } from './git.js';
export { type FixTrailers, fixTrailersFrom, formatCommitMessage, parseTrailerLines } from './message.js';
export { beforeTagName, defaultWorktreeBase, fixBranchName, rollbackBranchName } from './names.js';
export {
  advanceFix,
  approveFix,
  mergeMessage,
  type PipelineDeps,
  policySummary,
  processRetryRequests,
  pruneRetained,
  type RollbackOptions,
  rejectFix,
  resumePipeline,
  retryFix,
  rollbackFix,
  startFix,
} from './pipeline.js';
export {
  checkPolicy,
  DEFAULT_PROTECTED_PATHS,
  formatViolations,
  type PolicyResult,
  type PolicyViolation,
  type Risk,
} from './policy.js';
export { startPushRemote } from './push-remote.js';
export {
  type FixEventRow,
  type FixSearch,
  fixEventsAfter,
  fixesCreatedBetween,
  fixesEnteringState,
  fixHistoryRows,
  fixOfCommitPrefix,
  type GateStepRow,
  gateStepsAfter,
  lastFixEvent,
  lastFixEventId,
  type StoredFixRow,
  storedFixRow,
  storedFixRows,
} from './reads.js';
export { gateCombinedTree } from './recheck.js';
export {
  type FixEventRecord,
  type FixRecord,
  fixCountsByState,
  fixEvents,
  type GateStepRecord,
  gateSteps,
  getFix,
  inFlightFixRows,
  listFixes,
  pendingRetries,
  type RetryRequest,
  requestRetry,
  type Transition,
} from './records.js';
export { diffBetween, fileAt } from './repo.js';
export {
  type RevertDeployOptions,
  type RevertDeployResult,
  ROLLBACK_DEPLOY_TRAILER,
  revertDeploy,
} from './revert-deploy.js';
export {
  type Actor,
  FIX_EVENTS,
  FIX_STATES,
  type FixEvent,
  type FixState,
  IN_FLIGHT_STATES,
  isFixState,
  isTerminal,
  nextState,
  ROLLBACK_STATES,
  TERMINAL_STATES,
  TRANSITIONS,
  transition,
} from './state.js';
export type {
  AgentOutcome,
  DeployFn,
  DeployRequest,
  DeployResult,
  FixBrief,
  FixTrigger,
  ObserveFn,
  ObserveResult,
  RepairContext,
  RunAgent,
} from './types.js';
export { resolveWorktreeBase } from './worktree-base.js';
