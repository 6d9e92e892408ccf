import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { openStore } from '../../src/store/open.js';
import { serviceOf, supervisorPaths } from '../../src/supervise/paths.js';
import { isAlive } from '../../src/supervise/proc.js';
import { Supervisor, type SupervisorHooks } from '../../src/supervise/supervisor.js';

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/services');

/** A temp folder with a dancer.yaml for `service` (merged over sane test defaults). */
export function makeServiceDir(service: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-sup-'));
  const config = {
    service: {
      name: 'svc',
      cwd: '.',
      listen: [{ name: 'http', port: 0, host: '127.0.0.1' }],
      readiness: { http: { path: '/healthz' }, timeoutSeconds: 5 },
      drainSeconds: 2,
      releasesDir: '.dancer/releases',
      restart: { maxRestarts: 3, withinSeconds: 30, backoffInitialMs: 50, backoffMaxMs: 200 },
      metrics: { sampleSeconds: 0.2 },
      ...service,
    },
    store: { path: '.dancer/dancer.db' },
    capture: { tee: 'none' },
    ...extra,
    // Fix worktrees in the temp dir, never under /var/dancer (the default outside tests).
    fixes: { worktreeBase: '.dancer/worktrees', ...(extra.fixes as Record<string, unknown> | undefined) },
  };
  writeFileSync(path.join(dir, 'dancer.yaml'), stringify(config));
  return dir;
}

/** A running in-process supervisor over a temp dir, and what the test needs to clean up. */
export interface Harness {
  dir: string;
  sup: Supervisor;
  pids: Set<number>;
  logs: string[];
  port(): number;
  close(): Promise<void>;
}

/** Create (not start) a supervisor for the service in `dir`. */
export function harness(dir: string, hooks: SupervisorHooks = {}): Harness {
  const loaded = loadConfig({ file: path.join(dir, 'dancer.yaml') });
  const paths = supervisorPaths(loaded);
  const db = openStore(paths.db);
  const pids = new Set<number>();
  const logs: string[] = [];
  const sup = new Supervisor({
    service: serviceOf(loaded),
    paths,
    db,
    hooks: {
      ...hooks,
      onLog: (m) => {
        logs.push(m);
        const pid = /worker pid (\d+)/.exec(m);
        if (pid) pids.add(Number(pid[1]));
      },
    },
  });
  return {
    dir,
    sup,
    pids,
    logs,
    port: () => sup.boundSockets[0]!.port,
    async close() {
      await sup.shutdown();
      db.close();
      await expectGone([...pids]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll /proc until every pid is gone (deadline 5 s). */
export async function expectGone(pids: number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter((p) => isAlive(p));
    if (alive.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes left behind: ${alive.join(', ')}`);
    await delay(25);
  }
}

/** Poll `fn` until it returns a truthy value (deadline). */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

/** GET a path on 127.0.0.1:port (no keep-alive); resolves with status and body. */
export function get(port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

/** A git repo in `dir` with the fixtures copied in, committed; returns a commit function. */
export function gitRepo(dir: string): { commit(message: string, files?: Record<string, string>): string } {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
  };
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: dir, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  git('init', '-q', '-b', 'main');
  writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
  return {
    commit(message, files = {}) {
      for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
      git('add', '-A');
      git('commit', '-q', '--allow-empty', '-m', message);
      return git('rev-parse', 'HEAD');
    },
  };
}
