import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { DancerError, isDancerError } from '../errors.js';

/** A request on the control socket (one JSON object per line). */
export interface ControlRequest {
  id?: number;
  cmd: string;
  args?: Record<string, unknown>;
}

/** The answer: `result` or `error` (a DancerError's JSON). */
export interface ControlResponse {
  id?: number;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

/** A running control socket server. */
export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

/**
 * Serve `handler` on a unix socket at `socketPath`, inside a folder only the owner can enter
 * (0700) and with the socket itself 0600, so no other user can connect. A stale socket left by
 * a dead supervisor is replaced; a live one means another supervisor runs.
 *
 * @throws {DancerError} `DANCER_SUPERVISOR_RUNNING` when another supervisor answers on the socket.
 */
export async function startControlServer(
  socketPath: string,
  handler: (request: ControlRequest) => Promise<unknown>,
): Promise<ControlServer> {
  const dir = socketPath.slice(0, socketPath.lastIndexOf('/'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  if (existsSync(socketPath)) {
    if (await answers(socketPath)) {
      throw new DancerError('DANCER_SUPERVISOR_RUNNING', `A supervisor already runs on ${socketPath}.`, {
        details: { socket: socketPath },
      });
    }
    unlinkSync(socketPath);
  }
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
        if (line.trim()) void answer(socket, line, handler);
      }
    });
  });
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(socketPath, 0o600);
  return {
    path: socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function answer(
  socket: net.Socket,
  line: string,
  handler: (r: ControlRequest) => Promise<unknown>,
): Promise<void> {
  let request: ControlRequest;
  try {
    request = JSON.parse(line) as ControlRequest;
  } catch {
    write(socket, { ok: false, error: { code: 'DANCER_USAGE', message: 'control request is not JSON' } });
    return;
  }
  try {
    const result = await handler(request);
    write(socket, { id: request.id, ok: true, result });
  } catch (error) {
    const e = isDancerError(error)
      ? error.toJSON()
      : { code: 'DANCER_INTERNAL', message: (error as Error)?.message ?? String(error), details: {} };
    write(socket, { id: request.id, ok: false, error: e });
  }
}

function write(socket: net.Socket, response: ControlResponse): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Send one request to the supervisor listening on `socketPath` and return its result.
 *
 * @throws {DancerError} `DANCER_SUPERVISOR_UNREACHABLE` when nothing answers; the supervisor's
 * own error (same code) when the command failed there.
 */
export function controlRequest(
  socketPath: string,
  cmd: string,
  args: Record<string, unknown> = {},
  timeoutMs = 60_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new DancerError(
              'DANCER_SUPERVISOR_UNREACHABLE',
              `The supervisor did not answer "${cmd}" in ${timeoutMs} ms.`,
              {
                details: { socket: socketPath },
              },
            ),
          ),
        ),
      timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ id: 1, cmd, args })}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      const response = JSON.parse(buffer.slice(0, nl)) as ControlResponse;
      finish(() => {
        if (response.ok) resolve(response.result);
        else
          reject(
            new DancerError(
              (response.error?.code ?? 'DANCER_INTERNAL') as never,
              response.error?.message ?? 'supervisor error',
              { details: response.error?.details ?? {} },
            ),
          );
      });
    });
    socket.once('close', () =>
      finish(() =>
        reject(
          new DancerError(
            'DANCER_SUPERVISOR_UNREACHABLE',
            `The supervisor closed the connection before answering "${cmd}".`,
            {
              details: { socket: socketPath },
            },
          ),
        ),
      ),
    );
    socket.once('error', (error) =>
      finish(() =>
        reject(
          new DancerError('DANCER_SUPERVISOR_UNREACHABLE', `No supervisor answers on ${socketPath}: ${error.message}`, {
            cause: error,
            details: { socket: socketPath },
          }),
        ),
      ),
    );
  });
}
