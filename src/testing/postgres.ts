/**
 * A real PostgreSQL for tests: `initdb` into a temp dir, `postgres` on a free port of 127.0.0.1
 * with its unix socket in the same dir. As root, both run as `nobody` (PostgreSQL refuses root).
 * Debian's `postgresql` package provides the binaries (`/usr/lib/postgresql/<v>/bin`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { DancerError } from '../errors.js';

/** A running test PostgreSQL. */
export interface TestPostgres {
  /** Connection URL (`postgres://dancer@127.0.0.1:<port>/dancer`). */
  url: string;
  port: number;
  dir: string;
  /** A fresh, empty database on the same server; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown, then remove the data dir. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /** Folder holding initdb and postgres. Default: the newest `/usr/lib/postgresql/<v>/bin`. */
  binDir?: string;
  /** How long to wait for the server to accept connections, ms. Default 30000. */
  readyTimeoutMs?: number;
}

/** The PostgreSQL binaries folder, or undefined when none is installed. */
export function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHook = false;

/** Start a throwaway PostgreSQL. Stop it with {@link TestPostgres.stop}; a process exit kills it too. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  const bin = options.binDir ?? findPostgresBin();
  if (!bin) {
    throw new DancerError(
      'DANCER_FLEET_UNAVAILABLE',
      'PostgreSQL is not installed (no /usr/lib/postgresql/<v>/bin/initdb): apt-get install postgresql',
    );
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dancer-pg-'));
  const asRoot = process.getuid?.() === 0;
  const drop = asRoot ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'] : [];
  if (asRoot) chownSync(dir, 65534, 65534);
  const data = path.join(dir, 'data');
  const run = (file: string, args: string[]) => {
    const argv = [...drop, file, ...args];
    return { cmd: argv[0] as string, args: argv.slice(1) };
  };
  const init = run(path.join(bin, 'initdb'), ['-D', data, '-U', 'dancer', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  try {
    execFileSync(init.cmd, init.args, { stdio: 'pipe', cwd: dir, env: { ...process.env, LC_ALL: 'C' } });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new DancerError(
      'DANCER_FLEET_UNAVAILABLE',
      `initdb failed: ${String((error as { stderr?: Buffer }).stderr ?? error)}`,
      {
        cause: error,
      },
    );
  }
  const port = await freePort();
  const server = run(path.join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'shared_buffers=16MB',
    '-c',
    'max_connections=60',
  ]);
  const child = spawn(server.cmd, server.args, {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  live.add(child);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  const url = `postgres://dancer@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    live.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new DancerError('DANCER_FLEET_UNAVAILABLE', `postgres exited at start: ${stderr}`);
    }
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      break;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        await stop();
        throw new DancerError('DANCER_FLEET_UNAVAILABLE', `postgres did not accept connections: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    port,
    dir,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new DancerError('DANCER_USAGE', `bad database name ${name}`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://dancer@127.0.0.1:${port}/${name}`;
    },
    stop,
  };
}
