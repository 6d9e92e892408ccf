import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { DancerError } from '../errors.js';
import { inheritedEnv } from './child-env.js';
import type { HeldSocket } from './sockets.js';

/** How a worker ended. One shape, whatever happened. */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ms since epoch. */
  at: number;
  /** True when the supervisor asked it to stop (drain, shutdown, failed readiness). */
  requested: boolean;
}

/** What to start. */
export interface WorkerSpec {
  /** Release the worker runs (commit or `worktree`). */
  release: string;
  /** Shell command (`service.start`). */
  command: string;
  cwd: string;
  /** Extra environment on top of the supervisor's (service.env, DANCER_* ...). */
  env: Record<string, string>;
  /** Sockets passed as fds 3.. with LISTEN_FDS (socket mode). Empty in port mode. */
  sockets: readonly HeldSocket[];
  /** Port mode: the port passed as PORT. */
  port?: number | undefined;
  /** Path of a NOTIFY_SOCKET for this worker, when readiness.notify is on. */
  notifySocket?: string | undefined;
  /** Variables of the supervisor's environment the worker does not inherit (Dancer's secrets). */
  withholdEnv?: readonly string[] | undefined;
  /**
   * Keep serving when the supervisor dies (its sockets were inherited, so they outlive it): no
   * parent-death signal, and the output goes through a relay that survives the supervisor's end
   * of the pipe (see {@link outputRelay}), so the worker never writes into a broken pipe.
   */
  outliveSupervisor?: boolean | undefined;
}

