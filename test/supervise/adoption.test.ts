/**
 * The pure parts of socket activation and adoption: which inherited fds `dancer run` takes, how
 * they map to `service.listen`, what a restarted supervisor does with each worker the previous
 * one recorded (pid reuse included), the systemd units; and the orphan drain's pid-reuse guard on
 * real processes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { REAL_TIMERS } from '../../src/supervise/clock.js';
import { listenFdsFromEnv, matchInherited } from '../../src/supervise/inherit.js';
import { Orphans, planAdoption, type StatReader } from '../../src/supervise/orphans.js';
import { isAlive, readStat } from '../../src/supervise/proc.js';
import type { PersistedWorker } from '../../src/supervise/state-store.js';
import { canSocketActivate, systemdSocketUnit, systemdUnit } from '../../src/supervise/systemd.js';
import { waitFor } from './helpers.js';

const worker = (
  pid: number,
  role: PersistedWorker['role'],
  startTicks: number | undefined = 1000,
): PersistedWorker => ({
  pid,
  pgid: pid,
  release: 'abc',
  startedAt: 0,
  startTicks,
  role,
});

describe('listenFdsFromEnv', () => {
  it('takes fds 3.. only when LISTEN_PID is this process', () => {
    expect(listenFdsFromEnv({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'http:admin' }, 42)).toEqual({
      fds: [3, 4],
      names: ['http', 'admin'],
    });
    expect(listenFdsFromEnv({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42)).toBeUndefined();
    expect(listenFdsFromEnv({ LISTEN_FDS: '1' }, 42)).toBeUndefined();
    expect(listenFdsFromEnv({ LISTEN_PID: '42', LISTEN_FDS: '0' }, 42)).toBeUndefined();
    expect(listenFdsFromEnv({ LISTEN_PID: '42', LISTEN_FDS: 'x' }, 42)).toBeUndefined();
    expect(listenFdsFromEnv({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42)?.names).toEqual(['unknown']);
  });
});

describe('matchInherited', () => {
  const specs = [
    { name: 'http', host: '127.0.0.1', port: 80 },
    { name: 'admin', host: '127.0.0.1', port: 81 },
  ];
  it('matches by name, whatever the order', () => {
    const m = matchInherited(specs, { fds: [3, 4], names: ['admin', 'http'] });
    expect(m.map((x) => [x.spec.name, x.fd])).toEqual([
      ['http', 4],
      ['admin', 3],
    ]);
  });
  it('falls back to order when the names do not say (one systemd socket unit, several ListenStream)', () => {
    const m = matchInherited(specs, { fds: [3, 4], names: ['dancer-svc.socket', 'dancer-svc.socket'] });
    expect(m.map((x) => [x.spec.name, x.fd])).toEqual([
      ['http', 3],
      ['admin', 4],
    ]);
  });
  it('refuses a count that does not fit', () => {
    expect(() => matchInherited(specs, { fds: [3], names: ['unknown'] })).toThrow(
      /DANCER_CONFIG_INVALID|given 1 socket/,
    );
  });
});

describe('planAdoption', () => {
  const stats: Record<number, { state: string; startTicks: number }> = {
    10: { state: 'S', startTicks: 1000 },
    11: { state: 'S', startTicks: 1000 },
    12: { state: 'S', startTicks: 1000 },
    13: { state: 'S', startTicks: 5555 },
    14: { state: 'Z', startTicks: 1000 },
    16: { state: 'S', startTicks: 1000 },
    17: { state: 'S', startTicks: 1000 },
  };
  const stat: StatReader = (pid) => stats[pid];
  it('keeps serving workers until ours is ready, stops candidates now, never signals a reused pid', () => {
    const plan = planAdoption(
      [
        worker(10, 'current'),
        worker(11, 'candidate'),
        worker(12, 'draining'),
        worker(13, 'current'),
        worker(14, 'current'),
        worker(15, 'current'),
        { ...worker(16, 'current'), startTicks: undefined },
        worker(17, 'orphan'),
        worker(99, 'current'),
      ],
      stat,
      99,
    );
    expect(plan.map((d) => [d.worker.pid, d.action])).toEqual([
      [10, 'drain_after_ready'],
      [11, 'stop_now'],
      [12, 'let_drain'],
      [13, 'forget'],
      [14, 'forget'],
      [15, 'forget'],
      [16, 'forget'],
      [17, 'drain_after_ready'],
      [99, 'forget'],
    ]);
    expect(plan.find((d) => d.worker.pid === 13)?.reason).toMatch(/pid reused/);
    expect(plan.find((d) => d.worker.pid === 16)?.reason).toMatch(/no start time/);
  });
});

describe('systemd units', () => {
  const base = {
    service: 'shop',
    configFile: '/srv/shop/dancer.yaml',
    workingDirectory: '/srv/shop',
    node: '/usr/bin/node',
    dancerBin: '/opt/dancer/bin/dancer.js',
    watchdogSeconds: 30,
    drainSeconds: 10,
  };
  it('socket mode with fixed ports: a .socket unit holds the sockets; workers survive a crash (KillMode=process)', () => {
    const listen = [{ name: 'http', host: '127.0.0.1', port: 8080 }];
    const unit = systemdUnit({ ...base, listen });
    expect(unit).toMatch(/^Requires=dancer-shop\.socket$/m);
    expect(unit).toMatch(/^After=network-online\.target dancer-shop\.socket$/m);
    expect(unit).toMatch(/^KillMode=process$/m);
    const socket = systemdSocketUnit({ service: 'shop', listen });
    expect(socket).toMatch(/^ListenStream=127\.0\.0\.1:8080$/m);
    expect(socket).toMatch(/^FileDescriptorName=http$/m);
    expect(socket).toMatch(/^Service=dancer-shop\.service$/m);
    const two = systemdSocketUnit({
      service: 'shop',
      listen: [...listen, { name: 'admin', host: '::1', port: 9090 }],
    });
    expect(two).toMatch(/^ListenStream=\[::1\]:9090$/m);
    expect(two).not.toMatch(/FileDescriptorName/);
  });
  it('port mode or port 0: no socket unit, KillMode=mixed as before', () => {
    expect(canSocketActivate(undefined)).toBe(false);
    expect(canSocketActivate([{ name: 'http', host: '127.0.0.1', port: 0 }])).toBe(false);
    const unit = systemdUnit(base);
    expect(unit).toMatch(/^KillMode=mixed$/m);
    expect(unit).not.toMatch(/Requires=/);
  });
});

describe('Orphans (real processes)', () => {
  const started: ChildProcess[] = [];
  afterEach(() => {
    for (const c of started) c.kill('SIGKILL');
    started.length = 0;
  });
  const sleeper = async (): Promise<number> => {
    const c = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    started.push(c);
    await waitFor(() => readStat(c.pid!), 5000, 'sleep');
    return c.pid!;
  };
  const options = { drainMs: 300, clock: Date.now, timers: REAL_TIMERS, log: () => {} };

  it('drains a serving orphan after readiness (SIGTERM), and never signals one whose start time differs', async () => {
    const ours = await sleeper();
    const other = await sleeper();
    const recorded = [
      { ...worker(ours, 'current'), startTicks: readStat(ours)!.startTicks },
      { ...worker(other, 'current'), startTicks: readStat(other)!.startTicks + 7 },
    ];
    const orphans = new Orphans(planAdoption(recorded, readStat, process.pid), options);
    orphans.settleNow();
    expect(isAlive(ours), 'serves until a fresh worker is ready').toBe(true);
    expect(orphans.records().map((w) => [w.pid, w.role])).toEqual([[ours, 'orphan']]);
    await orphans.drainServing();
    expect(isAlive(ours)).toBe(false);
    expect(isAlive(other), 'a reused pid is left alone').toBe(true);
    expect(orphans.records()).toEqual([]);
  });

  it('SIGKILLs an orphan that ignores SIGTERM after the drain timeout', async () => {
    // SIGTERM ignored (kept across exec), said once the trap is set.
    const c = spawn('sh', ['-c', 'trap "" TERM; echo ready; exec sleep 30'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    started.push(c);
    await new Promise((r) => c.stdout!.once('data', r));
    const rec = { ...worker(c.pid!, 'current'), startTicks: readStat(c.pid!)!.startTicks };
    const orphans = new Orphans(planAdoption([rec], readStat, process.pid), options);
    const exited = new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_code, signal) => r(signal)));
    await orphans.drainServing();
    expect(await exited, 'killed after the drain timeout').toBe('SIGKILL');
  });
});
