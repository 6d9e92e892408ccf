/**
 * The whole loop on a service shaped unlike the demo (files at the repository root, no build
 * step, tests with `node --test`, pino on stdout, socket mode), driven end to end: `dancer run`
 * as a child process, its detector's trigger, the real Claude Code binary against the scripted
 * model server, the real gate in its sandbox, real releases and git. Two runs: a good fix (healed)
 * and a plausible wrong fix that passes the gate (rolled back). Every answer names the pid and
 * release that served it, so the test says which code answered each request. The service logs
 * each answer (info) and each failure (error) with pino, as such services do.
 * Needs `npm run build` first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, isListening } from '../../src/demo/traffic.js';
import { StoreWatcher } from '../../src/demo/watch.js';
import { type ModelServer, startModelServer } from '../../src/testing/model-server.js';
import type { ScenarioInput } from '../../src/testing/scenario.js';
import { get } from '../supervise/helpers.js';
import { killAll, strayProcesses, waitFor } from './helpers.js';
import { initPricingRepo, pricingFixScenario, WRONG_PRICING } from './pricing-service.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'dancer.js');

const GOOD_PRICING = `const TABLE = { a1: 10, b2: 20 };
export function price(sku) {
  if (!sku) return 0;
  return TABLE[sku.toLowerCase()] * 1;
}
`;
/** What the scripted model makes the real Claude Code binary do: read, write the fix and its test, submit. */
function scenario(pricing: string, summary: string): ScenarioInput {
  return pricingFixScenario({
    pricing,
    summary,
    read: ['pricing.mjs', 'server.mjs'],
    analysis: 'price(null) calls toLowerCase on null: a TypeError answered 500.',
    rootCause: 'The handler passes a missing sku as null.',
  });
}

interface Answer {
  at: number;
  pid: number;
  release: string;
  status: number;
  missingSku: boolean;
}

