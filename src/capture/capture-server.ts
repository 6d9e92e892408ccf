import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DancerError, errorMessage } from '../errors.js';
import type { LogRecord } from '../store/index.js';
import { parseLine } from './parse-line.js';
import { DEFAULT_MAX_RECORD_BYTES, LineSplitter } from './raw-line.js';

/** Environment variable through which `dancer run` tells `dancer/pino` where to send records. */
export const CAPTURE_SOCKET_ENV = 'DANCER_CAPTURE_SOCKET';

/**
 * A control line a transport sends among its records: drops it had to make on its side
 * (overload, supervisor unreachable), so the supervisor can persist them.
 */
export interface DroppedNotice {
  dancer: 'dropped';
  reason: string;
  count: number;
}

/** Options for {@link createCaptureServer}. */
export interface CaptureServerOptions {
  /** Unix socket path to listen on (its directory is created 0700 if missing). */
  socketPath: string;
  /** Receives every record (parsed as `stream: 'pino'`). Should not block. */
  onRecord: (record: LogRecord) => void;
  /** A transport announced itself (`{"dancer":"hello","pid":N}`): its records come here, not only on stdout. */
  onHello?: ((pid: number | undefined) => void) | undefined;
  /** Receives drop counts reported by transports. */
  onDropped?: ((reason: string, count: number) => void) | undefined;
  /** `capture.maxRecordBytes`. Default 1 MiB. */
  maxRecordBytes?: number | undefined;
  /** Clock (ms). Default `Date.now`. */
  now?: (() => number) | undefined;
}

/** A listening capture server. */
export interface CaptureServer {
  readonly socketPath: string;
  /** Connected transports right now. */
  readonly connections: number;
  /** Records received so far. */
  readonly records: number;
  /** Stop listening, drop connections (after reading what they sent), remove the socket file. */
  close(): Promise<void>;
}

/**
 * Listen on a unix socket for records from `dancer/pino` transports running under `dancer run`
 * (they find the path in `DANCER_CAPTURE_SOCKET`). Each line is a JSON log line as pino wrote it
 * (parsed here with the same parser as any other input) or a {@link DroppedNotice}. The socket
 * file is made owner-only (0600). A stale socket file left by a dead supervisor is replaced; a
 * live one is not.
 *
 * @throws {DancerError} `DANCER_SUPERVISOR_RUNNING` when another process answers on the path,
 * `DANCER_CAPTURE_INPUT_FAILED` when the socket cannot be created.
 */
export async function createCaptureServer(options: CaptureServerOptions): Promise<CaptureServer> {
  const socketPath = path.resolve(options.socketPath);
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const now = options.now ?? Date.now;
  mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  await removeStaleSocket(socketPath);

  const sockets = new Set<net.Socket>();
  let records = 0;
  const parseOptions = { now: 0, stream: 'pino', maxRecordBytes };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const splitter = new LineSplitter(maxRecordBytes);
    const onLine = (raw: Parameters<Parameters<LineSplitter['push']>[1]>[0]) => {
      if (raw.tail === null && raw.head.length > 10 && raw.head.subarray(0, 10).toString() === '{"dancer":') {
        const text = raw.head.toString();
        if (text.startsWith('{"dancer":"hello"')) {
          const pid = /"pid":(\d+)/.exec(text)?.[1];
          options.onHello?.(pid === undefined ? undefined : Number(pid));
          return;
        }
        const notice = readNotice(text);
        if (notice) {
          options.onDropped?.(notice.reason, notice.count);
          return;
        }
      }
      parseOptions.now = now();
      const parsed = parseLine(raw, parseOptions);
      if (parsed === null) return;
      records++;
      options.onRecord(parsed.record);
    };
    socket.on('data', (chunk: Buffer) => splitter.push(chunk, onLine));
    socket.on('end', () => splitter.end(onLine));
    socket.on('error', () => {
      // A transport that dies mid-write: what it sent is kept; the connection is just gone.
    });
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new DancerError('DANCER_CAPTURE_INPUT_FAILED', `Cannot listen on ${socketPath}: ${errorMessage(error)}`, {
          cause: error,
          details: { socketPath },
        }),
      ),
    );
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);

  return {
    socketPath,
    get connections() {
      return sockets.size;
    },
    get records() {
      return records;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => {
          try {
            unlinkSync(socketPath);
          } catch {
            // Already gone (net removes it on close on some platforms).
          }
          resolve();
        });
        for (const socket of sockets) socket.end();
        // Sockets that do not close on their own within a second are destroyed.
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, 1000).unref();
      });
    },
  };
}

function readNotice(line: string): DroppedNotice | undefined {
  try {
    const v = JSON.parse(line) as Partial<DroppedNotice>;
    if (v.dancer === 'dropped' && typeof v.reason === 'string' && typeof v.count === 'number' && v.count > 0) {
      return { dancer: 'dropped', reason: v.reason, count: Math.trunc(v.count) };
    }
  } catch {
    // Not a notice after all: parsed as a record by the caller.
  }
  return undefined;
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(socketPath).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new DancerError('DANCER_CAPTURE_INPUT_FAILED', `${socketPath} exists and is not a socket`, {
      details: { socketPath },
    });
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw new DancerError('DANCER_SUPERVISOR_RUNNING', `Another process is listening on ${socketPath}`, {
      details: { socketPath },
    });
  }
  unlinkSync(socketPath);
}
