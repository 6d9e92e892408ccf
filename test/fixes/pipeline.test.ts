import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { advanceFix, approveFix, rejectFix, rollbackFix, startFix } from '../../src/fixes/pipeline.js';
import { fixEvents, gateSteps, getFix } from '../../src/fixes/records.js';
import type { DeployRequest, RunAgent } from '../../src/fixes/types.js';
import type { Db } from '../../src/store/open.js';
import {
  brokenBuildAgent,
  depsFor,
  FIXED_CART,
  GOOD_OUTCOME,
  goodAgent,
  makeServiceRepo,
  sh,
  weakTestAgent,
} from './helpers.js';

const trigger = {
  patternId: '42',
  patternHash: 'ab12cd34ef56',
  patternText: 'total failed <*>',
  reason: 'rate 5x baseline',
};
const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

// Every gate also runs the honesty step (the whole suite on the base and on the fix, with coverage):
// several gates per test take longer than the default 30 s on the loaded 2-core machines.
describe('fix pipeline with real git', { timeout: 90_000 }, () => {
  it('lands a good fix: gate, approval, tag, --no-ff merge with trailers, deploy, observe', async () => {
    const r = makeServiceRepo();
    const deploys: DeployRequest[] = [];
    const deps = depsFor(r, goodAgent, {
      deploy: async (req) => {
        deploys.push(req);
        return { ok: true };
      },
      observe: async () => ({ verdict: 'healthy', reason: 'pattern rate fell from 5/min to 0' }),
    });
    open.push(deps.db);
    const base = sh(r.repo, 'rev-parse', 'HEAD');
    const waiting = await startFix(deps, trigger);
    expect(waiting.state).toBe('awaiting_approval');
    expect(waiting.branch).toMatch(/^dancer\/fix-\d{8}-\d{4}-ab12cd34$/);
    expect(waiting.worktree && existsSync(waiting.worktree)).toBe(true);
    const steps = gateSteps(deps.db, waiting.id).map((s) => [s.name, s.ok]);
    expect(steps).toEqual([
      ['typecheck', true],
      ['test', true],
      ['regression:fix', true],
      ['regression:base', true],
      ['honesty', true],
      ['coverage', true],
    ]);
    // The honest fix: counts per file recorded, its changed line executed by the suite.
    const honesty = gateSteps(deps.db, waiting.id).find((s) => s.name === 'honesty');
    expect(honesty?.status).toBe('passed');
    expect(honesty?.details?.base).toBeDefined();
    const coverage = gateSteps(deps.db, waiting.id).find((s) => s.name === 'coverage');
    expect(coverage?.note).toMatch(/^[1-9]\d* of \d+ changed lines executed by the tests \(src\/cart\.mjs/);
    const baseStep = gateSteps(deps.db, waiting.id).find((s) => s.name === 'regression:base');
    expect(baseStep?.exitCode).not.toBe(0);
    expect(baseStep?.outputTail).toContain('Reduce of empty array');

    await approveFix(deps, waiting.id, 'alice');
    const done = await advanceFix(deps, waiting.id);
    expect(done.state).toBe('deployed');
    expect(deploys).toEqual([expect.objectContaining({ kind: 'fix', fixId: waiting.id, commit: done.mergeCommit })]);
    // Main: tagged before, merged with --no-ff, trailers on the merge.
    expect(sh(r.repo, 'rev-parse', `${done.beforeTag}^{commit}`)).toBe(base);
    expect(done.beforeTag).toMatch(/^dancer-before-\d+$/);
    expect(sh(r.repo, 'rev-parse', 'HEAD')).toBe(done.mergeCommit);
    expect(sh(r.repo, 'log', '-1', '--format=%P').split(' ')).toHaveLength(2);
    const trailers = sh(r.repo, 'log', '-1', '--format=%(trailers:only,unfold)');
    expect(trailers).toContain(`Dancer-Fix: ${waiting.id}`);
    expect(trailers).toContain('Dancer-Pattern: 42');
    expect(trailers).toContain('Dancer-Consultation: c-1');
    expect(trailers).toContain('Dancer-Cost-USD: 0.0421');
    expect(readFileSync(path.join(r.repo, 'src/cart.mjs'), 'utf8')).toContain('a + b, 0)');
    // Merged: worktree removed, branch kept.
    expect(existsSync(waiting.worktree as string)).toBe(false);
    expect(sh(r.repo, 'branch', '--list', done.branch as string)).not.toBe('');
    const events = fixEvents(deps.db, waiting.id).map((e) => [e.toState, e.actor]);
    expect(events).toEqual([
      ['proposed', 'detector'],
      ['testing', 'agent'],
      ['awaiting_approval', 'gate'],
      ['approved', 'human:alice'],
      ['deploying', 'git'],
      ['observing', 'supervisor'],
      ['deployed', 'timer'],
    ]);
    // The fix commit on the branch carries the changelog entry and trailers too.
    const body = sh(r.repo, 'log', '-1', '--format=%B', done.headCommit as string);
    expect(body).toContain('What was wrong:');
    expect(body).toContain('How it was tested:');
    expect(body).toContain(`Dancer-Fix: ${waiting.id}`);
  });

  it('fails a fix that breaks the build at the typecheck step, after the repair rounds', async () => {
    const r = makeServiceRepo();
    const repairs: string[] = [];
    const agent: RunAgent = async (dir, brief, repair) => {
      if (repair) repairs.push(`${repair.round}:${repair.failedStep}`);
      return brokenBuildAgent(dir, brief, repair);
    };
    const deps = depsFor(r, agent, { fixes: { ...depsFor(r, agent).fixes, repairRounds: 1 } });
    open.push(deps.db);
    const fix = await startFix(deps, trigger);
    expect(fix.state).toBe('failed');
    expect(fix.failedStep).toBe('typecheck');
    expect(fix.reason).toContain('after 1 repair round');
    expect(fix.reason).toMatch(/TS2322|not assignable/);
    expect(repairs).toEqual(['1:typecheck']);
    const steps = gateSteps(deps.db, fix.id);
    expect(steps.map((s) => `${s.round}:${s.name}:${s.ok}`)).toEqual(['0:typecheck:false', '1:typecheck:false']);
    expect(steps[0]?.exitCode).not.toBe(0);
    // Failed attempts keep their worktree and branch for analysis.
    expect(existsSync(fix.worktree as string)).toBe(true);
    expect(sh(r.repo, 'branch', '--list', fix.branch as string)).not.toBe('');
  });

  it('refuses a regression test that already passes on the base commit', async () => {
    const r = makeServiceRepo();
    const deps = depsFor(r, weakTestAgent, { fixes: { ...depsFor(r, weakTestAgent).fixes, repairRounds: 0 } });
    open.push(deps.db);
    const fix = await startFix(deps, trigger);
    expect(fix.state).toBe('failed');
    expect(fix.failedStep).toBe('regression:base');
    expect(fix.reason).toContain('already passes on the base commit');
  });

  it('a repair round fixes a failing gate', async () => {
    const r = makeServiceRepo();
    const agent: RunAgent = async (dir, brief, repair) => {
      if (!repair) return brokenBuildAgent(dir, brief);
      expect(repair).toMatchObject({ round: 1, failedStep: 'typecheck' });
      expect(repair.outputTail).toMatch(/TS2322|not assignable/);
      const file = path.join(dir, 'src/cart.mjs');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(
          /\n\/\*\* @type \{number\} \*\/\nexport const broken = 'not a number';\n/,
          '\n',
        ),
      );
      return { ...GOOD_OUTCOME, summary: 'Remove the ill-typed constant' };
    };
    const deps = depsFor(r, agent);
    open.push(deps.db);
    const fix = await startFix(deps, trigger);
    expect(fix.state).toBe('awaiting_approval');
    expect(fix.repairRounds).toBe(1);
    expect(fix.costUsd).toBeCloseTo(0.0842, 6);
    expect(sh(r.repo, 'log', '--format=%s', `${fix.baseCommit}..${fix.branch}`).split('\n')).toHaveLength(2);
  });

  it('a fix without any regression test is refused; improve_logging is not (by default)', async () => {
    const r = makeServiceRepo();
    const noTest: RunAgent = async (dir) => {
      writeCart(dir);
      return { ...GOOD_OUTCOME, regressionTest: undefined, filesChanged: ['src/cart.mjs'] };
    };
    const deps = depsFor(r, noTest, { fixes: { ...depsFor(r, noTest).fixes, repairRounds: 0 } });
    open.push(deps.db);
    const fix = await startFix(deps, trigger);
    expect(fix.state).toBe('failed');
    expect(fix.failedStep).toBe('regression');
    const logging: RunAgent = async (dir) => {
      writeCart(dir);
      return { kind: 'improve_logging', summary: 'Log the cart size', missing: 'cart contents', risk: 'low' };
    };
    const deps2 = { ...deps, runAgent: logging };
    const fix2 = await startFix(deps2, { ...trigger, patternId: '43' });
    expect(fix2.state).toBe('awaiting_approval');
    expect(fix2.kind).toBe('improve_logging');
  });

  it('a policy violation fails the fix with a precise reason and no repair', async () => {
    const r = makeServiceRepo();
    let calls = 0;
    const agent: RunAgent = async (dir, brief) => {
      calls++;
      const out = await goodAgent(dir, brief);
      writeFileSync(
        path.join(dir, 'test/cart.test.mjs'),
        readFileSync(path.join(dir, 'test/cart.test.mjs'), 'utf8').replace("test('unknown", "test.skip('unknown"),
      );
      return out;
    };
    const deps = depsFor(r, agent);
    open.push(deps.db);
    const fix = await startFix(deps, trigger);
    expect(fix.state).toBe('failed');
    expect(fix.failedStep).toBe('policy');
    expect(fix.reason).toContain('[skipped_test] test/cart.test.mjs:');
    expect(calls).toBe(1);
  });

  it('ignore and escalate outcomes reject the fix and leave no branch', async () => {
    const r = makeServiceRepo();
    const deps = depsFor(r, async () => ({ kind: 'ignore', why: 'expected client error' }));
    open.push(deps.db);
    const fix = await startFix(deps, trigger);
    expect(fix.state).toBe('rejected');
    expect(fixEvents(deps.db, fix.id).at(-1)?.actor).toBe('agent');
    expect(sh(r.repo, 'branch', '--list', 'dancer/*')).toBe('');
  });

  it('a fix whose branch name was used by a rejected fix (branch deleted) gets a fresh name', async () => {
    const r = makeServiceRepo();
    const clock = () => Date.parse('2026-11-25T12:00:30Z');
    const deps = { ...depsFor(r, async () => ({ kind: 'ignore', why: 'noise' })), clock };
    open.push(deps.db);
    const first = await startFix(deps, trigger);
    expect(first.state).toBe('rejected');
    expect(sh(r.repo, 'branch', '--list', 'dancer/*')).toBe('');
    const second = await startFix(
      { ...deps, runAgent: async () => ({ kind: 'escalate', why: 'x', where: 'y' }) },
      trigger,
    );
    expect(second.state).toBe('rejected');
    expect(second.branch).not.toBe(first.branch);
    expect(second.branch).toBe(`${first.branch}-2`);
  });

  it('a newer fix for the same pattern supersedes an open one; humans reject with a reason', async () => {
    const r = makeServiceRepo();
    const deps = depsFor(r, goodAgent);
    open.push(deps.db);
    const first = await startFix(deps, trigger);
    const second = await startFix(deps, trigger);
    expect(getFix(deps.db, first.id).state).toBe('superseded');
    expect(second.branch).not.toBe(first.branch);
    const rejected = await rejectFix(deps, second.id, 'bob', 'not the right approach');
    expect(rejected.state).toBe('rejected');
    expect(fixEvents(deps.db, second.id).at(-1)).toMatchObject({
      actor: 'human:bob',
      reason: 'not the right approach',
    });
    await expect(approveFix(deps, second.id, 'bob')).rejects.toMatchObject({ code: 'DANCER_ILLEGAL_TRANSITION' });
  });

  it('a rollback reverts the merge on a rollback branch, merged --no-ff, leaving the tagged tree', async () => {
    const r = makeServiceRepo();
    const deps = depsFor(r, goodAgent, {
      deploy: async () => ({ ok: true }),
      observe: async () => ({ verdict: 'rollback', reason: 'error rate +80% over baseline' }),
    });
    open.push(deps.db);
    const fix = await startFix(deps, trigger);
    await approveFix(deps, fix.id, 'alice');
    const done = await advanceFix(deps, fix.id);
    expect(done.state).toBe('rolled_back');
    expect(done.rollbackBranch).toMatch(/^dancer\/rollback-\d{8}-\d{4}$/);
    expect(sh(r.repo, 'rev-parse', 'HEAD^{tree}')).toBe(sh(r.repo, 'rev-parse', `${done.beforeTag}^{tree}`));
    expect(sh(r.repo, 'status', '--porcelain')).toBe('');
    const message = sh(r.repo, 'log', '-1', '--format=%B');
    expect(message).toContain('error rate +80% over baseline');
    expect(message).toContain('Dancer-Rollback-Of:');
    expect(sh(r.repo, 'log', '-1', '--format=%P').split(' ')).toHaveLength(2);
    // History kept: the fix merge is still there.
    expect(sh(r.repo, 'merge-base', '--is-ancestor', done.mergeCommit as string, 'HEAD')).toBe('');
    // A second rollback (Zulip after the automatic one, a resume) changes nothing.
    const head = sh(r.repo, 'rev-parse', 'HEAD');
    const again = await rollbackFix(deps, fix.id, { actor: 'human:x', reason: 'again' });
    expect(again.state).toBe('rolled_back');
    expect(again.rollbackCommit).toBe(done.rollbackCommit);
    expect(sh(r.repo, 'rev-parse', 'HEAD')).toBe(head);
  });

  it('refuses to merge into a dirty main working tree and loses nothing', async () => {
    const r = makeServiceRepo();
    const deps = depsFor(r, goodAgent, { deploy: async () => ({ ok: true }) });
    open.push(deps.db);
    const fix = await startFix(deps, trigger);
    await approveFix(deps, fix.id, 'alice');
    writeFileSync(path.join(r.repo, 'src/prices.mjs'), '// work in progress\n');
    await expect(advanceFix(deps, fix.id)).rejects.toMatchObject({ code: 'DANCER_GIT_DIRTY' });
    expect(getFix(deps.db, fix.id).state).toBe('approved');
    expect(readFileSync(path.join(r.repo, 'src/prices.mjs'), 'utf8')).toBe('// work in progress\n');
  });
});

function writeCart(dir: string): void {
  const file = path.join(dir, 'src/cart.mjs');
  writeFileSync(file, FIXED_CART(readFileSync(file, 'utf8')));
}
