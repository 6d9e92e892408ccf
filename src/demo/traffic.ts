/**
 * A bounded, steady loopback load generator with keep-alive connections, for the demo and the
 * end-to-end tests. It counts what matters for a deploy: requests that failed at the transport
 * level (reset, refused, timeout) apart from the service's own HTTP error answers.
 */
import http from 'node:http';
import net from 'node:net';

/** One request to send. */
export interface TrafficRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** A label to count results by (e.g. `coupon-lowercase`). */
  kind: string;
}

/** Counts so far. */
export interface TrafficStats {
  sent: number;
  /** 2xx answers. */
  ok: number;
  /** 4xx answers (the service refusing bad input: not failures). */
  clientErrors: number;
  /** 5xx answers. */
  serverErrors: number;
  /** Requests that got no HTTP answer at all (reset, refused, timeout): dropped requests. */
  failed: number;
  /** Failure reasons, e.g. `{ ECONNRESET: 1 }`. */
  failures: Record<string, number>;
  /**
   * When each failed request was sent and when it failed (ms since epoch), with its reason, and
   * whether it went out on a reused keep-alive connection (then how long that connection had
   * been idle, ms) or on a new one.
   */
  failedAt: Array<{ sentAt: number; at: number; reason: string; reused?: boolean; idleMs?: number }>;
  /** Idle keep-alive connections closed before reuse because they were near the server's keep-alive timeout. */
  staleClosed: number;
  /** Time of the first 5xx answer (ms since epoch). */
  firstServerErrorAt: number | undefined;
  /** 5xx answers by request kind. */
  serverErrorsByKind: Record<string, number>;
}

/** Options of {@link startTraffic}. */
export interface TrafficOptions {
  port: number;
  host?: string;
  /** Requests per second (default 40). */
  ratePerSecond?: number;
  /** Concurrent keep-alive connections (default 8). */
  connections?: number;
  /** Stop by itself after this many requests (a safety bound; default 100 000). */
  maxRequests?: number;
  /** Chooses the next request; `i` counts from 0. */
  next: (i: number) => TrafficRequest;
  /** Per-request timeout, ms (default 10 000). */
  timeoutMs?: number;
  /**
   * Never reuse a keep-alive connection idle longer than this, ms (default 2000: well inside
   * Node's default server keep-alive timeout of 5 s). See {@link startTraffic}.
   */
  maxIdleMs?: number;
}

type PooledSocket = net.Socket & { dancerFreedAt?: number | undefined; dancerIdleMs?: number | undefined };

/**
 * A keep-alive agent that reuses its least recently used connection first (every pooled
 * connection carries requests in turn, so none idles toward the server's keep-alive timeout) and
 * remembers when each connection went idle.
 */
class TrafficAgent extends http.Agent {
  override keepSocketAlive(socket: PooledSocket): boolean {
    socket.dancerFreedAt = Date.now();
    // Typed `void` in @types/node; Node returns whether the connection may be kept.
    return (super.keepSocketAlive(socket) as unknown as boolean | undefined) !== false;
  }

  override reuseSocket(socket: PooledSocket, request: http.ClientRequest): void {
    socket.dancerIdleMs = socket.dancerFreedAt === undefined ? undefined : Date.now() - socket.dancerFreedAt;
    socket.dancerFreedAt = undefined;
    super.reuseSocket(socket, request);
  }

  /**
   * Close the idle connections idle for more than `maxIdleMs`. Called right before sending, in
   * the same tick: a server closes an idle keep-alive connection after its timeout (Node: 5 s),
   * and Node's agent drops it on a timer 1 s earlier; when this process's event loop stalls past
   * that second (a loaded machine), the stalled timer loses the race and a request goes out on a
   * connection the server has already closed (ECONNRESET; the service never saw the request).
   * A clock check at send time cannot lose that race. Returns how many were closed.
   */
  closeStale(maxIdleMs: number, now: number): number {
    let closed = 0;
    for (const list of Object.values(this.freeSockets)) {
      for (const socket of (list ?? []) as PooledSocket[]) {
        if (!socket.destroyed && socket.dancerFreedAt !== undefined && now - socket.dancerFreedAt > maxIdleMs) {
          socket.destroy();
          closed++;
        }
      }
    }
    return closed;
  }
}