interface Run {
  root: string;
  repo: string;
  model: ModelServer;
  supervisor: ChildProcess;
  /** Start another `dancer run` on the same repository (after a kill); cleaned up like the first. */
  restart(): ChildProcess;
  watcher: StoreWatcher;
  answers: Answer[];
  git(...args: string[]): string;
  query<T>(sql: string, ...params: unknown[]): T[];
  log(): string;
  stopTraffic(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(script: ScenarioInput): Promise<Run> {
  const root = mkdtempSync(path.join(tmpdir(), 'dancer-failpath-agent-'));
  const repo = path.join(root, 'shop');
  const model = await startModelServer({ scenario: script, recordFile: path.join(root, 'model-requests.jsonl') });
  const port = await freePort();
  const git = initPricingRepo(
    repo,
    {
      service: {
        name: 'shop',
        start: 'node server.mjs',
        releasesDir: '.dancer/releases',
        listen: [{ name: 'http', port, host: '127.0.0.1' }],
        readiness: { http: { path: '/healthz', port }, timeoutSeconds: 20 },
        drainSeconds: 1,
        observe: {
          windowSeconds: 6,
          baselineSeconds: 60,
          checkEverySeconds: 0.5,
          minRecords: 10,
          minErrors: 5,
          newPatternMin: 3,
          maxExtensions: 1,
        },
      },
      store: { path: '.dancer/dancer.db', batch: { maxDelayMs: 100 } },
      capture: { tee: 'none' },
      patterns: {
        triggers: {
          newPattern: { minCount: 10, windowMinutes: 5 },
          review: { enabled: false },
          spike: { enabled: false },
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
        gate: {
          steps: [{ name: 'test', run: 'node --test test/' }],
          stepTimeoutSeconds: 120,
          regression: { command: 'node --test {file}', timeoutSeconds: 120 },
        },
      },
      policy: { autoApprove: 'low', maxFiles: 5, maxLines: 120 },
    },
    { logAnswers: true },
  );
  const logFile = path.join(root, 'supervisor.log');
  const spawnSupervisor = () => {
    const out = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(process.execPath, [BIN, 'run', '--config', path.join(repo, 'dancer.yaml')], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: '1', ANTHROPIC_API_KEY: 'sk-scripted-e2e-key', ANTHROPIC_BASE_URL: model.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    return child;
  };
  const supervisor = spawnSupervisor();
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-6000);
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 90_000;
  while (!(await isListening(port))) {
    if (supervisor.exitCode !== null) throw new Error(`dancer run exited:\n${log()}`);
    if (Date.now() > deadline) throw new Error(`the service did not listen:\n${log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const watcher = new StoreWatcher(path.join(repo, '.dancer', 'dancer.db'));
  const answers: Answer[] = [];
  let stop = false;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      const missingSku = i % 3 === 0;
      const r = await get(port, missingSku ? '/price' : '/price?sku=a1').catch(() => undefined);
      if (r) {
        const [pid, release] = r.body.trim().split(' ');
        answers.push({ at: Date.now(), pid: Number(pid), release: release ?? '', status: r.status, missingSku });
      }
      await new Promise((res) => setTimeout(res, 15));
    }
  })();
  const stopTraffic = async () => {
    stop = true;
    await loop;
  };
  const restarted: ChildProcess[] = [];
  const run: Run = {
    root,
    repo,
    model,
    supervisor,
    restart() {
      const child = spawnSupervisor();
      restarted.push(child);
      return child;
    },
    watcher,
    answers,
    git,
    query<T>(sql: string, ...params: unknown[]) {
      try {
        return watcher.query<T>(sql, ...params);
      } catch {
        return [];
      }
    },
    log,
    stopTraffic,
  };
  cleanups.push(async () => {
    await stopTraffic();
    for (const child of [supervisor, ...restarted]) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      });
    }
    watcher.close();
    await model.close();
    const stray = await strayProcesses(root);
    killAll(stray);
    rmSync(root, { recursive: true, force: true });
    expect(stray, 'processes left under the test dir').toEqual([]);
  });
  return run;
}

interface FixRow {
  id: number;
  state: string;
  pattern_id: string;
  merge_commit: string | null;
}

async function fixEnded(run: Run, ms: number): Promise<FixRow> {
  return waitFor('a fix to end', ms, () => {
    if (run.supervisor.exitCode !== null) throw new Error(`dancer run exited:\n${run.log()}`);
    return run
      .query<FixRow>('SELECT id, state, pattern_id, merge_commit FROM fixes ORDER BY id')
      .find((f) => ['deployed', 'rolled_back', 'failed', 'rejected'].includes(f.state));
  });
}

/** The TypeError of a missing sku has one template id across every release. */
function bugTemplates(run: Run): Array<number | null> {
  return run
    .query<{ t: number | null }>("SELECT DISTINCT template_id AS t FROM logs WHERE err_type = 'TypeError'")
    .map((r) => r.t);
}

describe('the loop on a root-files, no-build, node --test, pino, socket-mode service (real Claude Code binary)', () => {
  it('a good fix heals: after its handoff every missing-sku request is answered 200 by the fix release', {
    timeout: 420_000,
  }, async () => {
    const run = await start(scenario(GOOD_PRICING, 'A missing sku costs 0'));
    const fix = await fixEnded(run, 300_000);
    expect(fix.state, run.log()).toBe('deployed');
    const fixTree = run.git('rev-parse', `${fix.merge_commit}^{tree}`);
    const deploy = run.query<{ ready_at: number; status: string }>(
      "SELECT ready_at, status FROM deploys WHERE kind = 'deploy' AND to_release = ?",
      fixTree,
    );
    expect(deploy).toHaveLength(1);
    expect(deploy[0]!.status).toBe('succeeded');
    const live = deploy[0]!.ready_at;
    const after = run.answers.length;
    await waitFor('answers after the fix', 30_000, () => (run.answers.length > after + 30 ? true : undefined));
    await run.stopTraffic();
    // before: the missing sku failed on the HEAD release; after the handoff (+2 s): only the fix answers, all 200
    const headTree = run.git('rev-parse', `${fix.merge_commit}^1^{tree}`);
    expect(run.answers.some((a) => a.missingSku && a.status === 500 && a.release === headTree)).toBe(true);
    const late = run.answers.filter((a) => a.at > live + 2000);
    expect(late.length).toBeGreaterThan(30);
    expect(late.filter((a) => a.release !== fixTree)).toEqual([]);
    expect(late.filter((a) => a.status !== 200)).toEqual([]);
    expect(run.git('rev-parse', 'HEAD^{tree}')).toBe(fixTree);
    expect(bugTemplates(run)).toEqual([Number(fix.pattern_id)]);
    expect(run.query('SELECT id FROM fixes')).toHaveLength(1);
  });

  it('a wrong fix that passes the gate is deployed once and rolled back: no bad answer 2 s after the decision, no loop', {
    timeout: 420_000,
  }, async () => {
    const run = await start(scenario(WRONG_PRICING, 'A missing sku costs 0'));
    const fix = await fixEnded(run, 300_000);
    expect(fix.state, run.log()).toBe('rolled_back');
    const badTree = run.git('rev-parse', `${fix.merge_commit}^{tree}`);
    const [rb] = run.query<{ started_at: number; ready_at: number; to_release: string }>(
      "SELECT started_at, ready_at, to_release FROM deploys WHERE kind = 'rollback' AND fix_id = ?",
      fix.id,
    );
    expect(rb, run.log()).toBeDefined();
    expect(rb!.ready_at - rb!.started_at).toBeLessThanOrEqual(2000);
    // keep serving past the decision, and past the time a second fix could have started
    await new Promise((r) => setTimeout(r, 8000));
    await run.stopTraffic();
    expect(run.answers.some((a) => a.release === badTree)).toBe(true);
    expect(run.answers.filter((a) => a.release === badTree && a.at > rb!.started_at + 2000)).toEqual([]);
    expect(
      run.answers.filter((a) => a.at > rb!.started_at + 2000 && a.release === rb!.to_release).length,
    ).toBeGreaterThan(0);
    // exactly one deploy of the bad diff; at most maxAttemptsPerPattern (2) consultations for the pattern
    expect(run.query("SELECT id FROM deploys WHERE kind = 'deploy' AND to_release = ?", badTree)).toHaveLength(1);
    const consultations = run.query<{ n: number }>(
      'SELECT COUNT(*) AS n FROM fixes WHERE pattern_id = ?',
      fix.pattern_id,
    )[0]!.n;
    expect(consultations).toBeLessThanOrEqual(2);
    expect(consultations).toBe(1); // the retry cooldown (30 min) holds a second attempt back
    expect(bugTemplates(run)).toEqual([Number(fix.pattern_id)]);
    // main records the revert: HEAD's tree is the serving release's tree
    await waitFor('the revert on main', 30_000, () =>
      run.git('rev-parse', 'HEAD^{tree}') === rb!.to_release ? true : undefined,
    );
    expect(run.git('log', '-1', '--first-parent', '--format=%s')).toMatch(
      new RegExp(`^Roll back dancer fix ${fix.id}`),
    );
  });

  it('a kill -9 of the supervisor between the rollback decision and the revert commit resumes to the same end state', {
    timeout: 420_000,
  }, async () => {
    const run = await start(scenario(WRONG_PRICING, 'A missing sku costs 0'));
    // git runs prepare-commit-msg even with --no-verify: it holds the revert commit until the kill
    const reached = path.join(run.root, 'hook-reached');
    const release = path.join(run.root, 'hook-release');
    const hook = path.join(run.repo, '.git', 'hooks', 'prepare-commit-msg');
    writeFileSync(
      hook,
      `#!/bin/sh\ngrep -q '^Roll back dancer fix' "$1" || exit 0\ntouch '${reached}'\nwhile [ ! -f '${release}' ]; do sleep 0.1; done\nexit 1\n`,
    );
    chmodSync(hook, 0o755);
    await waitFor('the revert commit of the rollback to start', 300_000, () => {
      if (run.supervisor.exitCode !== null) throw new Error(`dancer run exited:\n${run.log()}`);
      return existsSync(reached) ? true : undefined;
    });
    const [rb] = run.query<{ fix_id: number; from_release: string; to_release: string; started_at: number }>(
      "SELECT fix_id, from_release, to_release, started_at FROM deploys WHERE kind = 'rollback' ORDER BY id",
    );
    expect(rb, run.log()).toBeDefined();
    const fixId = rb!.fix_id;
    const before = run.query<{ rollback_commit: string | null }>(
      'SELECT rollback_commit FROM fixes WHERE id = ?',
      fixId,
    );
    expect(before[0]?.rollback_commit ?? null).toBeNull();

    const exited = new Promise((r) => run.supervisor.once('exit', r));
    run.supervisor.kill('SIGKILL');
    await exited;
    rmSync(hook);
    writeFileSync(release, ''); // the dead supervisor's held `git commit` now fails, as a kill mid-commit leaves it
    await new Promise((r) => setTimeout(r, 1000));
    const second = run.restart();
    await waitFor('the fix to be recorded rolled_back with its revert', 120_000, () => {
      if (second.exitCode !== null) throw new Error(`dancer run exited:\n${run.log()}`);
      return (
        run.query<{ c: string | null }>(
          "SELECT rollback_commit AS c FROM fixes WHERE id = ? AND state = 'rolled_back'",
          fixId,
        )[0]?.c ?? undefined
      );
    });
    await waitFor('the revert on main', 30_000, () =>
      run.git('rev-parse', 'HEAD^{tree}') === rb!.to_release ? true : undefined,
    );
    const resumedAt = Date.now();
    await waitFor('answers after the restart', 60_000, () =>
      run.answers.filter((a) => a.at > resumedAt).length > 20 ? true : undefined,
    );
    await run.stopTraffic();
    // the same end state as an uninterrupted rollback
    expect(run.answers.filter((a) => a.at > resumedAt).every((a) => a.release === rb!.to_release)).toBe(true);
    expect(run.answers.filter((a) => a.release === rb!.from_release && a.at > rb!.started_at + 2000)).toEqual([]);
    expect(
      run
        .git('log', '--first-parent', '--format=%s', 'main')
        .split('\n')
        .filter((l) => l.startsWith(`Roll back dancer fix ${fixId}`)),
    ).toHaveLength(1);
    expect(run.git('status', '--porcelain', '--untracked-files=no')).toBe('');
    expect(
      run.query<{ actor: string }>("SELECT actor FROM fix_events WHERE fix_id = ? AND to_state = 'rolled_back'", fixId),
    ).toEqual([{ actor: 'supervisor' }]);
    expect(run.query("SELECT id FROM audit WHERE action = 'rollback'")).toHaveLength(1);
    expect(run.query("SELECT id FROM deploys WHERE kind = 'deploy' AND to_release = ?", rb!.from_release)).toHaveLength(
      1,
    );
    expect(bugTemplates(run)).toEqual([
      Number(run.query<{ p: string }>('SELECT pattern_id AS p FROM fixes WHERE id = ?', fixId)[0]!.p),
    ]);
  });
});
