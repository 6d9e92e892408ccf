import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CrashEvent } from '../../src/supervise/supervisor.js';
import { FIXTURES, get, type Harness, harness, makeServiceDir, waitFor } from './helpers.js';

const node = (fixture: string) => `${process.execPath} ${path.join(FIXTURES, fixture)}`;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('supervisor: running a service', () => {
  it('serves on the held socket and reloads to a new pid with the same port', async () => {
    h = harness(makeServiceDir({ start: node('http.mjs') }));
    await h.sup.start();
    const port = h.port();
    const first = await get(port, '/pid');
    expect(first.status).toBe(200);
    const pid1 = Number(first.body.split(' ')[0]);
    expect(pid1).toBe(h.sup.currentPid);
    const result = await h.sup.reload();
    expect(result.pid).not.toBe(pid1);
    const second = await get(port, '/pid');
    expect(Number(second.body.split(' ')[0])).toBe(result.pid);
    const status = h.sup.status();
    expect(status.state).toBe('running');
    expect(status.pids).toEqual([result.pid]);
    expect(status.currentRelease).toBe('worktree');
  });

  it('restarts a worker that exits 0 unexpectedly, and reports the crash', async () => {
    const crashes: CrashEvent[] = [];
    h = harness(
      makeServiceDir({
        start: node('exit-zero.mjs'),
        env: { EXIT_AFTER_MS: '400' },
        restart: { maxRestarts: 50, withinSeconds: 30, backoffInitialMs: 50, backoffMaxMs: 100 },
      }),
      { onCrash: (e) => crashes.push(e) },
    );
    await h.sup.start();
    await waitFor(() => crashes.length >= 2, 10_000, 'two crashes');
    expect(crashes[0]!.code).toBe(0);
    expect(crashes[0]!.decision.action).toBe('restart');
    expect(h.sup.status().restarts).toBeGreaterThanOrEqual(2);
  });

  it('stops restarting a crash loop at the intensity limit and marks the service failed', async () => {
    const alerts: string[] = [];
    h = harness(makeServiceDir({ start: node('crash-loop.mjs'), env: { CRASH_AFTER_MS: '100' } }), {
      onAlert: (a) => alerts.push(a.kind),
    });
    await h.sup.start();
    await waitFor(() => h!.sup.status().state === 'failed', 15_000, 'failed state');
    expect(alerts).toContain('failed');
    expect(h.sup.status().restarts).toBe(4); // 3 restarts allowed, the 4th crash gives up
    expect(h.sup.status().pids).toEqual([]);
  });

  it('treats a crash at start like any crash (backoff, then failed)', async () => {
    h = harness(makeServiceDir({ start: node('crash-at-start.mjs') }));
    await h.sup.start();
    await waitFor(() => h!.sup.status().state === 'failed', 15_000, 'failed state');
  });

  it('SIGKILLs a worker that hangs on SIGTERM after drainSeconds', async () => {
    h = harness(makeServiceDir({ start: node('hang-on-sigterm.mjs'), drainSeconds: 0.5 }));
    await h.sup.start();
    const pid = h.sup.currentPid!;
    const t0 = Date.now();
    await h.sup.reload();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(h.sup.currentPid).not.toBe(pid);
  });

  it('readiness by log line and by READY=1 on NOTIFY_SOCKET', async () => {
    h = harness(
      makeServiceDir({
        start: node('http.mjs'),
        env: { READY_LINE: 'service is up' },
        readiness: { logLine: 'service is up', timeoutSeconds: 5 },
      }),
    );
    await h.sup.start();
    expect((await get(h.port(), '/healthz')).status).toBe(200);
    await h.close();
    h = harness(
      makeServiceDir({
        start: `python3 ${path.join(FIXTURES, 'notify-ready.py')}`,
        listen: [],
        readiness: { notify: true, timeoutSeconds: 5 },
      }),
    );
    await h.sup.start();
    expect(h.sup.status().state).toBe('running');
  });
});
