/**
 * The one process runner: every child Dancer starts for git, the gate, release builds and tool
 * commands goes through {@link runProcess}. It runs in its own process group, a timeout or an
 * abort kills the whole group (SIGTERM, then SIGKILL), whatever the command left in its group is
 * killed when it ends, and every outcome comes back in one {@link ProcessResult} (it never throws).
 */
import { spawn } from 'node:child_process';

/** The one result shape, whatever happened. */
export interface ProcessResult {
  /** Exit 0, no timeout, no abort, no spawn error. */
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  /** All of stdout (up to `maxBuffer`). */
  stdout: string;
  /** All of stderr (up to `maxBuffer`). */
  stderr: string;
  /** The last `tailBytes` of stdout and stderr, interleaved as they arrived, plus Dancer's notes. */
  outputTail: string;
  /** Why the process could not start, when it could not. */
  spawnError: string | null;
}

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  cwd: string;
  /** The whole environment of the child (nothing is inherited that is not here). */
  env: Record<string, string | undefined>;
  /** Text for stdin (stdin is closed when absent). */
  input?: string | undefined;
  /** Kill the group after this long. Default: no limit. */
  timeoutMs?: number | undefined;
  /** Abort (emergency stop, shutdown) kills the group like a timeout. */
  signal?: AbortSignal | undefined;
  /** Grace between SIGTERM and SIGKILL. Default 500 ms. */
  killGraceMs?: number | undefined;
  /** Bytes of combined output kept in `outputTail`. Default 8192. */
  tailBytes?: number | undefined;
  /** Most bytes kept of stdout and of stderr each. Default 256 MiB. */
  maxBuffer?: number | undefined;
  /** Every chunk of stdout and stderr as it arrives (progress of a long build). */
  onOutput?: ((chunk: Buffer) => void) | undefined;
}

/** Signal every process of group `pgid`; a group already gone is fine. */
export function killGroup(pgid: number | undefined, sig: NodeJS.Signals): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, sig);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - (this.chunks[0]?.length ?? 0) >= this.max) {
      this.size -= (this.chunks.shift() as Buffer).length;
    }
  }
  text(): string {
    const t = Buffer.concat(this.chunks).toString('utf8');
    return Buffer.byteLength(t) > this.max ? t.slice(t.length - this.max) : t;
  }
}

class Collect {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    if (this.size >= this.max) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).subarray(0, this.max).toString('utf8');
  }
}

/** Run `file` with `args` (no shell). See the module comment. */
export function runProcess(file: string, args: readonly string[], options: RunProcessOptions): Promise<ProcessResult> {
  const started = performance.now();
  const tail = new Tail(options.tailBytes ?? 8192);
  const out = new Collect(options.maxBuffer ?? 256 * 1024 * 1024);
  const err = new Collect(options.maxBuffer ?? 256 * 1024 * 1024);
  return new Promise((resolve) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.env)) if (v !== undefined) env[k] = v;
    const child = spawn(file, [...args], {
      cwd: options.cwd,
      env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      killGroup(child.pid, 'SIGTERM');
      killTimer ??= setTimeout(() => killGroup(child.pid, 'SIGKILL'), options.killGraceMs ?? 500);
      killTimer.unref();
    };
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            stop();
          }, options.timeoutMs)
        : undefined;
    const onAbort = () => {
      aborted = true;
      stop();
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout?.on('data', (c: Buffer) => {
      tail.push(c);
      out.push(c);
      options.onOutput?.(c);
    });
    child.stderr?.on('data', (c: Buffer) => {
      tail.push(c);
      err.push(c);
      options.onOutput?.(c);
    });
    if (options.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {
        // EPIPE: the child did not read its input; its exit status tells what happened.
      });
      child.stdin.end(options.input);
    }
    let spawnError: string | null = null;
    child.on('error', (error) => {
      spawnError = error.message;
    });
    // The command itself ended: what it left running in its group (holding our pipes open, so
    // 'close' would wait for it) goes now.
    child.on('exit', () => killGroup(child.pid, 'SIGKILL'));
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      // Whatever the command left behind in its group (a daemon, a watcher) goes with it.
      killGroup(child.pid, 'SIGKILL');
      let text = tail.text();
      if (spawnError) text += `\n[dancer] could not run: ${spawnError}`;
      if (timedOut) text += `\n[dancer] timed out after ${options.timeoutMs} ms; process tree killed`;
      if (aborted) text += '\n[dancer] aborted; process tree killed';
      resolve({
        ok: code === 0 && !timedOut && !aborted && !spawnError,
        exitCode: code,
        signal: signal ?? null,
        timedOut,
        aborted,
        durationMs: performance.now() - started,
        stdout: out.text(),
        stderr: err.text(),
        outputTail: text,
        spawnError,
      });
    });
  });
}
