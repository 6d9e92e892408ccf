/**
 * The sandbox for everything the model wrote or chose (gate steps, the agent's Bash commands,
 * tool processes): bubblewrap with a read-only system, the worktree writable, Dancer's own files
 * hidden, no network, an unprivileged uid when Dancer is root, a scrubbed environment and
 * resource limits. See docs/security.md.
 */

export { type AgentJail, type AgentProcess, agentBwrapArgv, jailAgent } from './agent.js';
export { bwrapArgv, type MountPlan, type SandboxLimits, type SandboxUser } from './bwrap.js';
export { type Containment, containmentLine, describeContainment } from './describe.js';
export {
  EGRESS_PORT,
  type Egress,
  type EgressPlan,
  egressPlan,
  parseConnect,
  startEgress,
  upstreamProxy,
} from './egress.js';
export { killTagged, RUN_TAG_ENV, taggedSandboxes } from './reap.js';
export {
  type ResolveSandboxInput,
  type RunPlan,
  resolveSandbox,
  type Sandbox,
  type SandboxHost,
  sandboxEnv,
  shellWords,
  type WrappedCommand,
  which,
} from './sandbox.js';
export { chownTree, findUser, lendTrees, reclaimTree, resolveUser } from './user.js';
