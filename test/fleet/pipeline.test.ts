/**
 * The fleet's rollout driven by the healing loop, three hosts in one test process. Each host is
 * what `dancer run` composes: `runService` (its own SQLite store, supervisor and workers), the
 * fleet service (heartbeat, listener, rollout worker, gate, hand-off) and the healing loop with
 * the fleet's gate and hand-off. Real parts: a PostgreSQL 15 (src/testing/postgres.ts), git (a
 * bare remote and one clone per host), real releases built and handed off by each supervisor,
 * the real Claude Code binary against the scripted model server, the real gate.
 *
 * The same bug on all three hosts gives one consultation and one fix branch; the lease holder
 * pushes the merge and is the canary; the others deploy after it in wave order. A wrong fix
 * (its observation window fails on the canary) is rolled back there only; nobody else deploys it.
 * Needs `npm run build` first (the service imports dist/supervise/listen.js).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { type FleetPool, openFleetPool } from '../../src/fleet/connect.js';
import { type FleetService, startFleetService } from '../../src/fleet/service.js';
import { type HealingLoop, startHealingLoop } from '../../src/heal/loop.js';
import { type RunningService, runService } from '../../src/heal/run-service.js';
import type { TriggerEvent } from '../../src/patterns/detector.js';
import { type ModelServer, startModelServer } from '../../src/testing/model-server.js';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.js';
import type { ScenarioInput } from '../../src/testing/scenario.js';
import { PRICING_TEST, pricingFixScenario, WRONG_PRICING } from '../e2e/pricing-service.js';
import { expectGone, get, waitFor } from '../supervise/helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LISTEN = path.join(ROOT, 'dist/supervise/listen.js');
const HOSTS = ['h1', 'h2', 'h3'];

/** A price service with a refresh job that prices the catalogue every 100 ms (one item has no sku). */
const SERVER = `import http from 'node:http';
import { listen } from ${JSON.stringify(LISTEN)};
import { price } from './pricing.mjs';
const log = (level, msg, extra = {}) => process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, msg, ...extra }) + '\\n');
const release = process.env.DANCER_RELEASE ?? '';
setInterval(() => {
  for (const sku of ['a1', null, 'b2']) {
    try { price(sku); log(30, 'priced ' + sku); }
    catch (err) { log(50, err.message, { err: { type: err.constructor.name, message: err.message } }); }
  }
}, 100);
await listen(http.createServer((req, res) => {
  if (req.url === '/healthz') return void res.writeHead(200).end();
  res.end(release + '\\n');
}));
`;
const PRICING = `const TABLE = { a1: 10, b2: 20 };
export function price(sku) {
  return TABLE[sku.toLowerCase()];
}
`;
const GOOD_PRICING = `const TABLE = { a1: 10, b2: 20 };
export function price(sku) {
  if (!sku) return 0;
  return TABLE[sku.toLowerCase()];
}
`;
function scenario(pricing: string, summary: string): ScenarioInput {
  return pricingFixScenario({
    pricing,
    summary,
    read: ['pricing.mjs'],
    analysis: 'price(null) calls toLowerCase on null: a TypeError in the refresh job.',
    rootCause: 'The catalogue has an item without a sku.',
  });
}

function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'T',
      GIT_AUTHOR_EMAIL: 't@e',
      GIT_COMMITTER_NAME: 'T',
      GIT_COMMITTER_EMAIL: 't@e',
    },
  }).trim();
}

interface Host {
  name: string;
  repo: string;
  running: RunningService;
  fleet: FleetService;
  loop: HealingLoop;
  logs: string[];
  pids: Set<number>;
}

interface Fleet {
  root: string;
  bare: string;
  hosts: Host[];
  pool: FleetPool;
  base: string;
}

