/**
 * `dancer/listen`: the app-side helper for Node services run by Dancer. Listens on the socket
 * the supervisor passes down (systemd convention: LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, fds
 * from 3), else on PORT; and drains on SIGTERM so a handoff loses no request: every response
 * after SIGTERM carries `Connection: close`, the listener closes ~0.5 s later, in-flight requests
 * finish, then the process exits.
 *
 * App-side entry: imports only node:net and node:http types. Never loads the supervisor.
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as NetServer } from 'node:net';

/** Options of {@link listen}. */
export interface ListenOptions {
  /** Which inherited socket (LISTEN_FDNAMES); default: the first. */
  name?: string;
  /** Port when no socket is inherited; default `PORT`, else 3000. */
  port?: number;
  /** Host when no socket is inherited; default 127.0.0.1. */
  host?: string;
  /** Drain on SIGTERM (default true). */
  drain?: boolean;
  /** Delay between SIGTERM and closing the listener, ms (default 500). */
  closeDelayMs?: number;
  /** Called when drained; default: `process.exit(0)`. */
  onDrained?: () => void;
  /** Environment to read (tests). Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Where the server listens. */
export interface ListenResult {
  /** The inherited fd, when one was used. */
  fd: number | undefined;
  /** The port, when listening on PORT. */
  port: number | undefined;
}

/**
 * The inherited fd for `name` (or the first), when the supervisor passed sockets to this
 * process. LISTEN_PID must be this process or its parent (a `sh -c` wrapper that could not exec).
 */
export function inheritedFd(name?: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const count = Number(env.LISTEN_FDS);
  if (!Number.isInteger(count) || count < 1) return undefined;
  const pid = Number(env.LISTEN_PID);
  if (env.LISTEN_PID !== undefined && pid !== process.pid && pid !== process.ppid) return undefined;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  const index = name === undefined ? 0 : names.indexOf(name);
  if (index < 0 || index >= count) return undefined;
  return 3 + index;
}

/**
 * Listen `server` on the inherited socket or on PORT, and install the SIGTERM drain.
 * Resolves once listening.
 */
export function listen(server: HttpServer | NetServer, options: ListenOptions = {}): Promise<ListenResult> {
  const env = options.env ?? process.env;
  const fd = inheritedFd(options.name, env);
  if (fd !== undefined) {
    // Children of the service must not take the sockets for theirs.
    delete env.LISTEN_FDS;
    delete env.LISTEN_PID;
    delete env.LISTEN_FDNAMES;
  }
  if (options.drain !== false) installDrain(server, options);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (fd !== undefined) {
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve({ fd, port: undefined });
      });
    } else {
      const port = options.port ?? (env.PORT ? Number(env.PORT) : 3000);
      server.listen(port, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        const address = server.address();
        resolve({ fd: undefined, port: typeof address === 'object' && address ? address.port : port });
      });
    }
  });
}

function installDrain(server: HttpServer | NetServer, options: ListenOptions): void {
  let draining = false;
  const pending = new Set<ServerResponse>();
  const isHttp = 'setTimeout' in server && 'headersTimeout' in server;
  if (isHttp) {
    const http = server as HttpServer;
    http.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (draining) {
        res.shouldKeepAlive = false;
        res.setHeader('Connection', 'close');
        return;
      }
      pending.add(res);
      res.once('finish', () => pending.delete(res));
      res.once('close', () => pending.delete(res));
    });
  }
  process.once('SIGTERM', () => {
    draining = true;
    for (const res of pending) {
      if (!res.headersSent) {
        res.shouldKeepAlive = false;
        res.setHeader('Connection', 'close');
      }
    }
    setTimeout(() => {
      server.close(() => (options.onDrained ?? (() => process.exit(0)))());
      if (isHttp) (server as HttpServer).closeIdleConnections?.();
    }, options.closeDelayMs ?? 500);
  });
}
