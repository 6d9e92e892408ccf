/**
 * The fleet's public face: many hosts, one PostgreSQL control plane (only with a `fleet:`
 * section in dancer.yaml). See docs/fleet.md.
 */

export { type FleetAgent, type FleetAgentOptions, startFleetAgent } from './agent.js';
export {
  type FleetPool,
  fleetHostName,
  fleetUrl,
  migrateFleet,
  openFleetPool,
  type Queryable,
  toFleetError,
} from './connect.js';
export { createRemoteCounts, type RemoteCountsCache } from './counts.js';
export { type FixOrigin, fleetFixRef, lastFixInfo, resolveFleetFixRef, withFleetFixRefs } from './fix-refs.js';
export { createFleetGate, type FleetGateDecision, type FleetGateOptions, type FleetTriggerInput } from './gate.js';
export {
  fleetFixServedBy,
  humanFleetRollback,
  humanFleetStop,
  type RoutedFixCommand,
  routeFixCommand,
} from './human.js';
export { LEADER_LOCK, type LeaderElection, type LeaderOptions, startLeaderElection } from './leader.js';
export {
  type AcquireResult,
  acquireLease,
  type Lease,
  type LeaseStage,
  orphanedLeases,
  releaseLease,
  renewLeases,
  saveLease,
} from './leases.js';
export { enqueueFleetEvent, type OutboxEvent, pendingFleetEvents } from './local.js';
export { FLEET_MIGRATIONS, type FleetMigration } from './migrations.js';
export {
  type CountRow,
  type FleetHost,
  type FleetPatternRow,
  type FleetStop,
  fleetCooldownUntil,
  fleetCounts,
  fleetPatterns,
  fleetSpentSince,
  fleetStop,
  fleetTemplateIds,
  heartbeatHost,
  listHosts,
  liveHosts,
  recordAudit,
  recordDecision,
  setFleetStop,
  shipCounts,
  type TemplateKey,
} from './queries.js';
export {
  claimDeploy,
  createRollout,
  type FleetFix,
  getFleetFix,
  listFleetFixes,
  pendingFixesFor,
  recordFixEvent,
  reportDeploy,
  rollbackFleetFix,
} from './rollout.js';
export {
  type ClaimedPattern,
  createFleetPipeline,
  type FleetPipeline,
  type FleetPipelineOptions,
  type PipelineDeployFunctions,
  type PipelineDeployRequest,
  type PipelineFix,
} from './rollout-handoff.js';
export {
  type HostDeployer,
  type RolloutWorker,
  type RolloutWorkerOptions,
  type SupervisorDeployerOptions,
  startRolloutWorker,
  supervisorDeployer,
} from './rollout-worker.js';
export { type FleetService, type FleetServiceOptions, startFleetService } from './service.js';
export {
  FLEET_CHANNEL,
  type FleetListener,
  type FleetListenerOptions,
  type FleetSignal,
  listenFleet,
  type ReceivedSignal,
  sendFleetSignal,
} from './signals.js';
export { type FleetStatus, readFleetStatus, renderFleetStatus } from './status.js';
export { mirrorStop, setFleetWideStop, syncStop } from './stop.js';
export {
  insertVoice,
  publishVoice,
  startVoiceRelay,
  type VoiceChannel,
  type VoiceEvent,
  type VoiceRelay,
  type VoiceRelayOptions,
} from './voice.js';
export { type HostDeployState, nextRolloutStep, planWaves, type RolloutStep } from './waves.js';
