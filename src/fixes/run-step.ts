/**
 * Run one shell command for the gate: in its own process group, with a timeout that kills the
 * whole tree (SIGTERM, then SIGKILL), keeping only the tail of the combined output.
 */
import { spawn } from 'node:child_process';

/** The one result shape of {@link runStep}, whatever happened. */
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
  /** Grace between SIGTERM and SIGKILL. Default 2000 ms. */
  killGraceMs?: number;
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // The group is already gone: nothing left to kill.
  }
}

/**
 * Run `command` through `/bin/sh -c` in `options.cwd`. Never throws for a failing command: the
 * result says what happened. A command that cannot be spawned is a failed result too.
 */
export function runStep(command: string, options: RunStepOptions): Promise<StepResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const keep = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      while (size - (chunks[0]?.length ?? 0) >= options.tailBytes && chunks.length > 1) {
        size -= (chunks.shift() as Buffer).length;
      }
    };
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env, CI: process.env.CI ?? '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), options.killGraceMs ?? 2000);
      killTimer.unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    const onAbort = () => {
      aborted = true;
      stop();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      // Whatever the command left behind in its group (a daemon, a watcher) goes with it.
      killGroup(child.pid, 'SIGKILL');
      let text = Buffer.concat(chunks).toString('utf8');
      if (Buffer.byteLength(text) > options.tailBytes) text = text.slice(text.length - options.tailBytes);
      if (spawnError) text += `\n[dancer] could not run: ${spawnError.message}`;
      if (timedOut) text += `\n[dancer] timed out after ${options.timeoutMs} ms; process tree killed`;
      if (aborted) text += '\n[dancer] aborted; process tree killed';
      resolve({
        ok: code === 0 && !timedOut && !aborted && !spawnError,
        exitCode: code,
        signal: signal ?? null,
        timedOut,
        durationMs: performance.now() - started,
        outputTail: text,
      });
    });
  });
}

/** Quote `s` for /bin/sh. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
