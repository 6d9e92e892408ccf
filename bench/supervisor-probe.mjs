/**
 * What the benches read from a running `dancer run`: RSS and CPU of a process from /proc, a
 * file's size, and the wait until the supervisor says it is running (over its control socket).
 */
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

/** Resident set of `pid` in bytes (0 once it is gone). */
export function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds `pid` has used (user + system; 0 once it is gone). */
export function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (100/s)
  } catch {
    return 0;
  }
}

/** Size of `file` in bytes (0 when it does not exist). */
export function sizeOf(file) {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * Poll `ask('status')` until the supervisor is running, it exits, or `timeoutMs` passes.
 * Returns the last status (check its `state`).
 */
export async function waitRunning(ask, supervisor, timeoutMs, everyMs = 100) {
  let status;
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await delay(everyMs)) {
    status = await ask('status').catch(() => undefined);
    if (status?.state === 'running') break;
    if (supervisor.exitCode !== null) break;
  }
  return status;
}
