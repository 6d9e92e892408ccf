/**
 * Run one shell command for the gate through the one process runner: in its own process group
 * (and, with a sandbox, in bubblewrap's pid namespace, which dies as a whole), with a timeout that
 * kills the whole tree, keeping only the tail of the combined output.
 */
import { runProcess } from '../process/index.js';
import type { RunPlan, Sandbox } from '../sandbox/index.js';

/** The result of {@link runStep}, whatever happened. */
export interface StepResult {
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** The last `tailBytes` of stdout and stderr, interleaved as they arrived. */
  outputTail: string;
}

/** Options for {@link runStep}. */
export interface RunStepOptions {
  cwd: string;
  timeoutMs: number;
  tailBytes: number;
  env?: Record<string, string | undefined> | undefined;
  /** Abort (emergency stop, shutdown) kills the tree like a timeout. */
  signal?: AbortSignal | undefined;
  /** Grace between SIGTERM and SIGKILL. Default 500 ms. */
  killGraceMs?: number;
  /** Run inside this sandbox (the gate always passes one; see src/sandbox). */
  sandbox?: Sandbox | undefined;
  /** What the sandboxed run may see and write besides `cwd` (default: `cwd` writable). */
  plan?: Omit<RunPlan, 'cwd'> | undefined;
}

/**
 * Run `command` through `/bin/sh -c` in `options.cwd`. Never throws for a failing command: the
 * result says what happened. A command that cannot be spawned is a failed result too.
 */
export async function runStep(command: string, options: RunStepOptions): Promise<StepResult> {
  let file = '/bin/sh';
  let args = ['-c', command];
  let env: Record<string, string | undefined> = { ...process.env, ...options.env, CI: process.env.CI ?? '1' };
  if (options.sandbox) {
    const plan: RunPlan = { writable: [options.cwd], ...options.plan, cwd: options.cwd };
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) extra[k] = v;
    const wrapped = options.sandbox.command([file, ...args], { ...plan, env: { ...plan.env, ...extra } });
    file = wrapped.file;
    args = wrapped.args;
    env = wrapped.env;
  }
  const r = await runProcess(file, args, {
    cwd: options.cwd,
    env,
    timeoutMs: options.timeoutMs,
    tailBytes: options.tailBytes,
    signal: options.signal,
    killGraceMs: options.killGraceMs ?? 500,
    maxBuffer: 0,
  });
  return {
    ok: r.ok,
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    durationMs: r.durationMs,
    outputTail: r.outputTail,
  };
}

/** Quote `s` for /bin/sh. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
