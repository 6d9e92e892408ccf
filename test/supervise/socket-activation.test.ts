/**
 * `dancer run` socket-activated by a launcher (as systemd's .socket unit does it): the launcher
 * binds the port once and starts `dancer run` with it as fd 3 (LISTEN_FDS=1, LISTEN_PID its own
 * pid). A kill -9 of the supervisor must not drop a request: its worker keeps serving on the
 * launcher's socket (logging every request into its output, whose reader is dead), the restarted
 * supervisor starts its own worker, then drains the orphan. A pid recorded with another start time
 * (pid reuse) is never signalled. Real `dancer run` (bin/dancer.js, needs `npm run build`), real
 * HTTP on 127.0.0.1, keep-alive and new connections.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort, startTraffic } from '../../src/demo/traffic.js';
import { openStore } from '../../src/store/open.js';
import { isAlive, readStat } from '../../src/supervise/proc.js';
import { bindSockets, type HeldSocket } from '../../src/supervise/sockets.js';
import { SuperviseStore } from '../../src/supervise/state-store.js';
import { killAll, strayProcesses } from '../e2e/helpers.js';
import { FIXTURES, waitFor } from './helpers.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/dancer.js');

const dir = mkdtempSync(path.join(tmpdir(), 'dancer-sockact-'));
let held: HeldSocket | undefined;
let supervisor: ChildProcess | undefined;
let unrelated: ChildProcess | undefined;

afterAll(async () => {
  if (supervisor && supervisor.exitCode === null && supervisor.signalCode === null) supervisor.kill('SIGKILL');
  unrelated?.kill('SIGKILL');
  held?.close();
  killAll(await strayProcesses(dir, 1000));
  rmSync(dir, { recursive: true, force: true });
});

function state(): { pid: number | null; state: string; workers: Array<{ pid: number; role: string }> } {
  const db = openStore(path.join(dir, '.dancer/dancer.db'));
  try {
    const row = new SuperviseStore(db).getState('svc');
    return { pid: row?.supervisorPid ?? null, state: row?.state ?? 'none', workers: row?.workers ?? [] };
  } finally {
    db.close();
  }
}

/** The launcher: binds nothing itself, passes the held socket as fd 3 and execs dancer run. */
function launch(): ChildProcess {
  const log = createWriteStream(path.join(dir, 'supervisor.log'), { flags: 'a' });
  const script =
    'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http; export LISTEN_PID LISTEN_FDS LISTEN_FDNAMES; exec "$0" "$@"';
  const child = spawn(
    '/bin/sh',
    ['-c', script, process.execPath, BIN, 'run', '--config', path.join(dir, 'dancer.yaml')],
    {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe', held!.fd],
    },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

const supervisorLog = () => readFileSync(path.join(dir, 'supervisor.log'), 'utf8');

/** Requests on new connections (no keep-alive), counted apart from the keep-alive traffic. */
function newConnections(port: number) {
  const counts = { ok: 0, failed: 0, reasons: [] as string[] };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/work', agent: false }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) counts.ok++;
            else counts.reasons.push(`status ${res.statusCode}`);
            resolve();
          });
        });
        req.on('error', (e) => {
          counts.failed++;
          counts.reasons.push((e as NodeJS.ErrnoException).code ?? e.message);
          resolve();
        });
        req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      });
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  return {
    counts,
    async stop() {
      stopped = true;
      await loop;
      return counts;
    },
  };
}

