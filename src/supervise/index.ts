/**
 * The supervise stage: `dancer run`'s supervisor (workers on held sockets, crash restarts,
 * zero-downtime handoff, releases, the observation window and rollback, /proc metrics,
 * Prometheus, the control socket, systemd). Other stages import from here only. The app-side
 * helper is `dancer/listen` (./listen.ts), a separate entry.
 */
export { type Clock, REAL_TIMERS, type Timers } from './clock.js';
export { type ControlRequest, type ControlResponse, controlRequest, startControlServer } from './control.js';
export { clearEmergencyStop, emergencyStop, refuseWhileStopped, setEmergencyStop } from './emergency.js';
export { fixDeployFunctions } from './fix-deploy.js';
export { createNotifyReceiver, parseNotify, sdNotify } from './notify.js';
export { nextObservationStep, type ObservationInput, type ObservationStep } from './observation.js';
export { newErrorPatterns, periodStats } from './observe.js';
export { type ServiceConfig, type SupervisorPaths, serviceOf, supervisorPaths } from './paths.js';
export {
  allDeploys,
  deploysOfFixOrReleases,
  fixDeployedTo,
  fixDeployVerdicts,
  fixOfDeploy,
  fixOfReleasePrefix,
  latestDeploys,
  latestServiceName,
  type MetricBucket,
  type MetricSample,
  type MetricSummary,
  metricBuckets,
  metricSummaries,
  recentDeploys,
  recentReleases,
  workerMetricsSince,
} from './reads.js';
export { isRolledBackRelease, ReleaseQuality, releasesThatLogged } from './release-quality.js';
export { buildRelease, resolveCommit, resolveRelease, WORKTREE_RELEASE } from './releases.js';
export {
  decideRestart,
  NO_RESTARTS,
  type RestartDecision,
  type RestartHistory,
  type RestartPolicy,
} from './restart-policy.js';
export { bindSockets, type HeldSocket } from './sockets.js';
export {
  type DeployRow,
  type DeployStatus,
  EMERGENCY_STOP_FLAG,
  type ReleaseRow,
  SuperviseStore,
  type SupervisorStateRow,
} from './state-store.js';
export {
  type Alert,
  type CrashEvent,
  type DeployOptions,
  type DeployOutcome,
  type RollbackOutcome,
  type StatusReport,
  Supervisor,
  type SupervisorHooks,
  type SupervisorOptions,
  statusFromStore,
} from './supervisor.js';
export { canSocketActivate, socketUnitName, systemdSocketUnit, systemdUnit, type UnitOptions } from './systemd.js';
export {
  efficacyOf,
  judgeWindow,
  type NewPattern,
  type PeriodStats,
  p95,
  type Verdict,
  type VerdictInput,
  type VerdictThresholds,
} from './verdict.js';

import type { Supervisor } from './supervisor.js';

/**
 * Deploy `commit` through a running supervisor and wait for the observation verdict. The fix
 * pipeline uses {@link fixDeployFunctions}; this is the plain form.
 */
export function deploy(supervisor: Supervisor, commit: string, options: Parameters<Supervisor['deploy']>[1] = {}) {
  return supervisor.deploy(commit, options);
}

export { diagnoseWorkerExit, OutputTails } from './exit-diagnosis.js';
export { observedAnswers, proposeSmoke, smokeYaml } from './smoke-proposal.js';
