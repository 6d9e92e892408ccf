import { CLK_TCK, countFds, groupMembers, PAGE_SIZE, readStat } from './proc.js';

/** One sample of a process tree (summed over its members). */
export interface TreeSample {
  ts: number;
  pids: number[];
  /** CPU since the previous sample, percent of one core (undefined on the first sample). */
  cpuPercent: number | undefined;
  rssBytes: number;
  fds: number;
  threads: number;
}

/**
 * Samples the CPU, RSS, open fds and threads of a process group (a worker tree) or a single
 * process (the supervisor) from /proc. Keeps the previous CPU reading to turn ticks into percent.
 */
export class TreeSampler {
  private lastTicks: number | undefined;
  private lastTs: number | undefined;

  constructor(private readonly target: { pgid: number } | { pid: number }) {}

  /** Take one sample; undefined when the process (group) is gone. */
  sample(now = Date.now()): TreeSample | undefined {
    const members =
      'pgid' in this.target
        ? groupMembers(this.target.pgid)
        : [readStat(this.target.pid)].filter((s) => s !== undefined);
    if (members.length === 0) return undefined;
    let ticks = 0;
    let rssPages = 0;
    let fds = 0;
    let threads = 0;
    for (const m of members) {
      ticks += m.cpuTicks;
      rssPages += m.rssPages;
      threads += m.threads;
      fds += countFds(m.pid);
    }
    let cpuPercent: number | undefined;
    if (this.lastTicks !== undefined && this.lastTs !== undefined && now > this.lastTs) {
      cpuPercent = Math.max(0, (((ticks - this.lastTicks) / CLK_TCK) * 1000 * 100) / (now - this.lastTs));
    }
    this.lastTicks = ticks;
    this.lastTs = now;
    return { ts: now, pids: members.map((m) => m.pid), cpuPercent, rssBytes: rssPages * PAGE_SIZE, fds, threads };
  }
}
