/**
 * The failure path on a service shaped unlike the demo: files at the repository root, no build
 * step, tests with `node --test`, pino on stdout, socket mode. A wrong fix that passes the gate
 * is deployed once and rolled back; every answer names the pid and release that served it, so
 * the test shows that no request is answered by the bad release later than 2 s after the
 * rollback decision, and that HEAD's tree equals the serving release's tree afterwards.
 *
 * The agent here is a scripted function (the pipeline's RunAgent) that writes a plausible wrong
 * fix; the supervisor, releases, git, the gate (`node --test`), the store, the miner and the
 * observer are the real ones.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { fixesSchema, policySchema } from '../../src/config/schema/fixes.js';
import { getFix, type PipelineDeps, startFix } from '../../src/fixes/index.js';
import type { AgentOutcome, RunAgent } from '../../src/fixes/types.js';
import { startRollbackRecorder } from '../../src/heal/rollback-recorder.js';
import { type RunningService, runService } from '../../src/heal/run-service.js';
import { fixDeployFunctions } from '../../src/supervise/fix-deploy.js';
import { get } from '../supervise/helpers.js';
import { initPricingRepo, REGRESSION_TEST, WRONG_PRICING } from './pricing-service.js';

const wrongAgent: RunAgent = async (dir) => {
  writeFileSync(path.join(dir, 'pricing.mjs'), WRONG_PRICING);
  writeFileSync(path.join(dir, 'test/missing-sku.test.mjs'), REGRESSION_TEST);
  return {
    kind: 'fix',
    summary: 'A missing sku costs 0',
    analysis: 'price(null) throws a TypeError',
    regressionTest: 'test/missing-sku.test.mjs',
    filesChanged: ['pricing.mjs', 'test/missing-sku.test.mjs'],
    risk: 'low',
  } satisfies AgentOutcome;
};

interface Answer {
  at: number;
  pid: number;
  release: string;
  status: number;
}

interface Env {
  dir: string;
  run: RunningService;
  port: number;
  git(...args: string[]): string;
  deps: PipelineDeps;
  answers: Answer[];
  stopTraffic(): Promise<void>;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(service: Record<string, unknown> = {}): Promise<Env> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-failpath-'));
  const git = initPricingRepo(
    dir,
    {
      service: {
        name: 'shop',
        start: 'node server.mjs',
        releasesDir: '.dancer/releases', // in the test's folder, not /var/dancer/shop as root
        listen: [{ name: 'http', port: 0, host: '127.0.0.1' }],
        readiness: { http: { path: '/healthz' }, timeoutSeconds: 10 },
        drainSeconds: 1,
        observe: { windowSeconds: 4, checkEverySeconds: 0.25, minRecords: 5, minErrors: 5, newPatternMin: 3 },
        metrics: { sampleSeconds: 1 },
        ...service,
      },
      store: { path: '.dancer/dancer.db' },
      capture: { tee: 'none' },
    },
    { logAnswers: false },
  );
  const run = await runService({
    loaded: loadConfig({ file: path.join(dir, 'dancer.yaml') }),
    signals: false,
    log: () => {},
  });
  const port = run.supervisor.boundSockets[0]!.port;
  const answers: Answer[] = [];
  let stop = false;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      const sku = i % 3 === 0 ? '' : 'a1';
      const r = await get(port, sku === '' ? '/price' : `/price?sku=${sku}`).catch(() => undefined);
      if (r) {
        const [pid, release] = r.body.trim().split(' ');
        answers.push({ at: Date.now(), pid: Number(pid), release: release ?? '', status: r.status });
      }
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  const { deploy, observe } = fixDeployFunctions(run.supervisor);
  const deps: PipelineDeps = {
    db: run.db,
    repo: dir,
    worktreeBase: path.join(dir, '.dancer', 'worktrees'),
    fixes: fixesSchema.parse({
      gate: {
        steps: [{ name: 'test', run: `${process.execPath} --test test/` }],
        regression: { command: `${process.execPath} --test {file}` },
        stepTimeoutSeconds: 60,
      },
    }),
    policy: policySchema.parse({ autoApprove: 'low' }),
    runAgent: wrongAgent,
    deploy,
    observe,
  };
  const stopTraffic = async () => {
    stop = true;
    await loop;
  };
  const env: Env = {
    dir,
    run,
    port,
    git,
    deps,
    answers,
    stopTraffic,
    async close() {
      await stopTraffic();
      await run.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  cleanups.push(() => env.close());
  return env;
}

async function until<T>(what: string, ms: number, fn: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The TypeError of a missing sku: its template id, once mined. */
function bugTemplate(env: Env): number | undefined {
  const row = env.run.db
    .prepare("SELECT template_id AS t FROM logs WHERE err_type = 'TypeError' AND template_id IS NOT NULL LIMIT 1")
    .get() as { t: number } | undefined;
  return row?.t;
}

