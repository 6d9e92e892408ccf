import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { DancerError } from '../errors.js';

/** A listening socket the supervisor holds (bound and listening, never accepted on here). */
export interface HeldSocket {
  name: string;
  host: string;
  /** The bound port (the real one when 0 was asked for). */
  port: number;
  /** The file descriptor, passed to workers as an inherited fd. */
  fd: number;
  /** True when passed down by `dancer run`'s launcher (socket activation): it outlives the supervisor. */
  inherited?: boolean | undefined;
  close(): void;
}

/** What to bind. */
export interface SocketSpec {
  name: string;
  host: string;
  port: number;
}

interface TcpHandle {
  fd: number;
  getsockname(out: { port?: number; address?: string }): number;
  close(cb?: () => void): void;
}

type CreateServerHandle = (
  address: string,
  port: number,
  addressType: number,
  fd?: number,
  flags?: number,
) => TcpHandle | number;

// The same primitive Node's cluster primary uses in its non-round-robin mode: a bound TCP handle
// with no accept loop. listen(2) is then called once by a short-lived helper that exits before
// its event loop ever polls, so the socket is listening (connections queue in the backlog) while
// no process of ours accepts until a worker does.
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

const LISTEN_HELPER = `
const net = require('net');
const n = Number(process.argv[1]);
let failed = 0;
for (let i = 0; i < n; i++) {
  const server = net.createServer().listen({ fd: 3 + i, backlog: 511 });
  // listen(2) runs synchronously here; on failure Node drops the handle (and reports on next tick).
  if (!server._handle) failed++;
}
if (failed) process.stderr.write('EADDRINUSE: listen(2) failed on ' + failed + ' socket(s)');
process.exit(failed ? 1 : 0);
`;

/**
 * Fail when something already listens on one of the ports (a connect probe: it never takes a
 * connection from anyone). Some kernels (and sandboxes) let a second SO_REUSEADDR socket bind
 * and listen on a port in use, silently splitting its traffic; this catches that first.
 *
 * @throws {DancerError} `DANCER_SPAWN_FAILED` naming the port in use.
 */
export async function assertPortsFree(specs: readonly SocketSpec[]): Promise<void> {
  for (const spec of specs) {
    if (spec.port === 0) continue;
    const inUse = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: spec.host, port: spec.port });
      const done = (value: boolean) => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(1000, () => done(false));
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
    if (inUse) {
      throw new DancerError(
        'DANCER_SPAWN_FAILED',
        `Cannot bind ${spec.name} on ${spec.host}:${spec.port}: EADDRINUSE (something listens there)`,
        {
          details: { socket: spec.name, host: spec.host, port: spec.port },
        },
      );
    }
  }
}

/**
 * Bind and listen on every socket in `specs`, without accepting.
 *
 * @throws {DancerError} `DANCER_SPAWN_FAILED` when a port cannot be bound (in use, no permission).
 */
export function bindSockets(specs: readonly SocketSpec[]): HeldSocket[] {
  if (specs.length === 0) return [];
  if (typeof createServerHandle !== 'function') {
    throw new DancerError('DANCER_INTERNAL', 'net._createServerHandle is not available in this Node version.');
  }
  const held: HeldSocket[] = [];
  try {
    for (const spec of specs) {
      const addressType = net.isIPv6(spec.host) ? 6 : 4;
      const handle = createServerHandle(spec.host, spec.port, addressType);
      if (typeof handle === 'number') {
        throw new DancerError(
          'DANCER_SPAWN_FAILED',
          `Cannot bind ${spec.name} on ${spec.host}:${spec.port}: ${errnoName(handle)}`,
          { details: { socket: spec.name, host: spec.host, port: spec.port, errno: handle } },
        );
      }
      const out: { port?: number } = {};
      handle.getsockname(out);
      let closed = false;
      held.push({
        name: spec.name,
        host: spec.host,
        port: out.port ?? spec.port,
        fd: handle.fd,
        close() {
          if (closed) return;
          closed = true;
          handle.close();
        },
      });
    }
    const result = spawnSync(process.execPath, ['-e', LISTEN_HELPER, String(held.length)], {
      stdio: ['ignore', 'ignore', 'pipe', ...held.map((s) => s.fd)],
      timeout: 10_000,
    });
    if (result.status !== 0) {
      throw new DancerError('DANCER_SPAWN_FAILED', `listen(2) on the held sockets failed: ${String(result.stderr)}`, {
        details: { status: result.status },
      });
    }
    return held;
  } catch (error) {
    for (const s of held) s.close();
    throw error;
  }
}

function errnoName(errno: number): string {
  const names: Record<number, string> = { [-98]: 'EADDRINUSE', [-13]: 'EACCES', [-99]: 'EADDRNOTAVAIL' };
  return names[errno] ?? `errno ${errno}`;
}