let pg: TestPostgres;
let model: ModelServer;
let dbCount = 0;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  pg = await startPostgres();
  model = await startModelServer({ scenario: { turns: [] } });
}, 60_000);
afterAll(async () => {
  await model?.close();
  await pg?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** A fleet of three hosts: one bare remote, one clone and one `dancer run` composition each. */
async function startFleet(autoApprove: 'none' | 'low' = 'low'): Promise<Fleet> {
  const url = await pg.createDatabase(`pipeline_${++dbCount}`);
  const root = mkdtempSync(path.join(tmpdir(), 'dancer-fleet-pipeline-'));
  const bare = path.join(root, 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  const seed = path.join(root, 'seed');
  mkdirSync(path.join(seed, 'test'), { recursive: true });
  sh(seed, 'init', '-q', '-b', 'main');
  writeFileSync(path.join(seed, '.gitignore'), '.dancer/\ndancer.yaml\n');
  writeFileSync(path.join(seed, 'server.mjs'), SERVER);
  writeFileSync(path.join(seed, 'pricing.mjs'), PRICING);
  writeFileSync(path.join(seed, 'test/pricing.test.mjs'), PRICING_TEST);
  sh(seed, 'add', '-A');
  sh(seed, 'commit', '-q', '-m', 'price service');
  sh(seed, 'push', '-q', bare, 'main');
  const base = sh(seed, 'rev-parse', 'HEAD');
  const pool = openFleetPool(url);
  const hosts: Host[] = [];
  cleanups.push(async () => {
    for (const h of hosts) {
      await h.loop.stop();
      await h.fleet.stop();
      await h.running.stop();
    }
    await pool.end();
    await expectGone(hosts.flatMap((h) => [...h.pids]));
    rmSync(root, { recursive: true, force: true });
  });
  for (const name of HOSTS) {
    const repo = path.join(root, name);
    execFileSync('git', ['clone', '-q', bare, repo]);
    sh(repo, 'config', 'user.name', 'T');
    sh(repo, 'config', 'user.email', 't@e');
    writeFileSync(
      path.join(repo, 'dancer.yaml'),
      stringify({
        service: {
          name: 'shop',
          start: 'node server.mjs',
          cwd: '.',
          releasesDir: '.dancer/releases',
          listen: [{ name: 'http', port: 0, host: '127.0.0.1' }],
          readiness: { http: { path: '/healthz' }, timeoutSeconds: 20 },
          drainSeconds: 1,
          observe: {
            windowSeconds: 3,
            baselineSeconds: 60,
            checkEverySeconds: 0.5,
            minRecords: 5,
            minErrors: 3,
            newPatternMin: 3,
            maxExtensions: 1,
          },
        },
        store: { path: '.dancer/dancer.db', batch: { maxDelayMs: 100 } },
        capture: { tee: 'none' },
        patterns: {
          triggers: {
            newPattern: { enabled: false },
            spike: { enabled: false },
            crash: { enabled: false },
            review: { enabled: false },
          },
        },
        consult: {
          model: 'claude-sonnet-4-5',
          baseUrl: model.url,
          routine: { maxTurns: 20, timeoutSeconds: 300 },
          urgent: { maxTurns: 20, timeoutSeconds: 300 },
        },
        fixes: {
          worktreeBase: '.dancer/worktrees',
          pushRemote: 'origin',
          gate: {
            steps: [{ name: 'test', run: 'node --test test/' }],
            stepTimeoutSeconds: 120,
            regression: { command: 'node --test {file}', timeoutSeconds: 120 },
          },
        },
        policy: { autoApprove, maxFiles: 5, maxLines: 120 },
        fleet: { postgres: { urlEnv: 'DANCER_FLEET_URL' }, host: name, canary: 1, waveSize: 1, leaseSeconds: 20 },
      }),
    );
    const loaded = loadConfig({ file: path.join(repo, 'dancer.yaml') });
    const logs: string[] = [];
    const pids = new Set<number>();
    const log = (m: string) => {
      logs.push(m);
      const pid = /started worker pid (\d+)/.exec(m);
      if (pid) pids.add(Number(pid[1]));
    };
    const running = await runService({ loaded, signals: false, log });
    const fleet = startFleetService({
      settings: loaded.config.fleet as NonNullable<typeof loaded.config.fleet>,
      db: running.db,
      supervisor: running.supervisor,
      repo,
      remote: 'origin',
      cooldownMinutes: loaded.config.fixes.retryCooldownMinutes,
      env: { DANCER_FLEET_URL: url },
      log: (m) => logs.push(`fleet: ${m}`),
    });
    const loop = startHealingLoop({
      running,
      loaded,
      pollMs: 100,
      env: { PATH: process.env.PATH, ANTHROPIC_API_KEY: 'sk-test', CLAUDE_CODE_MAX_RETRIES: '0' },
      log,
      fleetGate: fleet.gate,
      fleetPipeline: fleet.pipeline,
    });
    hosts.push({ name, repo, running, fleet, loop, logs, pids });
  }
  await Promise.all(hosts.map((h) => h.fleet.ready()));
  return { root, bare, hosts, pool, base };
}

/** The bug's template on a host (the refresh job's TypeError), once it was mined. */
function bugTemplate(h: Host): number | undefined {
  const row = h.running.db.prepare("SELECT id FROM templates WHERE text LIKE '%toLowerCase%' ORDER BY id").get() as
    | { id: number }
    | undefined;
  return row?.id;
}

/** The same bug triggers on every host at once (what each host's detector would emit). */
async function triggerEverywhere(f: Fleet): Promise<void> {
  const ids = new Map<string, number>();
  await waitFor(
    () => {
      for (const h of f.hosts) {
        const id = bugTemplate(h);
        if (id !== undefined) ids.set(h.name, id);
      }
      return ids.size === f.hosts.length;
    },
    30_000,
    'the bug mined on every host',
  );
  for (const h of f.hosts) {
    const trigger: TriggerEvent = {
      id: `t-${h.name}`,
      kind: 'new_pattern',
      templateId: ids.get(h.name),
      urgent: false,
      numbers: {},
      reason: 'the refresh job fails on an item without a sku',
      at: Date.now(),
      decisionId: 0,
    };
    h.running.detector?.emit('trigger', trigger);
  }
}

async function fleetFix(f: Fleet, states: string[]) {
  let row: { id: number; state: string; commit_sha: string; created_by: string; reason: string | null } | undefined;
  await waitFor(
    async () => {
      const r = await f.pool.query('SELECT id, state, commit_sha, created_by, reason FROM fleet_fixes ORDER BY id');
      row = r.rows[0];
      return row !== undefined && states.includes(row.state);
    },
    240_000,
    `the fleet fix ${states.join('/')}`,
  );
  return row as NonNullable<typeof row>;
}

async function events(f: Fleet, fixId: number) {
  const r = await f.pool.query(
    'SELECT host, event, (EXTRACT(EPOCH FROM at) * 1000)::float8 AS at FROM fleet_fix_events WHERE fix_id = $1 ORDER BY id',
    [fixId],
  );
  return r.rows as Array<{ host: string; event: string; at: number }>;
}

function localFixes(h: Host) {
  return h.running.db.prepare('SELECT id, state, branch, reason FROM fixes ORDER BY id').all() as Array<{
    id: number;
    state: string;
    branch: string;
    reason: string;
  }>;
}

function localDeploys(h: Host) {
  return h.running.db
    .prepare(
      "SELECT id, to_release AS toRelease, status, fix_id AS fixId FROM deploys WHERE kind = 'deploy' ORDER BY id",
    )
    .all() as Array<{ id: number; toRelease: string; status: string; fixId: number | null }>;
}

function fleetAudit(h: Host) {
  return h.running.db
    .prepare("SELECT target, detail FROM audit WHERE action = 'fleet_rollout' ORDER BY id")
    .all() as Array<{
    target: string;
    detail: string;
  }>;
}

function remoteBranches(f: Fleet): string[] {
  return sh(f.root, 'ls-remote', '--heads', f.bare)
    .split('\n')
    .map((l) => l.split('\t')[1] ?? '')
    .filter((r) => r.startsWith('refs/heads/dancer/'));
}

describe('a fleet fix driven by the healing loop', () => {
  it('consults once, waits for the approval, pushes one fix branch, deploys on the canary first, then wave by wave', async () => {
    model.setScenario(scenario(GOOD_PRICING, 'An item without a sku costs 0'));
    const f = await startFleet('none');
    await triggerEverywhere(f);
    // The policy wants a human: the lease holder's fix waits, holding the lease at `gating`.
    let holder: Host | undefined;
    await waitFor(
      () => {
        holder = f.hosts.find((h) => localFixes(h)[0]?.state === 'awaiting_approval');
        return holder !== undefined;
      },
      180_000,
      'a fix awaiting approval',
    );
    const waiting = holder as Host;
    const lease = async () => (await f.pool.query('SELECT stage, holder FROM fleet_leases')).rows;
    await waitFor(async () => (await lease())[0]?.stage === 'gating', 10_000, 'the lease at gating');
    expect(await lease()).toEqual([{ stage: 'gating', holder: waiting.name }]);
    expect((await f.pool.query('SELECT id FROM fleet_fixes')).rows).toEqual([]);
    expect(remoteBranches(f)).toEqual([]);
    await waiting.loop.actions.approve(localFixes(waiting)[0]?.id as number, 'human:alice@dancer.test');
    const fix = await fleetFix(f, ['deployed', 'stopped', 'rolled_back']);
    const dump = () => f.hosts.map((h) => `--- ${h.name}\n${h.logs.slice(-40).join('\n')}`).join('\n');
    expect(fix.state, dump()).toBe('deployed');
    const canary = fix.created_by;
    expect(canary).toBe(waiting.name);

    // One consultation fleet-wide: one lease holder, one local fix, one fix branch on the remote.
    const consultations = await f.pool.query('SELECT host FROM fleet_consultations');
    expect(consultations.rows.map((r) => r.host)).toEqual([canary]);
    const withFixes = f.hosts.filter((h) => localFixes(h).length > 0);
    expect(withFixes.map((h) => h.name)).toEqual([canary]);
    const [local] = localFixes(withFixes[0] as Host);
    expect(local?.state).toBe('deployed');
    expect(remoteBranches(f)).toEqual([`refs/heads/${local?.branch}`]);
    const localConsultations = f.hosts.map(
      (h) => (h.running.db.prepare('SELECT COUNT(*) AS n FROM consultations').get() as { n: number }).n,
    );
    expect(localConsultations.reduce((a, b) => a + b, 0)).toBe(1);
    // The merged main reached the shared remote: it is the commit every host deployed.
    expect(sh(f.root, '--git-dir', f.bare, 'rev-parse', 'refs/heads/main')).toBe(fix.commit_sha);
    expect(sh(f.root, '--git-dir', f.bare, 'merge-base', '--is-ancestor', f.base, fix.commit_sha)).toBe('');

    // The canary first; each later wave opens only after the earlier one passed its window.
    const ev = await events(f, fix.id);
    const others = HOSTS.filter((h) => h !== canary).sort();
    const at = (host: string, event: string) => {
      const e = ev.find((x) => x.host === host && x.event === event);
      if (!e) throw new Error(`no ${event} event for ${host}: ${JSON.stringify(ev)}`);
      return e.at;
    };
    const order = [canary, ...others];
    for (let i = 1; i < order.length; i++) {
      expect(at(order[i] as string, 'deploying')).toBeGreaterThanOrEqual(at(order[i - 1] as string, 'deployed'));
    }
    const waves = await f.pool.query('SELECT host, wave, state FROM fleet_deploys WHERE fix_id = $1 ORDER BY wave', [
      fix.id,
    ]);
    expect(waves.rows.map((r) => [r.host, r.wave, r.state])).toEqual(order.map((h, i) => [h, i, 'deployed']));

    // Every host's own supervisor built the release and serves the fix; main follows it.
    const tree = sh(f.root, '--git-dir', f.bare, 'rev-parse', `${fix.commit_sha}^{tree}`);
    for (const h of f.hosts) {
      expect(h.running.supervisor.status().currentRelease).toBe(tree);
      const port = h.running.supervisor.boundSockets[0]?.port as number;
      expect((await get(port, '/')).body.trim()).toBe(tree);
      expect(localDeploys(h).map((d) => [d.toRelease, d.status])).toEqual([[tree, 'succeeded']]);
      expect(sh(h.repo, 'rev-parse', 'refs/heads/main')).toBe(fix.commit_sha);
    }
    // On the canary the supervisor's deploy names the local fix.
    expect(localDeploys(withFixes[0] as Host)[0]?.fixId).toBe(local?.id);
    expect(await lease()).toEqual([{ stage: 'done', holder: null }]);
    expect(fleetAudit(waiting).map((a) => a.detail)).toEqual([
      expect.stringMatching(new RegExp(`^fleet fix ${fix.id} rolling out \\(${canary} deployed, `)),
    ]);
  }, 300_000);

  it('stops a wrong fix at the canary: rolled back there only, the other hosts never deploy it', async () => {
    model.setScenario(scenario(WRONG_PRICING, 'An item without a sku costs 0 (and only b2 is priced)'));
    const f = await startFleet();
    const releasesBefore = new Map(f.hosts.map((h) => [h.name, h.running.supervisor.status().currentRelease]));
    await triggerEverywhere(f);
    const fix = await fleetFix(f, ['deployed', 'stopped', 'rolled_back']);
    const dump = () => f.hosts.map((h) => `--- ${h.name}\n${h.logs.slice(-40).join('\n')}`).join('\n');
    expect(fix.state, dump()).toBe('stopped');
    const canary = fix.created_by;
    expect(fix.reason).toBe(`canary ${canary} rolled back`);
    const host = f.hosts.find((h) => h.name === canary) as Host;
    // The local fix says why, once its pipeline has recorded the rollback.
    await waitFor(() => localFixes(host)[0]?.state === 'rolled_back', 60_000, 'the local fix rolled back');
    // ...and its audit says what became of the rollout.
    await waitFor(() => fleetAudit(host).length > 0, 30_000, 'the local audit of the rollout');
    const [local] = localFixes(host);
    expect(local?.reason).toMatch(/new_error_pattern/);
    expect(fleetAudit(host)).toEqual([
      {
        target: `fix:${local?.id}`,
        detail: `fleet fix ${fix.id} stopped: canary ${canary} rolled back (${canary} rolled_back, ${HOSTS.filter(
          (h) => h !== canary,
        )
          .sort()
          .map((h) => `${h} skipped`)
          .join(', ')})`,
      },
    ]);
    await new Promise((r) => setTimeout(r, 1500)); // a late wake-up must not deploy anything

    const rows = await f.pool.query('SELECT host, wave, state FROM fleet_deploys WHERE fix_id = $1 ORDER BY wave', [
      fix.id,
    ]);
    const others = HOSTS.filter((h) => h !== canary).sort();
    expect(rows.rows.map((r) => [r.host, r.wave, r.state])).toEqual([
      [canary, 0, 'rolled_back'],
      [others[0], 1, 'skipped'],
      [others[1], 2, 'skipped'],
    ]);
    const ev = await events(f, fix.id);
    expect(ev.filter((e) => e.host !== canary).map((e) => e.event)).toEqual([]);
    // The canary deployed the fix and rolled back to the release before; nobody else deployed anything.
    expect(localDeploys(host).map((d) => d.status)).toEqual(['rolled_back']);
    for (const h of f.hosts) {
      expect(h.running.supervisor.status().currentRelease).toBe(releasesBefore.get(h.name));
      if (h.name !== canary) expect(localDeploys(h)).toEqual([]);
    }
    // The revert reached the shared remote: its main serves the tree from before the fix.
    expect(sh(f.root, '--git-dir', f.bare, 'rev-parse', 'refs/heads/main^{tree}')).toBe(
      sh(f.root, '--git-dir', f.bare, 'rev-parse', `${f.base}^{tree}`),
    );
    expect(sh(f.root, '--git-dir', f.bare, 'merge-base', '--is-ancestor', fix.commit_sha, 'refs/heads/main')).toBe('');
    // The lease ended failed; the pattern cools down fleet-wide.
    const lease = await f.pool.query('SELECT stage FROM fleet_leases');
    expect(lease.rows).toEqual([{ stage: 'failed' }]);
  }, 300_000);
});