/** Write a figure line for bench/RESULTS.md when FAILPATH_FIGURES names a file. */
function figure(line: string): void {
  if (process.env.FAILPATH_FIGURES) appendFileSync(process.env.FAILPATH_FIGURES, `${line}\n`);
}

async function runWrongFix(env: Env) {
  const template = await until('the bug to be mined', 20_000, () => bugTemplate(env));
  const head0 = env.git('rev-parse', 'HEAD');
  const fix = await startFix(
    env.deps,
    { patternId: String(template), patternHash: `p${template}`, patternText: 'price failed', reason: 'new pattern' },
    { actor: 'detector' },
  );
  return { template, head0, fix };
}

function assertEndState(env: Env, fixId: number, rollbackRowId?: number) {
  const sup = env.run.supervisor;
  const fix = getFix(env.run.db, fixId);
  expect(fix.state).toBe('rolled_back');
  const deploys = sup.store.listDeploys('shop', 50);
  const badTree = env.git('rev-parse', `${fix.mergeCommit}^{tree}`);
  // exactly one deploy of the bad diff
  expect(deploys.filter((d) => d.kind === 'deploy' && d.toRelease === badTree)).toHaveLength(1);
  const rb = deploys.find((d) => d.kind === 'rollback' && (rollbackRowId === undefined || d.id === rollbackRowId));
  // HEAD's tree is the tree of the release serving
  expect(env.git('rev-parse', 'HEAD^{tree}')).toBe(sup.status().currentRelease);
  // recorded in git: a dancer/rollback-* branch with the revert, merged with --no-ff
  expect(env.git('log', '-1', '--format=%s', 'HEAD')).toMatch(/^Roll back dancer fix \d+/);
  expect(env.git('rev-list', '--parents', '-n', '1', 'HEAD').split(' ')).toHaveLength(3);
  expect(env.git('branch', '--list', 'dancer/rollback-*')).toMatch(/dancer\/rollback-\d{8}-\d{4}/);
  return { fix, badTree, rb: rb! };
}

