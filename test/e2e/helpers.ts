/** Shared helpers of the end-to-end tests: deadlines, and finding processes left under a temp dir. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A process seen under a directory. */
export interface StrayProcess {
  pid: number;
  cwd: string;
  cmdline: string;
}

/** Processes (other than this one) whose cwd or command line is under `dir`, from /proc. */
export function processesUnder(dir: string): StrayProcess[] {
  const found: StrayProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let cwd = '';
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue; // exited meanwhile
    }
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // not ours (permission) or exited
    }
    if (cmdline === '') continue; // zombie or kernel thread
    if (cwd === dir || cwd.startsWith(`${dir}/`) || cmdline.includes(dir)) found.push({ pid, cwd, cmdline });
  }
  return found;
}

/** Poll `check` until it returns a value other than undefined, or throw after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => T | undefined,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Wait until no process remains under `dir` (children of a stopped supervisor may take a moment
 * to exit); return what is still there at the deadline.
 */
export async function strayProcesses(dir: string, timeoutMs = 20_000): Promise<StrayProcess[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processesUnder(dir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** SIGKILL the given processes (only ones found under this test's own temp dir). */
export function killAll(stray: StrayProcess[]): void {
  for (const p of stray) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
