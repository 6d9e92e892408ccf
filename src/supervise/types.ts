/** The public shapes of the supervisor: hooks, options and the outcomes of its operations. */
import type { Db } from '../store/index.js';
import type { Clock, Timers } from './clock.js';
import type { ServiceConfig, SupervisorPaths } from './paths.js';
import type { RestartDecision } from './restart-policy.js';
import type { Verdict } from './verdict.js';
import type { Worker } from './worker.js';

/** A worker crash, handed to the triggers (with the last records, by the caller that has them). */
export interface CrashEvent {
  service: string;
  pid: number;
  release: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
  uptimeMs: number;
  decision: RestartDecision;
}

/** Something a human must hear about (the service failed, a window was inconclusive, ...). */
export interface Alert {
  kind: 'failed' | 'rolled_back' | 'inconclusive' | 'deploy_failed';
  message: string;
  details?: Record<string, unknown>;
}

/** Hooks the shell around the supervisor (capture, triggers, notifications) plugs in. */
export interface SupervisorHooks {
  /** Every chunk a worker writes (capture into the store, tee). */
  onOutput?(worker: Worker, stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /** A worker exited without being asked to. */
  onCrash?(event: CrashEvent): void;
  onAlert?(alert: Alert): void;
  /** Progress lines for a human (stderr). */
  onLog?(message: string): void;
  /** Flush buffered records to the store before the supervisor exits. */
  flush?(): Promise<void> | void;
}

/** Options of the `Supervisor`. */
export interface SupervisorOptions {
  service: ServiceConfig;
  paths: SupervisorPaths;
  db: Db;
  hooks?: SupervisorHooks;
  /** Serve the control socket (default true). */
  control?: boolean;
  /** Environment added to every worker (e.g. DANCER_CAPTURE_SOCKET). */
  workerEnv?: Record<string, string>;
  /** Variables of the supervisor's environment workers and builds do not inherit (Dancer's secrets). */
  withholdEnv?: readonly string[];
  /** The clock (default `Date.now`). */
  clock?: Clock;
  /** Timers (default Node's). */
  timers?: Timers;
}

/** Options of `Supervisor.deploy`. */
export interface DeployOptions {
  /** The fix being deployed, stored with the deploy. */
  fixId?: number | undefined;
  /** The pattern the fix targets: its rate before and after is the efficacy. */
  targetTemplateId?: number | undefined;
  actor?: string | undefined;
  reason?: string | undefined;
  /** Resolve once the new worker serves, without waiting for the window (default false). */
  noWait?: boolean | undefined;
}

/** The outcome of a deploy (after its observation window, unless `noWait`). */
export interface DeployOutcome {
  deployId: number;
  release: string;
  status: string;
  reasons: string[];
  verdict?: Verdict | undefined;
  rollbackDeployId?: number | undefined;
}

/** The outcome of a rollback. */
export interface RollbackOutcome {
  deployId: number;
  from: string | null;
  to: string;
  /** ms from the decision to the rolled-back release serving (ready). */
  readyMs: number;
  /** When the rollback was decided (ms since the epoch). */
  decidedAt: number;
  /** The deploy that was rolled back, when one put the bad release in service. */
  rolledBackDeployId?: number | undefined;
  /** The fix whose deploy was rolled back: its revert is recorded in git next. */
  fixId?: number | undefined;
  /** Who decided (`observer` for the observation window) and why. */
  actor: string;
  reason: string;
}

/** The supervisor's lifecycle states. */
export type SupervisorState = 'starting' | 'running' | 'backoff' | 'failed' | 'deploying' | 'stopping' | 'stopped';

/** A release id for humans: a commit or tree sha cut to 12 characters. */
export function shortRelease(release: string | null | undefined): string {
  if (!release) return '-';
  return /^[0-9a-f]{40,64}$/.test(release) ? release.slice(0, 12) : release;
}
