import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { DancerError } from '../errors.js';

// Node has no AF_UNIX datagram sockets. The sd_notify protocol needs one, on both sides:
// receiving READY=1 from workers (Dancer plays systemd for them) and sending READY=1 / WATCHDOG=1
// to systemd (when Dancer runs under it). Both are done by tiny helper processes: python3 for the
// receiver (it also reads SCM_CREDENTIALS, so a message is attributed to the sending pid), and
// `systemd-notify` (present wherever systemd is) or python3 for the sender.

const RECEIVER = `
import json, os, socket, struct, sys, threading
path = sys.argv[1]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o600)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
def watch_parent():
    sys.stdin.read()
    try:
        os.unlink(path)
    finally:
        os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()
sys.stdout.write('{"listening":true}\\n'); sys.stdout.flush()
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(12))
    pid = 0
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', payload[:12])[0]
    sys.stdout.write(json.dumps({'pid': pid, 'message': data.decode('utf-8', 'replace')}) + '\\n')
    sys.stdout.flush()
`;

const SENDER = `
import os, socket, sys
path = os.environ['NOTIFY_SOCKET']
if path.startswith('@'):
    path = '\\0' + path[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(sys.argv[1].encode(), path)
`;

/** One sd_notify datagram, attributed to the sender. */
export interface NotifyMessage {
  pid: number;
  /** Parsed `KEY=value` lines. */
  fields: Record<string, string>;
}

/** A NOTIFY_SOCKET Dancer listens on for its workers. */
export interface NotifyReceiver {
  readonly path: string;
  /** Emits `message` with a {@link NotifyMessage}. */
  readonly events: EventEmitter;
  close(): void;
}

/** The python3 executable, when installed. */
export function python3(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = `${dir}/python3`;
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Listen for sd_notify datagrams on `path` (a unix datagram socket).
 *
 * @throws {DancerError} `DANCER_SPAWN_FAILED` when python3 is missing or the socket cannot be bound.
 */
export async function createNotifyReceiver(path: string): Promise<NotifyReceiver> {
  const py = python3();
  if (!py) {
    throw new DancerError(
      'DANCER_SPAWN_FAILED',
      'readiness.notify needs python3 to receive sd_notify datagrams (Node has no unix datagram sockets); use readiness.http, tcp or logLine instead.',
    );
  }
  const child: ChildProcess = spawn(py, ['-c', RECEIVER, path], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events = new EventEmitter();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once('line', () => resolve());
    child.once('exit', (code) =>
      reject(new DancerError('DANCER_SPAWN_FAILED', `NOTIFY_SOCKET receiver exited (${code}): ${stderr.trim()}`)),
    );
  });
  lines.on('line', (line) => {
    try {
      const parsed = JSON.parse(line) as { pid: number; message: string };
      events.emit('message', { pid: parsed.pid, fields: parseNotify(parsed.message) } satisfies NotifyMessage);
    } catch {
      // not a message line
    }
  });
  return {
    path,
    events,
    close() {
      child.stdin?.end();
      child.kill('SIGTERM');
    },
  };
}

/** Parse an sd_notify payload (`READY=1\nSTATUS=...`). */
export function parseNotify(message: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of message.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/**
 * Send an sd_notify message (e.g. `READY=1`, `STATUS=...`, `WATCHDOG=1`) to `$NOTIFY_SOCKET`.
 * A no-op returning false when NOTIFY_SOCKET is unset. The unit needs `NotifyAccess=all`
 * (the datagram comes from a helper process); `dancer init --systemd` writes it.
 */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return false;
  const sdNotifyBin = ['/usr/bin/systemd-notify', '/bin/systemd-notify'].find((p) => existsSync(p));
  const py = python3();
  const result = py
    ? spawnSync(py, ['-c', SENDER, state], { env, stdio: 'ignore', timeout: 5000 })
    : sdNotifyBin
      ? spawnSync(sdNotifyBin, state.split('\n'), { env, stdio: 'ignore', timeout: 5000 })
      : undefined;
  return result?.status === 0;
}

/**
 * When systemd set WATCHDOG_USEC, ping WATCHDOG=1 (with a STATUS line) at half that period on
 * `timers`. Returns the interval handle, or undefined when there is no watchdog.
 */
export function startWatchdog(
  timers: { setInterval(fn: () => void, ms: number): unknown },
  status: () => string,
): unknown {
  const usec = Number(process.env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const every = Math.max(1000, usec / 1000 / 2);
  return timers.setInterval(() => sdNotify(`WATCHDOG=1\nSTATUS=${status()}`), every);
}