/** A running worker process (the leader of its own process group). */
export interface Worker {
  readonly pid: number;
  /** Process group id (= pid: workers are started with setsid). */
  readonly pgid: number;
  readonly release: string;
  readonly startedAt: number;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves when the worker's main process has exited (and its group was cleaned up). */
  readonly exited: Promise<WorkerExit>;
  /** Set once exited. */
  exit: WorkerExit | undefined;
  /** Signal the whole process group. Returns false when it is gone. */
  signal(signal: NodeJS.Signals): boolean;
  /** SIGTERM the group, SIGKILL it after `drainMs`; resolves on exit. */
  stop(drainMs: number): Promise<WorkerExit>;
  /** SIGKILL the group now; resolves on exit. */
  kill(): Promise<WorkerExit>;
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

let teeRelay: boolean | undefined;
/** True when GNU `tee -p` (keeps going when its stdout pipe breaks) is available. */
function hasTeeRelay(): boolean {
  teeRelay ??= spawnSync('tee', ['-p', '/dev/null'], { input: '', stdio: ['pipe', 'ignore', 'ignore'] }).status === 0;
  return teeRelay;
}

/**
 * A relay between a worker's stdout or stderr and the supervisor: `tee -p /dev/null` in its own
 * session. While the supervisor reads, lines pass through; once it is gone (killed -9) the relay
 * writes to /dev/null only, so the worker's writes never meet EPIPE (which kills a Go service
 * with SIGPIPE and a Node one with an unhandled 'error'). It exits when the worker's group has
 * closed the pipe. Undefined when GNU tee is missing (the worker then writes to the pipe itself).
 */
export function outputRelay(cwd: string): ChildProcess | undefined {
  if (!hasTeeRelay()) return undefined;
  const relay = spawn('tee', ['-p', '/dev/null'], { cwd, detached: true, stdio: ['pipe', 'pipe', 'ignore'] });
  relay.on('error', () => {});
  return relay.pid === undefined ? undefined : relay;
}

/** Shell script that sets LISTEN_PID to the service's own pid (via `exec` when the command is simple). */
export function startScript(command: string, withListenPid: boolean): string {
  const simple = !/[;&|`\n()<>]|\$\(/.test(command) && !/^\s*[A-Za-z_][A-Za-z0-9_]*=/.test(command);
  const body = simple && !/^\s*exec\s/.test(command) ? `exec ${command}` : command;
  return withListenPid ? `LISTEN_PID=$$; export LISTEN_PID; ${body}` : body;
}

/**
 * Start a worker: `/bin/sh -c` the command in its own session and process group, with the held
 * sockets as fds 3.. (systemd convention: LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES). When
 * util-linux `setpriv` exists the worker gets a parent-death signal (SIGTERM), so a supervisor
 * killed with -9 leaves no orphan behind, unless `outliveSupervisor` (inherited sockets): then
 * it keeps serving until a restarted supervisor adopts and drains it.
 *
 * @throws {DancerError} `DANCER_SPAWN_FAILED` when the process cannot be created.
 */
export function startWorker(spec: WorkerSpec): Worker {
  const env: NodeJS.ProcessEnv = { ...inheritedEnv(spec.withholdEnv), ...spec.env };
  for (const key of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) {
    delete env[key];
  }
  const withSockets = spec.sockets.length > 0;
  if (withSockets) {
    env.LISTEN_FDS = String(spec.sockets.length);
    env.LISTEN_FDNAMES = spec.sockets.map((s) => s.name).join(':');
    env.PORT = String(spec.sockets[0]?.port);
  } else if (spec.port !== undefined) {
    env.PORT = String(spec.port);
  }
  if (spec.notifySocket) env.NOTIFY_SOCKET = spec.notifySocket;
  env.DANCER_RELEASE = spec.release;

  const script = startScript(spec.command, withSockets);
  const pdeath = SETPRIV && !spec.outliveSupervisor;
  const argv = pdeath ? [SETPRIV, '--pdeathsig', 'TERM', '--', '/bin/sh', '-c', script] : ['/bin/sh', '-c', script];
  const relays = spec.outliveSupervisor ? [outputRelay(spec.cwd), outputRelay(spec.cwd)] : [];
  let child: ChildProcess;
  try {
    child = spawn(argv[0] as string, argv.slice(1), {
      cwd: spec.cwd,
      env,
      detached: true,
      stdio: ['ignore', relays[0]?.stdin ?? 'pipe', relays[1]?.stdin ?? 'pipe', ...spec.sockets.map((s) => s.fd)],
    });
  } catch (error) {
    for (const r of relays) r?.kill('SIGKILL');
    throw new DancerError('DANCER_SPAWN_FAILED', `Cannot start "${spec.command}": ${(error as Error).message}`, {
      cause: error,
      details: { command: spec.command, cwd: spec.cwd },
    });
  }
  // Errors after a successful spawn are reported through 'exit'; a failed spawn (missing cwd,
  // no /bin/sh) has no pid and is thrown below. Either way the event must not go unhandled.
  child.on('error', () => {});
  // Only the worker holds the relays' write ends: they end when its group has exited.
  for (const r of relays) r?.stdin?.destroy();
  if (child.pid === undefined) {
    // spawn failed asynchronously (ENOENT cwd, ...): surface it as a thrown error now.
    throw new DancerError('DANCER_SPAWN_FAILED', `Cannot start "${spec.command}" in ${spec.cwd}`, {
      details: { command: spec.command, cwd: spec.cwd },
    });
  }
  const pid = child.pid;
  let requested = false;
  let resolveExit!: (e: WorkerExit) => void;
  const exited = new Promise<WorkerExit>((resolve) => {
    resolveExit = resolve;
  });
  const signalGroup = (signal: NodeJS.Signals): boolean => {
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      return false;
    }
  };
  const worker: Worker = {
    pid,
    pgid: pid,
    release: spec.release,
    startedAt: Date.now(),
    stdout: (relays[0]?.stdout ?? child.stdout) as Readable,
    stderr: (relays[1]?.stdout ?? child.stderr) as Readable,
    exited,
    exit: undefined,
    signal: signalGroup,
    stop(drainMs) {
      if (worker.exit) return exited;
      requested = true;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), drainMs);
      return exited.finally(() => clearTimeout(timer));
    },
    kill() {
      if (worker.exit) return exited;
      requested = true;
      signalGroup('SIGKILL');
      return exited;
    },
  };
  child.on('exit', (code, signal) => {
    // Whatever the main process left behind in its group goes with it.
    signalGroup('SIGKILL');
    worker.exit = { code, signal, at: Date.now(), requested };
    resolveExit(worker.exit);
  });
  return worker;
}