describe('dancer run socket-activated: kill -9 of the supervisor', () => {
  it('keeps answering, adopts and drains the orphan, leaves nothing behind', { timeout: 180_000 }, async () => {
    const port = await freePort();
    writeFileSync(
      path.join(dir, 'dancer.yaml'),
      stringify({
        service: {
          name: 'svc',
          cwd: '.',
          start: `node ${path.join(FIXTURES, 'http.mjs')}`,
          listen: [{ name: 'http', port, host: '127.0.0.1' }],
          readiness: { http: { path: '/healthz' }, timeoutSeconds: 20 },
          drainSeconds: 2,
          releasesDir: '.dancer/releases',
          metrics: { sampleSeconds: 1 },
        },
        store: { path: '.dancer/dancer.db' },
        capture: { tee: 'none' },
        fixes: { worktreeBase: path.join(dir, 'worktrees') },
      }),
    );
    held = bindSockets([{ name: 'http', host: '127.0.0.1', port }])[0]!;
    supervisor = launch();
    const first = supervisor;
    const up = await waitFor(
      () => {
        const s = state();
        return s.pid === first.pid && s.state === 'running' ? s : undefined;
      },
      60_000,
      'the first supervisor to run its worker',
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n${supervisorLog()}`);
    });
    const orphan = up.workers.find((w) => w.role === 'current')!.pid;
    const orphanStart = readStat(orphan)!.startTicks;
    expect(supervisorLog()).toMatch(/serving on inherited sockets \(http 127\.0\.0\.1:\d+\)/);

    const traffic = startTraffic({
      port,
      ratePerSecond: 40,
      connections: 4,
      next: (i) => ({ method: 'GET', path: `/work?i=${i}`, kind: 'plain' }),
    });
    const fresh = newConnections(port);
    await new Promise((r) => setTimeout(r, 1500));

    const killed = traffic.stats().ok;
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    // No supervisor for 3 s: the orphan serves on, logging each request into a pipe nobody reads.
    await new Promise((r) => setTimeout(r, 3000));
    expect(isAlive(orphan), 'the worker outlives its supervisor').toBe(true);
    expect(traffic.stats().ok, 'answers while no supervisor runs').toBeGreaterThan(killed + 60);

    // A recorded worker whose pid now belongs to another process (its start time differs): the
    // restarted supervisor must not signal it.
    unrelated = spawn('sleep', ['60'], { cwd: dir, detached: true, stdio: 'ignore' });
    await waitFor(() => readStat(unrelated!.pid!), 5000, 'sleep to start');
    const db = openStore(path.join(dir, '.dancer/dancer.db'));
    const store = new SuperviseStore(db);
    const recorded = store.getState('svc')!.workers;
    const reused = unrelated.pid!;
    const wrongStart = readStat(reused)!.startTicks + 1;
    store.saveState('svc', {
      workers: [
        ...recorded,
        { pid: reused, pgid: reused, release: 'worktree', startedAt: 0, startTicks: wrongStart, role: 'current' },
      ],
    });
    db.close();

    supervisor = launch();
    const second = supervisor;
    await waitFor(
      () => {
        const s = state();
        return s.pid === second.pid &&
          s.state === 'running' &&
          s.workers.some((w) => w.pid !== orphan && w.role === 'current')
          ? s
          : undefined;
      },
      60_000,
      'the restarted supervisor to run its own worker',
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n${supervisorLog()}`);
    });
    // The orphan drains (SIGTERM, dancer/listen's drain) within drainSeconds, pid-reuse guarded.
    await waitFor(
      () => !isAlive(orphan) || readStat(orphan)?.startTicks !== orphanStart,
      10_000,
      'the orphan to drain',
    );
    await waitFor(() => !state().workers.some((w) => w.pid === orphan), 5000, 'the orphan to leave the state');
    expect(supervisorLog()).toMatch(new RegExp(`draining pid ${orphan} left serving by the previous supervisor`));
    expect(supervisorLog()).toMatch(new RegExp(`not adopting pid ${reused}: pid reused`));
    expect(isAlive(reused), 'a reused pid is left alone').toBe(true);
    expect(
      state().workers.some((w) => w.pid === reused),
      'and forgotten',
    ).toBe(false);

    const before = traffic.stats().ok;
    await waitFor(() => traffic.stats().ok > before + 40, 10_000, 'the new worker to answer');
    const stats = await traffic.stop();
    const opened = await fresh.stop();
    expect(stats.failures, 'keep-alive requests dropped').toEqual({});
    expect(stats.failed).toBe(0);
    expect(opened.reasons, 'requests on new connections dropped').toEqual([]);
    expect(opened.ok).toBeGreaterThan(50);

    // A graceful stop leaves nothing behind (workers, output relays).
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));
    unrelated.kill('SIGKILL');
    await new Promise((r) => unrelated!.once('exit', r));
    expect(await strayProcesses(dir, 10_000), 'processes left under the test dir').toEqual([]);
  });
});
