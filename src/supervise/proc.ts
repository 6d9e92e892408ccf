import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Fields of /proc/<pid>/stat that Dancer uses. */
export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  /** User + system CPU time in clock ticks. */
  cpuTicks: number;
  threads: number;
  /** Start time in clock ticks since boot (identifies a process across pid reuse). */
  startTicks: number;
  rssPages: number;
}

/** Clock ticks per second (USER_HZ); 100 on every Linux Dancer targets. */
export const CLK_TCK = 100;
/** Page size in bytes. */
export const PAGE_SIZE = 4096;

/** Parse /proc/<pid>/stat; undefined when the process is gone. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseStat(text);
}

/** Parse the text of a /proc/<pid>/stat file (the command name may hold spaces and parens). */
export function parseStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const f = text
    .slice(close + 2)
    .trim()
    .split(' ');
  // f[0] is field 3 (state).
  const n = (i: number) => Number(f[i - 3]);
  return {
    pid,
    state: f[0] ?? '?',
    ppid: n(4),
    pgrp: n(5),
    cpuTicks: n(14) + n(15),
    threads: n(20),
    startTicks: n(22),
    rssPages: n(24),
  };
}

/** Every live pid on the system. */
export function allPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0) out.push(pid);
  }
  return out;
}

/** Live (non-zombie) members of process group `pgid`. */
export function groupMembers(pgid: number): ProcStat[] {
  const out: ProcStat[] = [];
  for (const pid of allPids()) {
    const st = readStat(pid);
    if (st && st.pgrp === pgid && st.state !== 'Z') out.push(st);
  }
  return out;
}

/** True when a non-zombie process with this pid exists. */
export function isAlive(pid: number): boolean {
  const st = readStat(pid);
  return st !== undefined && st.state !== 'Z';
}

/** Number of open fds of a process (0 when gone or not readable). */
export function countFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Socket inodes a process holds open. */
export function socketInodes(pid: number): Set<number> {
  const out = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(Number(m[1]));
    } catch {
      // fd closed meanwhile
    }
  }
  return out;
}

/**
 * The inode of the TCP socket whose local port is `localPort` and remote port `remotePort`
 * (from /proc/net/tcp and tcp6); 0 while it sits unaccepted in a backlog, undefined if absent.
 */
export function tcpInode(localPort: number, remotePort: number): number | undefined {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const lp = Number.parseInt(cols[1]?.split(':')[1] ?? '', 16);
      const rp = Number.parseInt(cols[2]?.split(':')[1] ?? '', 16);
      if (lp === localPort && rp === remotePort) return Number(cols[9]);
    }
  }
  return undefined;
}