describe('the failure path on a root-files, no-build, node --test service', () => {
  it('a wrong fix that passes the gate is deployed once and rolled back: no bad answer 2 s after the decision', {
    timeout: 120_000,
  }, async () => {
    const env = await setup();
    const { template, fix } = await runWrongFix(env);
    expect(fix.state).toBe('rolled_back');
    await until('the recorder to settle', 10_000, () => getFix(env.run.db, fix.id).rollbackCommit ?? undefined);
    const { badTree, rb } = assertEndState(env, fix.id);
    const decidedAt = rb.startedAt;
    const late = env.answers.filter((a) => a.release === badTree && a.at > decidedAt + 2000);
    expect(late).toEqual([]);
    const servedMs = (rb.readyAt ?? 0) - decidedAt;
    expect(servedMs).toBeLessThanOrEqual(2000);
    // the rollback is recorded with its actor and reason
    const event = env.run.db
      .prepare("SELECT actor, reason FROM fix_events WHERE fix_id = ? AND to_state = 'rolled_back'")
      .get(fix.id) as { actor: string; reason: string };
    expect(event.actor).toBe('supervisor');
    expect(event.reason).toMatch(/new error pattern|error rate/);
    // keep serving a while after the rollback, then: one template for the bug across releases
    const after = env.answers.length;
    await until('answers after the rollback', 10_000, () => env.answers.length > after + 30);
    await env.stopTraffic();
    await new Promise((r) => setTimeout(r, 500));
    const ids = env.run.db
      .prepare("SELECT DISTINCT template_id AS t FROM logs WHERE err_type = 'TypeError'")
      .all() as Array<{ t: number | null }>;
    expect(ids.map((r) => r.t)).toEqual([template]);
    const releases = new Set(env.answers.map((a) => a.release));
    expect(releases.size).toBeGreaterThanOrEqual(2);
    const badAfter = env.answers.filter((a) => a.release === badTree && a.at > decidedAt).length;
    const badDeploy = env.run.supervisor.store
      .listDeploys('shop', 50)
      .find((d) => d.kind === 'deploy' && d.toRelease === badTree)!;
    const startMs = (badDeploy.readyAt ?? 0) - badDeploy.startedAt;
    const consultations = env.run.db
      .prepare('SELECT COUNT(*) AS n FROM fixes WHERE pattern_id = ?')
      .get(String(template)) as {
      n: number;
    };
    figure(
      `wrong fix, automatic rollback: decision -> old release serving ${servedMs} ms (the bad release's own deploy, build + start + readiness, took ${startMs} ms in the same run: ratio ${(servedMs / startMs).toFixed(2)}); bad-release answers after the decision ${badAfter}, after decision + 2 s ${late.length}; deploys of the bad diff 1; consultations for the pattern ${consultations.n}`,
    );
  });

  it('a manual rollback gives the same end state', { timeout: 120_000 }, async () => {
    const env = await setup({
      observe: { windowSeconds: 60, checkEverySeconds: 0.25, minRecords: 5, newPatternMin: 100000, minErrors: 100000 },
    });
    const recorder = startRollbackRecorder({ supervisor: env.run.supervisor, deps: () => env.deps, log: () => {} });
    cleanups.push(() => recorder.stop());
    const started = runWrongFix(env);
    const observing = await until(
      'the wrong fix to serve',
      60_000,
      () => env.run.supervisor.status().observing ?? undefined,
    );
    const outcome = await env.run.supervisor.rollback({ reason: 'pricing broken for a1', actor: 'alice' });
    expect(outcome.fixId).toBeDefined();
    const { fix } = await started;
    await recorder.record(outcome);
    const { badTree } = assertEndState(env, fix.id, outcome.deployId);
    expect(badTree).toBe(observing.release);
    const late = env.answers.filter((a) => a.release === badTree && a.at > outcome.decidedAt + 2000);
    expect(late, JSON.stringify({ decidedAt: outcome.decidedAt, readyMs: outcome.readyMs, late })).toEqual([]);
    figure(
      `wrong fix, manual rollback: decision -> old release serving ${outcome.readyMs} ms; bad-release answers after decision + 2 s: ${late.length}`,
    );
  });

  it('a wrong fix that breaks a request the smoke list covers never serves a user request', {
    timeout: 120_000,
  }, async () => {
    const env = await setup({ smoke: [{ path: '/price?sku=a1', status: 200 }] });
    const { fix } = await runWrongFix(env);
    expect(fix.state).toBe('rolled_back');
    const badTree = env.git('rev-parse', `${fix.mergeCommit}^{tree}`);
    const deploy = env.run.supervisor.store.listDeploys('shop', 10).find((d) => d.toRelease === badTree)!;
    expect(deploy.status).toBe('failed');
    expect(deploy.reason).toMatch(/^smoke_failed/);
    expect(env.answers.filter((a) => a.release === badTree)).toEqual([]);
    expect(env.git('rev-parse', 'HEAD^{tree}')).toBe(env.run.supervisor.status().currentRelease);
    figure(`wrong fix caught by service.smoke: user answers by the bad release 0; deploy ${deploy.status}`);
  });
});
