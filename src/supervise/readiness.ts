import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { DancerError } from '../errors.js';
import { groupMembers, socketInodes, tcpInode } from './proc.js';

/** A readiness check, resolved from `service.readiness` and the listen sockets. */
export type ReadinessCheck =
  | { kind: 'http'; host: string; port: number; path: string; shared: boolean }
  | { kind: 'tcp'; host: string; port: number; shared: boolean }
  | { kind: 'notify' }
  | { kind: 'logLine'; pattern: RegExp }
  | { kind: 'alive'; graceMs: number };

/** What a probe needs to know about the worker it probes. */
export interface ProbeTarget {
  pgid: number;
  /** Resolves when the worker exits (readiness then fails at once). */
  exited: Promise<unknown>;
  /** Resolves on a matching log line or READY=1 (for logLine / notify checks). */
  signalled?: Promise<void> | undefined;
}

/**
 * Wait until the worker is ready, or fail. On a port shared with a running worker, a connection
 * only counts when the NEW worker's process group accepted it (found through /proc/net/tcp and
 * the group's fds), so an answer from the old worker never passes the new one.
 *
 * @throws {DancerError} `DANCER_NOT_READY` on timeout or when the worker exits first.
 */
export async function waitReady(check: ReadinessCheck, target: ProbeTarget, timeoutMs: number): Promise<void> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let exited = false;
  const exitPromise = target.exited.then(() => {
    exited = true;
  });
  const fail = (why: string) =>
    new DancerError('DANCER_NOT_READY', `Worker not ready: ${why}`, {
      details: { check: check.kind, timeoutMs, waitedMs: Date.now() - started, exited },
    });

  if (check.kind === 'alive' || check.kind === 'notify' || check.kind === 'logLine') {
    const wait =
      check.kind === 'alive'
        ? delay(check.graceMs).then(() => 'ready' as const)
        : (target.signalled ?? new Promise<never>(() => {})).then(() => 'ready' as const);
    const timeout = delay(timeoutMs, 'timeout' as const);
    const outcome = await Promise.race([wait, timeout, exitPromise.then(() => 'exited' as const)]);
    if (outcome === 'ready' && !exited) return;
    throw fail(
      outcome === 'exited' ? 'it exited' : `no ${check.kind === 'notify' ? 'READY=1' : 'signal'} in ${timeoutMs} ms`,
    );
  }

  let last = 'no attempt';
  while (Date.now() < deadline) {
    if (exited) throw fail('it exited');
    last = await attempt(check, target.pgid, Math.min(2000, deadline - Date.now()), () => exited);
    if (last === 'ok') {
      if (exited) throw fail('it exited');
      return;
    }
    await Promise.race([delay(50), exitPromise]);
  }
  throw fail(`${last} (timeout ${timeoutMs} ms)`);
}

async function attempt(
  check: Extract<ReadinessCheck, { kind: 'http' | 'tcp' }>,
  pgid: number,
  budgetMs: number,
  gone: () => boolean,
): Promise<string> {
  let socket: net.Socket;
  try {
    socket = await connect(check.host, check.port, budgetMs);
  } catch (error) {
    return `connect failed: ${(error as Error).message}`;
  }
  try {
    if (check.shared) {
      const owner = await acceptedBy(check.port, socket.localPort ?? 0, pgid, budgetMs, gone);
      if (owner !== 'new') return owner === 'other' ? 'answered by another worker' : 'not accepted';
    }
    if (check.kind === 'tcp') return 'ok';
    const status = await httpStatus(socket, check.host, check.port, check.path, budgetMs);
    return status >= 200 && status < 400 ? 'ok' : `HTTP ${status}`;
  } catch (error) {
    return (error as Error).message;
  } finally {
    socket.destroy();
  }
}

function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function acceptedBy(
  listenPort: number,
  clientPort: number,
  pgid: number,
  budgetMs: number,
  gone: () => boolean,
): Promise<'new' | 'other' | 'none'> {
  const deadline = Date.now() + budgetMs;
  while (Date.now() < deadline && !gone()) {
    const inode = tcpInode(listenPort, clientPort);
    if (inode !== undefined && inode !== 0) {
      for (const member of groupMembers(pgid)) {
        if (socketInodes(member.pid).has(inode)) return 'new';
      }
      // Accepted, but possibly not yet visible in the new group's fd table: look again shortly.
      await delay(10);
      for (const member of groupMembers(pgid)) {
        if (socketInodes(member.pid).has(inode)) return 'new';
      }
      return 'other';
    }
    await delay(10);
  }
  return 'none';
}

function httpStatus(socket: net.Socket, host: string, port: number, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error('HTTP timeout')), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buffer);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      } else if (buffer.length > 64 || buffer.includes('\n')) {
        clearTimeout(timer);
        reject(new Error('not an HTTP response'));
      }
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('end', () => {
      clearTimeout(timer);
      reject(new Error('closed without an answer'));
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: dancer-readiness\r\nConnection: close\r\n\r\n`,
    );
  });
}
