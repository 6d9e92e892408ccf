import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findRegressionTests, regressionCommand, runGate } from '../../src/fixes/gate.js';
import { processRetryRequests, pruneRetained, startFix } from '../../src/fixes/pipeline.js';
import { getFix, listFixes, requestRetry } from '../../src/fixes/records.js';
import { createWorktree } from '../../src/fixes/repo.js';
import type { FixBrief, RunAgent } from '../../src/fixes/types.js';
import { brokenBuildAgent, depsFor, goodAgent, makeServiceRepo, sh, testFixesConfig } from './helpers.js';

describe('gate', () => {
  it('names the regression test, or finds the added test files', () => {
    const globs = testFixesConfig().gate.regression.testGlobs;
    expect(findRegressionTests('./test/a.test.mjs', ['src/a.mjs', 'test/a.test.mjs'], globs)).toEqual([
      'test/a.test.mjs',
    ]);
    expect(findRegressionTests('test/gone.test.mjs', ['src/a.mjs', 'test/b.test.mjs'], globs)).toEqual([
      'test/b.test.mjs',
    ]);
    expect(findRegressionTests(undefined, ['src/a.mjs'], globs)).toEqual([]);
    expect(regressionCommand('node --test {file}', ['test/a b.mjs'])).toBe("node --test 'test/a b.mjs'");
    expect(regressionCommand('npx vitest run', ['x.test.ts'])).toBe('npx vitest run x.test.ts');
  });

  it('reuses the deployed node_modules when no lockfile changed, and installs when one did', async () => {
    const r = makeServiceRepo();
    writeFileSync(path.join(r.repo, 'package-lock.json'), '{"lockfileVersion":3}\n');
    sh(r.repo, 'add', '-A');
    sh(r.repo, 'commit', '-q', '-m', 'lockfile');
    const base = sh(r.repo, 'rev-parse', 'HEAD');
    const deployed = path.join(r.root, 'release');
    mkdirSync(path.join(deployed, 'node_modules', 'dep'), { recursive: true });
    const config = testFixesConfig({
      gate: {
        install: { run: 'echo installing > installed.txt' },
        steps: [{ name: 'deps', run: 'test -d node_modules/dep' }],
        stepTimeoutSeconds: 30,
      },
    });
    const dir = path.join(r.worktreeBase, 'a');
    await createWorktree(r.repo, { branch: 'dancer/fix-a', dir, base });
    const reused = await runGate({
      repo: r.repo,
      worktree: dir,
      baseCommit: base,
      changedFiles: ['src/cart.mjs'],
      regressionTests: [],
      requireRegression: false,
      config,
      dependenciesFrom: deployed,
    });
    expect(reused.ok).toBe(true);
    expect(reused.steps[0]).toMatchObject({ name: 'install', ok: true, note: expect.stringContaining('reused') });
    expect(lstatSync(path.join(dir, 'node_modules')).isSymbolicLink()).toBe(true);
    expect(existsSync(path.join(dir, 'installed.txt'))).toBe(false);

    const dir2 = path.join(r.worktreeBase, 'b');
    await createWorktree(r.repo, { branch: 'dancer/fix-b', dir: dir2, base });
    const installed = await runGate({
      repo: r.repo,
      worktree: dir2,
      baseCommit: base,
      changedFiles: ['package-lock.json'],
      regressionTests: [],
      requireRegression: false,
      config,
      dependenciesFrom: deployed,
    });
    expect(installed.steps.map((s) => [s.name, s.ok])).toEqual([
      ['install', true],
      ['deps', false],
    ]);
    expect(readFileSync(path.join(dir2, 'installed.txt'), 'utf8')).toBe('installing\n');
    expect(installed).toMatchObject({ ok: false, failedStep: 'deps' });
  });

  it('a step past its timeout fails the gate as timed out', async () => {
    const r = makeServiceRepo();
    const base = sh(r.repo, 'rev-parse', 'HEAD');
    const dir = path.join(r.worktreeBase, 'slow');
    await createWorktree(r.repo, { branch: 'dancer/fix-slow', dir, base });
    const result = await runGate({
      repo: r.repo,
      worktree: dir,
      baseCommit: base,
      changedFiles: [],
      regressionTests: [],
      requireRegression: false,
      config: testFixesConfig({ gate: { steps: [{ name: 'hang', run: 'sleep 30', timeoutSeconds: 0.3 }] } }),
    });
    expect(result).toMatchObject({ ok: false, failedStep: 'hang' });
    expect(result.steps[0]?.timedOut).toBe(true);
    expect(result.reason).toContain('step hang timed out');
  });
});

// Every gate also runs the honesty step (the whole suite on the base and on the fix, with coverage):
// several gates per test take longer than the default 30 s on the loaded 2-core machines.
describe('retries and retention', { timeout: 90_000 }, () => {
  it('a retry request starts a new attempt told why the last one failed', async () => {
    const r = makeServiceRepo();
    const briefs: FixBrief[] = [];
    const agent: RunAgent = async (dir, brief, repair) => {
      briefs.push(brief);
      return briefs.length === 1 ? brokenBuildAgent(dir, brief, repair) : goodAgent(dir, brief, repair);
    };
    const deps = depsFor(r, agent, { fixes: { ...testFixesConfig(), repairRounds: 0 } });
    const first = await startFix(deps, { patternId: '5', patternHash: '55aa55aa' });
    expect(first.state).toBe('failed');
    requestRetry(deps.db, first.id, 'dave', 'keep the types right', Date.now());
    const [second] = await processRetryRequests(deps);
    expect(second?.state).toBe('awaiting_approval');
    expect(second?.retryOf).toBe(first.id);
    expect(briefs[1]?.previousAttempt).toMatchObject({
      fixId: first.id,
      state: 'failed',
      failedStep: 'typecheck',
      retryReason: 'keep the types right',
    });
    expect(briefs[1]?.previousAttempt?.reason).toContain('TS2322');
    expect(briefs[1]?.policySummary).toContain('Never touch: dancer.yaml');
    expect(await processRetryRequests(deps)).toEqual([]);
    deps.db.close();
  });

  it('keeps the newest failed worktrees and branches up to the limit', async () => {
    const r = makeServiceRepo();
    const deps = depsFor(r, brokenBuildAgent, {
      fixes: { ...testFixesConfig({ gate: { steps: [{ name: 'fail', run: 'exit 1' }] } }), repairRounds: 0 },
    });
    for (const p of ['1', '2', '3']) await startFix(deps, { patternId: p, patternHash: `${p}0000000` });
    const fixes = listFixes(deps.db, { ascending: true });
    expect(fixes.every((f) => f.state === 'failed' && f.worktree && existsSync(f.worktree))).toBe(true);
    const cleaned = await pruneRetained({ ...deps, fixes: { ...deps.fixes, retention: { keepFailed: 1 } } });
    expect(cleaned.sort()).toEqual([fixes[0]?.id, fixes[1]?.id].sort());
    expect(existsSync(fixes[0]?.worktree as string)).toBe(false);
    expect(sh(r.repo, 'branch', '--list', fixes[0]?.branch as string)).toBe('');
    expect(existsSync(fixes[2]?.worktree as string)).toBe(true);
    expect(getFix(deps.db, fixes[0]?.id as number).worktree).toBeNull();
    deps.db.close();
  });
});