/** A running load generator. */
export interface Traffic {
  stats(): TrafficStats;
  /** Replace the request chooser (e.g. to start sending a new kind of request). */
  setNext(next: (i: number) => TrafficRequest): void;
  /** Stop sending and wait for requests in flight. */
  stop(): Promise<TrafficStats>;
}

/**
 * Start sending requests at a steady rate until {@link Traffic.stop} or `maxRequests`. Keep-alive
 * connections are reused oldest first and never past `maxIdleMs` idle, so a failed request means
 * the service (or its supervisor) lost it, not this client racing a server's idle timeout.
 */
export function startTraffic(options: TrafficOptions): Traffic {
  const agent = new TrafficAgent({ keepAlive: true, maxSockets: options.connections ?? 8, scheduling: 'fifo' });
  const maxIdleMs = options.maxIdleMs ?? 2000;
  const rate = options.ratePerSecond ?? 40;
  const maxRequests = options.maxRequests ?? 100_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  let next = options.next;
  let i = 0;
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const stats: TrafficStats = {
    sent: 0,
    ok: 0,
    clientErrors: 0,
    serverErrors: 0,
    failed: 0,
    failures: {},
    failedAt: [],
    staleClosed: 0,
    firstServerErrorAt: undefined,
    serverErrorsByKind: {},
  };

  const send = (request: TrafficRequest): Promise<void> =>
    new Promise<void>((resolve) => {
      stats.sent++;
      const sentAt = Date.now();
      const body = request.body === undefined ? undefined : JSON.stringify(request.body);
      const req = http.request(
        {
          host: options.host ?? '127.0.0.1',
          port: options.port,
          method: request.method,
          path: request.path,
          agent,
          timeout: timeoutMs,
          headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 500) {
              stats.serverErrors++;
              stats.firstServerErrorAt ??= Date.now();
              stats.serverErrorsByKind[request.kind] = (stats.serverErrorsByKind[request.kind] ?? 0) + 1;
            } else if (status >= 400) stats.clientErrors++;
            else stats.ok++;
            resolve();
          });
          res.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? 'response_error'));
        },
      );
      let settled = false;
      let idleMs: number | undefined;
      req.once('socket', (socket: PooledSocket) => {
        idleMs = req.reusedSocket ? socket.dancerIdleMs : undefined;
      });
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        stats.failed++;
        stats.failures[reason] = (stats.failures[reason] ?? 0) + 1;
        stats.failedAt.push({
          sentAt,
          at: Date.now(),
          reason,
          reused: req.reusedSocket,
          ...(idleMs === undefined ? {} : { idleMs }),
        });
        resolve();
      };
      req.on('timeout', () => {
        req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
      });
      req.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? 'request_error'));
      req.end(body);
    });

  const intervalMs = 1000 / rate;
  const startedAt = Date.now();
  const timer = setInterval(
    () => {
      if (stopped) return;
      // Catch up on missed ticks so the rate stays steady under a busy event loop.
      const due = Math.floor((Date.now() - startedAt) / intervalMs) + 1;
      if (i < due) stats.staleClosed += agent.closeStale(maxIdleMs, Date.now());
      while (i < due && i < maxRequests) {
        const p = send(next(i++));
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
      if (i >= maxRequests) stopped = true;
    },
    Math.max(5, intervalMs),
  );

  return {
    stats: () => ({
      ...stats,
      failures: { ...stats.failures },
      failedAt: [...stats.failedAt],
      serverErrorsByKind: { ...stats.serverErrorsByKind },
    }),
    setNext(fn) {
      next = fn;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all([...inFlight]);
      agent.destroy();
      return { ...stats };
    },
  };
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
