/**
 * Log shapes the Loghub dev set does not have, written for the miner's generalisation tests:
 * each generator returns lines with the group a person would put them in (the truth). Seeded, so
 * every run sees the same lines.
 */

export interface Labelled {
  line: string;
  group: string;
}

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const USERS = [
  'alice',
  'bob',
  'carol',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
  'ivan',
  'judy',
  'mallory',
  'oscar',
  'peggy',
  'trent',
  'victor',
  'walter',
  'deploy',
  'backup',
  'nagios',
  'postgres',
  'git',
  'admin',
  'guest',
  'test',
];
const SERVICES = [
  'nginx',
  'postgres',
  'redis',
  'cron',
  'sshd',
  'docker',
  'kubelet',
  'containerd',
  'chronyd',
  'rsyslog',
];
const PATHS = ['/api/users', '/api/orders', '/health', '/login', '/static/app.js', '/api/cart/items'];

/** Pick with a skew: the first items far more often than the last (like real traffic). */
function skewed<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(items.length * r() ** 3)] as T;
}
function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(items.length * r())] as T;
}
const ip = (r: () => number) => `10.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`;
const int = (r: () => number, n: number) => Math.floor(r() * n);

/** Combined-format HTTP access log: one template per request verb (the quoted request line). */
export function accessLog(r: () => number, n: number): Labelled[] {
  const verbs = ['GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'];
  const out: Labelled[] = [];
  for (let i = 0; i < n; i++) {
    const verb = pick(r, verbs);
    const ua = pick(r, ['curl/8.4.0', 'python-requests/2.31.0', 'Go-http-client/1.1']);
    out.push({
      line: `${ip(r)} - - [06/Dec/2026:10:${10 + int(r, 50)}:${10 + int(r, 50)} +0000] "${verb} ${pick(r, PATHS)}/${int(r, 9999)} HTTP/1.1" ${pick(r, [200, 201, 204, 404, 500])} ${int(r, 90000)} "-" "${ua}"`,
      group: `http ${verb}`,
    });
  }
  return out;
}

/** Service lifecycle events: the event word is a constant, the service name a variable. */
export function lifecycle(r: () => number, n: number): Labelled[] {
  const out: Labelled[] = [];
  for (let i = 0; i < n; i++) {
    const event = pick(r, ['started', 'started', 'stopped', 'restarted']);
    out.push({ line: `service ${skewed(r, SERVICES)} ${event} successfully`, group: `service ${event}` });
  }
  return out;
}

/** logfmt: `msg="..."` words are constants, `user=` values variable, the key kept. */
export function logfmt(r: () => number, n: number): Labelled[] {
  const msgs = ['request done', 'request failed', 'cache miss'];
  const out: Labelled[] = [];
  for (let i = 0; i < n; i++) {
    const msg = pick(r, msgs);
    const method = pick(r, ['GET', 'POST']);
    out.push({
      line: `level=info msg="${msg}" method=${method} path=${pick(r, PATHS)} status=${pick(r, [200, 404])} duration=${int(r, 900)}ms user=${skewed(r, USERS)}`,
      group: `logfmt ${msg} ${method}`,
    });
  }
  return out;
}

/** sshd through syslog: the outcome and method words are constants, the user a variable. */
export function sshd(r: () => number, n: number): Labelled[] {
  const out: Labelled[] = [];
  for (let i = 0; i < n; i++) {
    const kind = int(r, 10);
    const user = r() < 0.5 ? 'root' : skewed(r, USERS);
    const tail = `from ${ip(r)} port ${1024 + int(r, 60000)} ssh2`;
    if (kind < 4) out.push({ line: `Failed password for ${user} ${tail}`, group: 'ssh failed password' });
    else if (kind < 7) out.push({ line: `Accepted publickey for ${user} ${tail}`, group: 'ssh accepted publickey' });
    else if (kind < 9) out.push({ line: `Accepted password for ${user} ${tail}`, group: 'ssh accepted password' });
    else out.push({ line: `Invalid user ${skewed(r, USERS)} from ${ip(r)}`, group: 'ssh invalid user' });
  }
  return out;
}

/** Kubernetes-style state changes: the states are constants, the pod a variable. */
export function podStates(r: () => number, n: number): Labelled[] {
  const moves = [
    ['Pending', 'Running'],
    ['Running', 'Succeeded'],
    ['Running', 'Failed'],
  ] as const;
  const out: Labelled[] = [];
  for (let i = 0; i < n; i++) {
    const [from, to] = pick(r, moves);
    const pod = `${pick(r, ['web', 'api', 'worker'])}-${int(r, 1e6).toString(16)}f`;
    out.push({ line: `pod default/${pod} phase changed from ${from} to ${to}`, group: `pod ${from} ${to}` });
  }
  return out;
}

/** systemd units: the unit (a dotted name) is a variable, Starting/Started/Stopped constants. */
export function systemd(r: () => number, n: number): Labelled[] {
  const units = [...SERVICES.map((s) => `${s}.service`), 'apt-daily.timer', 'logrotate.timer', 'fstrim.timer'];
  const out: Labelled[] = [];
  for (let i = 0; i < n; i++) {
    const k = int(r, 3);
    const unit = skewed(r, units);
    if (k === 0) out.push({ line: `systemd[1]: Starting ${unit}...`, group: 'systemd starting' });
    else if (k === 1) out.push({ line: `systemd[1]: Started ${unit}.`, group: 'systemd started' });
    else out.push({ line: `systemd[1]: Stopped ${unit}.`, group: 'systemd stopped' });
  }
  return out;
}

/** Grouping accuracy (GA) as Loghub defines it: a line counts when its group is exactly right. */
export function groupingAccuracy(truth: readonly string[], pred: readonly number[]): number {
  const byTruth = new Map<string, number[]>();
  const byPred = new Map<number, number[]>();
  truth.forEach((g, i) => {
    byTruth.set(g, [...(byTruth.get(g) ?? []), i]);
    const p = pred[i] as number;
    byPred.set(p, [...(byPred.get(p) ?? []), i]);
  });
  let ok = 0;
  for (const [g, members] of byTruth) {
    const p = byPred.get(pred[members[0] as number] as number) ?? [];
    if (p.length === members.length && p.every((i) => truth[i] === g)) ok += members.length;
  }
  return ok / truth.length;
}
