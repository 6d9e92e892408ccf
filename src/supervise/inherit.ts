/**
 * Socket activation of `dancer run` itself: listening sockets handed down by its launcher
 * (systemd's .socket unit, or any launcher following the convention: fds 3.., LISTEN_FDS,
 * LISTEN_PID, LISTEN_FDNAMES). Such a socket outlives the supervisor, so the workers can keep
 * serving on it while a killed supervisor is restarted.
 */
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { DancerError } from '../errors.js';
import type { HeldSocket, SocketSpec } from './sockets.js';

/** The first inherited fd (systemd's SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** What the launcher passed: fds 3.. and their names (`unknown` when unnamed). */
export interface ListenFds {
  fds: number[];
  names: string[];
}

/**
 * The sockets passed to process `pid` by its launcher, read from `env` (pure). Undefined unless
 * LISTEN_PID names this very process and LISTEN_FDS is a count >= 1: a variable meant for
 * another process (a parent that did not clear it) is ignored, as sd_listen_fds(3) does.
 */
export function listenFdsFromEnv(env: NodeJS.ProcessEnv, pid: number): ListenFds | undefined {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return undefined;
  const count = Number(env.LISTEN_FDS);
  if (!Number.isInteger(count) || count < 1) return undefined;
  const given = (env.LISTEN_FDNAMES ?? '').split(':');
  const fds = Array.from({ length: count }, (_, i) => LISTEN_FDS_START + i);
  return { fds, names: fds.map((_, i) => given[i] || 'unknown') };
}

/**
 * Which inherited fd serves which configured socket (pure). By name when every configured
 * socket's name is among LISTEN_FDNAMES; otherwise by position, when the counts agree.
 *
 * @throws {DancerError} `DANCER_CONFIG_INVALID` when they cannot be matched.
 */
export function matchInherited(
  specs: readonly SocketSpec[],
  passed: ListenFds,
): Array<{ spec: SocketSpec; fd: number }> {
  const byName = specs.map((spec) => ({ spec, index: passed.names.indexOf(spec.name) }));
  if (byName.every((m) => m.index >= 0) && new Set(byName.map((m) => m.index)).size === byName.length) {
    return byName.map((m) => ({ spec: m.spec, fd: passed.fds[m.index] as number }));
  }
  if (passed.fds.length === specs.length) {
    return specs.map((spec, i) => ({ spec, fd: passed.fds[i] as number }));
  }
  throw new DancerError(
    'DANCER_CONFIG_INVALID',
    `dancer run was given ${passed.fds.length} socket(s) (${passed.names.join(', ')}) but service.listen names ${specs.length} (${specs.map((s) => s.name).join(', ')}): name them alike (FileDescriptorName=) or pass one per listen entry, in order.`,
    { details: { passed: passed.names, listen: specs.map((s) => s.name) } },
  );
}

interface RawTcp {
  fd: number;
  getsockname(out: { port?: number; address?: string }): number;
  close(cb?: () => void): void;
}

// Runs with an IPC channel on fd 3 and the inherited sockets on fds 4..: wraps each in a TCP
// handle without listening or accepting, and sends it back (SCM_RIGHTS). The copies Node
// receives are close-on-exec, unlike fds 3.. the launcher passed.
const COPY_HELPER = `
const net = require('net');
const fds = process.argv.slice(1).map(Number);
let sent = 0;
fds.forEach((fd, i) => {
  const h = net._createServerHandle(null, 0, 4, fd);
  if (typeof h === 'number') { process.stderr.write('fd ' + fd + ' is not a TCP socket (errno ' + h + ')'); process.exit(1); }
  process.send({ i }, h, () => { if (++sent === fds.length) process.disconnect(); });
});
`;

/**
 * Take the sockets the launcher passed (see {@link listenFdsFromEnv}) for `specs`: close-on-exec
 * copies replace fds 3.. (closed, so no build, gate step or agent inherits the production
 * socket), and LISTEN_* leave `env`. Undefined when nothing was passed to this process.
 *
 * @throws {DancerError} `DANCER_CONFIG_INVALID` when they do not match `specs` or are not TCP sockets.
 */
export async function takeInheritedSockets(
  specs: readonly SocketSpec[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<HeldSocket[] | undefined> {
  const passed = listenFdsFromEnv(env, process.pid);
  if (!passed) return undefined;
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  const matched = matchInherited(specs, passed);
  const handles = await copyHandles(matched.map((m) => m.fd));
  for (const fd of passed.fds) closeSync(fd);
  return matched.map((m, i) => {
    const handle = handles[i] as RawTcp;
    const out: { port?: number; address?: string } = {};
    handle.getsockname(out);
    let closed = false;
    return {
      name: m.spec.name,
      host: out.address ?? m.spec.host,
      port: out.port ?? m.spec.port,
      fd: handle.fd,
      inherited: true,
      close() {
        if (closed) return;
        closed = true;
        handle.close();
      },
    };
  });
}

function copyHandles(fds: readonly number[]): Promise<RawTcp[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', COPY_HELPER, ...fds.map((_, i) => String(4 + i))], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc', ...fds],
    });
    const got: RawTcp[] = [];
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.on('message', (message: { i: number }, handle: unknown) => {
      got[message.i] = handle as RawTcp;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0 && got.filter(Boolean).length === fds.length) resolve(got);
      else {
        for (const h of got) h?.close();
        reject(
          new DancerError('DANCER_CONFIG_INVALID', `The sockets passed to dancer run are unusable: ${stderr.trim()}`, {
            details: { fds, code },
          }),
        );
      }
    });
  });
}
