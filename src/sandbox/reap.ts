/**
 * Killing sandboxes Dancer did not start itself: the agent's Bash commands are started by Claude
 * Code, in process groups Dancer does not own. Each carries a run tag in its bubblewrap command
 * line; killing the bubblewrap processes with that tag ends their pid namespaces as a whole.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The variable that tags a sandboxed run (set inside the sandbox too; it is not a secret). */
export const RUN_TAG_ENV = 'DANCER_SANDBOX_RUN';

/** Pids whose command line carries `--setenv DANCER_SANDBOX_RUN <tag>` (the bubblewrap processes). */
export function taggedSandboxes(tag: string): number[] {
  const needle = `\0--setenv\0${RUN_TAG_ENV}\0${tag}\0`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(needle)) out.push(Number(entry));
    } catch {
      // The process ended, or is not ours to read.
    }
  }
  return out;
}

/** SIGKILL every sandbox tagged `tag`; returns how many processes were signalled. */
export function killTagged(tag: string): number {
  let n = 0;
  for (const pid of taggedSandboxes(tag)) {
    try {
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      // Already gone.
    }
  }
  return n;
}
