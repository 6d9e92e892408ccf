/**
 * Stage a release before it takes traffic: start it beside the serving worker on a private
 * loopback socket (socket mode) or port (port mode), wait for readiness there, run
 * `service.smoke` against it, then stop it. Only a release that passes takes the handoff; one
 * that fails is a failed deploy no user saw. The staged worker's output is not captured into
 * the store (its errors are not the service's).
 */
import net from 'node:net';
import { DancerError, errorMessage } from '../errors.js';
import type { NotifyReceiver } from './notify.js';
import type { ServiceConfig } from './paths.js';
import { waitReady } from './readiness.js';
import { readinessCheckFor, readySignal } from './ready-check.js';
import { runSmoke } from './smoke.js';
import { bindSockets, type HeldSocket } from './sockets.js';
import { startWorker } from './worker.js';

/** Options of {@link stageRelease}. */
export interface StageOptions {
  service: ServiceConfig;
  release: string;
  cwd: string;
  env: Record<string, string>;
  /** Variables the staged worker does not inherit (Dancer's secrets). */
  withholdEnv?: readonly string[] | undefined;
  notify?: NotifyReceiver | undefined;
  log: (message: string) => void;
  /** Called with the staged worker's pid once it runs (the release map records it). */
  onWorker?: (pid: number, startedAt: number) => void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Start `release` on a private socket, check readiness and the smoke list, stop it.
 *
 * @throws {DancerError} `DANCER_SMOKE_FAILED` (readiness or smoke failed; details say which).
 */
export async function stageRelease(o: StageOptions): Promise<{ ms: number }> {
  const svc = o.service;
  const t0 = Date.now();
  let sockets: HeldSocket[] = [];
  let port: number;
  let listen = svc.listen.map((l) => ({ ...l, host: '127.0.0.1', port: 0 }));
  if (svc.mode === 'socket') {
    sockets = bindSockets(listen.map((l) => ({ name: l.name, host: l.host, port: 0 })));
    listen = listen.map((l, i) => ({ ...l, port: sockets[i]?.port ?? 0 }));
    port = sockets[0]?.port ?? 0;
  } else {
    port = await freePort();
    listen = listen.map((l, i) => (i === 0 ? { ...l, port } : l));
  }
  const staged: ServiceConfig = { ...svc, listen };
  const worker = startWorker({
    release: o.release,
    command: svc.start,
    cwd: o.cwd,
    env: { ...o.env, DANCER_STAGED: '1' },
    withholdEnv: o.withholdEnv,
    sockets,
    port: svc.mode === 'port' ? port : undefined,
    notifySocket: o.notify?.path,
  });
  o.onWorker?.(worker.pid, worker.startedAt);
  o.log(`staging release ${o.release.slice(0, 12)} as pid ${worker.pid} on 127.0.0.1:${port}`);
  let tail = '';
  const keep = (c: Buffer) => {
    tail = (tail + c.toString('utf8')).slice(-2000);
  };
  worker.stdout.on('data', keep);
  worker.stderr.on('data', keep);
  const check = readinessCheckFor(staged, sockets);
  const { signalled, cleanup } = readySignal(worker, check, o.notify);
  try {
    try {
      await waitReady(
        check,
        { pgid: worker.pgid, exited: worker.exited, signalled },
        svc.readiness.timeoutSeconds * 1000,
      );
    } catch (error) {
      throw new DancerError('DANCER_SMOKE_FAILED', `Staged release not ready: ${errorMessage(error)}`, {
        cause: error,
        details: { step: 'readiness', output: tail.slice(-1000) },
      });
    }
    if (svc.smoke) await runSmoke(svc.smoke, '127.0.0.1', port);
    return { ms: Date.now() - t0 };
  } finally {
    cleanup();
    await worker.kill();
    for (const s of sockets) s.close();
  }
}
