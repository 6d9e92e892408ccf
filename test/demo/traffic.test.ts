/**
 * The traffic generator as a keep-alive client (src/demo/traffic.ts): a request it counts as
 * failed must be one the service lost, never the client racing the server's keep-alive timeout.
 * The server runs in a child process (its timers keep time while this process stalls).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startTraffic, type TrafficStats } from '../../src/demo/traffic.js';

/** A Node HTTP server with a short keep-alive timeout (announced as `Keep-Alive: timeout=2`). */
const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => res.end('ok'));
server.keepAliveTimeout = 2000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

let server: ChildProcess | undefined;
afterEach(() => {
  server?.kill('SIGKILL');
  server = undefined;
});

async function startServer(): Promise<number> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  server = child;
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
}

/** Block this process's event loop (a loaded machine's stall) for `ms`. */
function stall(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy: no timer, no socket event runs meanwhile
  }
}

async function stalledRun(maxIdleMs: number | undefined): Promise<TrafficStats> {
  const port = await startServer();
  const traffic = startTraffic({
    port,
    ratePerSecond: 20,
    connections: 4,
    ...(maxIdleMs === undefined ? {} : { maxIdleMs }),
    next: () => ({ method: 'GET', path: '/', kind: 'x' }),
  });
  for (let round = 0; round < 4; round++) {
    await new Promise((r) => setTimeout(r, 400));
    // Past Node's agent timer (announced timeout - 1 s) and past the server's own 2 s: the
    // server closes the idle connections while this process cannot see it.
    stall(2600);
  }
  await new Promise((r) => setTimeout(r, 300));
  return traffic.stop();
}

describe('startTraffic', () => {
  it('never sends on a keep-alive connection the server may have closed, even after a long stall', {
    timeout: 30_000,
  }, async () => {
    const stats = await stalledRun(undefined);
    expect(stats.sent).toBeGreaterThan(100);
    expect(stats.failed, JSON.stringify(stats.failedAt)).toBe(0);
    expect(stats.ok).toBe(stats.sent);
    // The connections idle through each stall were closed by the client before reuse.
    expect(stats.staleClosed).toBeGreaterThan(0);
  });
});
