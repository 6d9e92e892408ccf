/**
 * Which readiness probe a new worker must pass ({@link readinessCheckFor}, pure), and the
 * listeners that turn a worker's log line or NOTIFY_SOCKET message into a ready signal.
 */
import { DancerError } from '../errors.js';
import type { NotifyMessage, NotifyReceiver } from './notify.js';
import type { ServiceConfig } from './paths.js';
import { readStat } from './proc.js';
import type { ReadinessCheck } from './readiness.js';
import type { HeldSocket } from './sockets.js';
import type { Worker } from './worker.js';

/**
 * The readiness check for `svc` with the held `sockets`: notify, a log line, an HTTP or TCP
 * probe (on a shared socket only the new worker's answer counts), else alive for a grace period.
 *
 * @throws {DancerError} `DANCER_CONFIG_INVALID` when readiness.http has no port to probe.
 */
export function readinessCheckFor(svc: ServiceConfig, sockets: readonly HeldSocket[]): ReadinessCheck {
  const r = svc.readiness;
  const shared = (port: number | undefined) => {
    if (svc.mode !== 'socket' || sockets.length === 0) return undefined;
    if (port === undefined) return sockets[0];
    const i = svc.listen.findIndex((l) => l.port === port);
    return i >= 0 ? sockets[i] : undefined;
  };
  if (r.notify) return { kind: 'notify' };
  if (r.logLine) return { kind: 'logLine', pattern: new RegExp(r.logLine) };
  if (r.http) {
    const s = shared(r.http.port);
    const port = s?.port ?? r.http.port ?? svc.listen[0]?.port;
    if (port === undefined) throw new DancerError('DANCER_CONFIG_INVALID', 'readiness.http needs a port.');
    return {
      kind: 'http',
      host: s?.host ?? svc.listen[0]?.host ?? '127.0.0.1',
      port,
      path: r.http.path,
      shared: !!s,
    };
  }
  if (r.tcp) {
    const s = shared(r.tcp.port);
    return { kind: 'tcp', host: s?.host ?? '127.0.0.1', port: s?.port ?? r.tcp.port, shared: !!s };
  }
  const s = shared(undefined);
  if (s) return { kind: 'tcp', host: s.host, port: s.port, shared: true };
  if (svc.mode === 'port' && svc.listen[0]) {
    return { kind: 'tcp', host: svc.listen[0].host, port: svc.listen[0].port, shared: false };
  }
  return { kind: 'alive', graceMs: r.graceMs };
}

/**
 * For log-line and notify checks: a promise that resolves when `worker` says it is ready, and a
 * cleanup that removes the listeners. Other checks need no signal.
 */
export function readySignal(
  worker: Worker,
  check: ReadinessCheck,
  notify: NotifyReceiver | undefined,
): { signalled: Promise<void> | undefined; cleanup: () => void } {
  let cleanup = () => {};
  if (check.kind !== 'logLine' && check.kind !== 'notify') return { signalled: undefined, cleanup };
  const signalled = new Promise<void>((resolve) => {
    if (check.kind === 'logLine') {
      let pending = '';
      const onData = (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        if (pending.length > 65536) pending = pending.slice(-65536);
        if (lines.some((l) => check.pattern.test(l))) resolve();
      };
      worker.stdout.on('data', onData);
      worker.stderr.on('data', onData);
      cleanup = () => {
        worker.stdout.off('data', onData);
        worker.stderr.off('data', onData);
      };
    } else {
      const onMessage = (m: NotifyMessage) => {
        if (m.fields.READY !== '1') return;
        if (m.pid === worker.pid || readStat(m.pid)?.pgrp === worker.pgid) resolve();
      };
      notify?.events.on('message', onMessage);
      cleanup = () => notify?.events.off('message', onMessage);
    }
  });
  return { signalled, cleanup: () => cleanup() };
}
