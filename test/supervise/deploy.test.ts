import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { isDancerError } from '../../src/errors.js';
import { type RunningService, runService } from '../../src/heal/run-service.js';
import { fixDeployFunctions } from '../../src/supervise/fix-deploy.js';
import { expectGone, get, makeServiceDir, waitFor } from './helpers.js';

const LISTEN = path.resolve(import.meta.dirname, '../../dist/supervise/listen.js');

/** The service under test: behaviour set by constants baked into each commit. */
function app(behaviour: {
  health?: number;
  error?: string;
  leakMb?: number;
  crashAfterReadyMs?: number;
  exitAtStart?: boolean;
}): string {
  return `import http from 'node:http';
import { listen } from ${JSON.stringify(LISTEN)};
const b = ${JSON.stringify(behaviour)};
if (b.exitAtStart) { console.error('fatal: cannot start'); process.exit(2); }
const log = (level, msg, extra = {}) => process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, msg, ...extra }) + '\\n');
let crashing = false;
let leaking = false;
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(b.health ?? 200).end();
    // crash loop: crash a moment after the first health check passed (whatever the machine load)
    if (b.crashAfterReadyMs && !crashing) { crashing = true; setTimeout(() => { log(60, 'boom'); process.exit(1); }, b.crashAfterReadyMs); }
    // leak: only once the health check passed, so a loaded machine cannot starve readiness
    if (b.leakMb && !leaking) { leaking = true; const hoard = []; setInterval(() => hoard.push(Buffer.alloc(b.leakMb * 1048576, 1)), 100); }
    return;
  }
  if (b.error) log(50, b.error + ' for ' + req.url, { err: { type: 'TypeError', message: b.error } });
  res.end(process.pid + ' ' + (process.env.DANCER_RELEASE ?? '') + '\\n');
  log(30, 'request done', { responseTime: 1 });
});
await listen(server);
`;
}

interface Env {
  dir: string;
  run: RunningService;
  port: number;
  git(...args: string[]): string;
  branch(name: string, behaviour: Parameters<typeof app>[0]): string;
  /** The tree of a ref: the release id. */
  tree(ref: string): string;
}

const runs: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (runs.length) await runs.pop()!();
});

async function setup(observe: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Env> {
  const dir = makeServiceDir({
    start: 'node app.mjs',
    observe: {
      windowSeconds: 1.5,
      checkEverySeconds: 0.2,
      baselineSeconds: 60,
      minRecords: 5,
      minErrors: 5,
      ...observe,
    },
    restart: { maxRestarts: 2, withinSeconds: 30, backoffInitialMs: 50, backoffMaxMs: 100 },
    ...extra,
  });
  const gitEnv = {
    ...process.env,
    GIT_AUTHOR_NAME: 'T',
    GIT_AUTHOR_EMAIL: 't@e',
    GIT_COMMITTER_NAME: 'T',
    GIT_COMMITTER_EMAIL: 't@e',
  };
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: dir, env: gitEnv, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  git('init', '-q', '-b', 'main');
  writeFileSync(path.join(dir, '.gitignore'), '.dancer/\n');
  writeFileSync(path.join(dir, 'app.mjs'), app({}));
  git('add', '-A');
  git('commit', '-q', '-m', 'good');
  const branch = (name: string, behaviour: Parameters<typeof app>[0]) => {
    git('checkout', '-q', '-b', name);
    writeFileSync(path.join(dir, 'app.mjs'), `${app(behaviour)}// ${name}\n`);
    git('commit', '-q', '--allow-empty', '-am', name);
    const sha = git('rev-parse', 'HEAD');
    git('checkout', '-q', 'main');
    return sha;
  };
  const started = new Set<number>();
  const run = await runService({
    loaded: loadConfig({ file: path.join(dir, 'dancer.yaml') }),
    signals: false,
    log: (m) => {
      const pid = /started worker pid (\d+)/.exec(m);
      if (pid) started.add(Number(pid[1]));
    },
  });
  const port = run.supervisor.boundSockets[0]!.port;
  runs.push(async () => {
    await run.stop();
    // no process left behind: every worker this test started is gone
    await expectGone([...started]);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, run, port, git, branch, tree: (ref) => git('rev-parse', `${ref}^{tree}`) };
}

/** Steady traffic until stopped; records every pid that answered and any failure. */
function traffic(env: Env) {
  let stop = false;
  const pids = new Set<number>();
  const failures: string[] = [];
  let ok = 0;
  const loop = (async () => {
    while (!stop) {
      try {
        const r = await get(env.port, '/work');
        if (r.status === 200) {
          ok++;
          pids.add(Number(r.body.split(' ')[0]));
        } else failures.push(`HTTP ${r.status}`);
      } catch (error) {
        failures.push((error as Error).message);
      }
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  return {
    pids,
    failures,
    ok: () => ok,
    async end() {
      stop = true;
      await loop;
    },
  };
}

describe('deploys, the observation window and rollback', () => {
  it('deploys a good commit into a release, passes the window, and rolls back fast without a rebuild', async () => {
    const env = await setup();
    const t = traffic(env);
    const first = env.tree('main');
    env.branch('feature', {});
    const tree = env.tree('feature');
    const outcome = await env.run.supervisor.deploy('feature');
    expect(outcome.status).toBe('succeeded');
    const status = env.run.supervisor.status();
    expect(status.currentRelease).toBe(tree);
    expect(status.previousRelease).toBe(first);
    expect(status.lastGoodRelease).toBe(tree);
    const served = await get(env.port, '/x');
    expect(served.body.trim().split(' ')[1]).toBe(tree);
    const rb = await env.run.supervisor.rollback({ reason: 'manual' });
    expect(rb.to).toBe(first);
    expect(rb.readyMs).toBeLessThan(2000);
    // The rolled-back release is not a rollback target; deploying it again reuses the build.
    await expect(env.run.supervisor.rollback({ reason: 'again' })).rejects.toThrow(/no good release/);
    const built = env.run.supervisor.store.getRelease('svc', tree)!.builtAt;
    expect((await env.run.supervisor.deploy('feature')).status).toBe('succeeded');
    expect(env.run.supervisor.store.getRelease('svc', tree)!.builtAt).toBe(built);
    await t.end();
    expect(t.failures).toEqual([]);
  });

  it('a commit whose tree already serves changes nothing; a known good tree is restored without a window', async () => {
    const env = await setup({ windowSeconds: 30 });
    const first = env.tree('main');
    env.git('commit', '-q', '--allow-empty', '-m', 'same tree');
    const same = await env.run.supervisor.deploy('main');
    expect(same.status).toBe('unchanged');
    expect(env.run.supervisor.store.listDeploys('svc', 5)).toEqual([]);
    env.branch('feature', {});
    await env.run.supervisor.deploy('feature', { noWait: true });
    await env.run.supervisor.rollback({ reason: 'manual' });
    env.git('checkout', '-q', '-b', 'restore', 'feature');
    env.git('revert', '--no-edit', 'HEAD');
    env.git('checkout', '-q', 'main');
    // back to feature (bad), then a revert commit with the first tree: a restore, not new code
    await env.run.supervisor.deploy('feature', { noWait: true });
    const restored = await env.run.supervisor.rollback({ reason: 'bad again' });
    expect(restored.to).toBe(first);
    expect(env.tree('restore')).toBe(first);
    const again = await env.run.supervisor.deploy('restore');
    expect(again.status).toBe('unchanged');
  }, 30_000);

  it('a new worker that fails readiness is killed; the old one keeps serving', async () => {
    const env = await setup();
    const before = Number((await get(env.port, '/x')).body.split(' ')[0]);
    const t = traffic(env);
    env.branch('unhealthy', { health: 503 });
    const error = await env.run.supervisor.deploy('unhealthy').catch((e: unknown) => e);
    expect(isDancerError(error, 'DANCER_NOT_READY')).toBe(true);
    await t.end();
    // (the unhealthy worker shared the socket while it was probed, so it may have answered too)
    expect(t.failures).toEqual([]);
    for (let i = 0; i < 10; i++) expect(Number((await get(env.port, '/x')).body.split(' ')[0])).toBe(before);
    const d = env.run.supervisor.store.listDeploys('svc', 1)[0]!;
    expect(d.status).toBe('rolled_back');
    expect(d.reason).toMatch(/^readiness_failed/);
    expect(env.run.supervisor.status().currentRelease).toBe(env.tree('main'));
  }, 20_000);

  it('a start failure is recorded and the old worker keeps serving', async () => {
    const env = await setup();
    env.branch('broken', { exitAtStart: true });
    await expect(env.run.supervisor.deploy('broken')).rejects.toThrow();
    const d = env.run.supervisor.store.listDeploys('svc', 1)[0]!;
    expect(d.reason).toMatch(/^start_failed/);
    expect((await get(env.port, '/x')).status).toBe(200);
  });

  const triggerCases: Array<[string, Parameters<typeof app>[0], Record<string, unknown>, RegExp]> = [
    ['error rate +50%', { error: 'db timeout' }, { newPatternMin: 100000 }, /error_rate/],
    ['a new error pattern', { error: 'brand new failure' }, { minErrors: 100000 }, /new_error_pattern/],
    ['a memory spike', { leakMb: 8 }, {}, /memory_(spike|limit)/],
    ['a crash loop', { crashAfterReadyMs: 300 }, { windowSeconds: 10 }, /crash_loop/],
  ];
  for (const [name, behaviour, observe, reason] of triggerCases) {
    it(`rolls back on ${name} and records why`, async () => {
      const env = await setup(observe);
      const t = traffic(env);
      // a baseline: some traffic and metric samples before the deploy, over long enough a time
      // that the window's rise is significant against it (a 1 s baseline cannot show one)
      const since = Date.now();
      await waitFor(() => t.ok() >= 20 && Date.now() - since >= 5000, 15_000, 'baseline traffic');
      env.branch('bad', behaviour);
      const outcome = await env.run.supervisor.deploy('bad');
      expect(outcome.status).toBe('rolled_back');
      const deploys = env.run.supervisor.store.listDeploys('svc', 5);
      const rb = deploys.find((d) => d.kind === 'rollback')!;
      const dep = deploys.find((d) => d.kind === 'deploy')!;
      expect(dep.status).toBe('rolled_back');
      expect(dep.reason).toMatch(reason);
      expect(rb.reason).toMatch(reason);
      expect(dep.verdict).toMatchObject({ verdict: 'rollback' });
      expect(env.run.supervisor.status().currentRelease).toBe(env.tree('main'));
      await t.end();
      if (!name.includes('crash')) expect(t.failures).toEqual([]);
      expect((await get(env.port, '/x')).status).toBe(200);
    }, 40_000);
  }

  it('a manual rollback during the window ends it and records the reason', async () => {
    const env = await setup({ windowSeconds: 30 });
    env.branch('feature', {});
    const outcome = env.run.supervisor.deploy('feature');
    await waitFor(() => env.run.supervisor.status().observing, 10_000, 'observing');
    await env.run.supervisor.rollback({ reason: 'manual', actor: 'alice' });
    const result = await outcome;
    expect(result.status).toBe('rolled_back');
    const dep = env.run.supervisor.store.listDeploys('svc', 5).find((d) => d.kind === 'deploy')!;
    expect(dep.status).toBe('rolled_back');
    expect(dep.reason).toBe('manual');
  });

  it('too little traffic extends the window, then is inconclusive until a human accepts', async () => {
    const env = await setup({ windowSeconds: 0.5, maxExtensions: 1, minRecords: 1000 });
    env.branch('quiet', {});
    const outcome = await env.run.supervisor.deploy('quiet');
    expect(outcome.status).toBe('inconclusive');
    const dep = env.run.supervisor.store.listDeploys('svc', 1)[0]!;
    expect(dep.extensions).toBe(1);
    expect(env.run.supervisor.status().lastGoodRelease).toBe(env.tree('main'));
    env.run.supervisor.accept('bob');
    expect(env.run.supervisor.store.getDeploy(dep.id)!.status).toBe('accepted');
    expect(env.run.supervisor.status().lastGoodRelease).toBe(dep.toRelease);
  });

  it('refuses to deploy while the emergency stop is engaged', async () => {
    const env = await setup();
    env.run.supervisor.store.setFlag('emergency_stop', '1', 'carol', 'incident');
    env.branch('feature', {});
    const error = await env.run.supervisor.deploy('feature').catch((e: unknown) => e);
    expect(isDancerError(error, 'DANCER_EMERGENCY_STOP')).toBe(true);
  });
});

describe('the fix pipeline deploy/observe functions', () => {
  it('deploy resolves once live, observe with the window verdict; a failed readiness is ok:false', async () => {
    const env = await setup();
    const t = traffic(env);
    const fns = fixDeployFunctions(env.run.supervisor);
    const sha = env.branch('fix-1', {});
    expect(await fns.deploy({ kind: 'fix', fixId: 7, commit: sha, patternId: '42' })).toEqual({ ok: true });
    expect(env.run.supervisor.status().currentRelease).toBe(env.tree(sha));
    const verdict = await fns.observe({ kind: 'fix', fixId: 7, commit: sha, patternId: '42' });
    expect(verdict.verdict).toBe('healthy');
    const row = env.run.supervisor.store.listDeploys('svc', 1)[0]!;
    expect(row).toMatchObject({ fixId: 7, targetTemplateId: 42, status: 'succeeded' });
    const bad = env.branch('fix-2', { health: 500 });
    const result = await fns.deploy({ kind: 'fix', fixId: 8, commit: bad, patternId: 'x' });
    expect(result.ok).toBe(false);
    await t.end();
    expect(t.failures).toEqual([]);
  }, 30_000);
});
