/**
 * The gate again, on a tree the fix did not start from: a fleet's lease holder whose push found
 * the shared main moved (another host's fix) re-merges its fix onto it and must prove the
 * combined tree before pushing it. The same steps as the fix's own gate (install, build, tests,
 * the regression test failing on the new base and passing on the combined tree), in a detached
 * worktree of the combined commit that is removed afterwards.
 */
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { findRegressionTests, runGate } from './gate.js';
import { patternErrorOf } from './honesty-step.js';
import { formatMs } from './merge.js';
import { dancerPaths } from './pipeline.js';
import type { PipelineDeps } from './pipeline-common.js';
import { getFix } from './records.js';
import { addDetachedWorktree, changedFiles, removeWorktree } from './repo.js';

/** Run fix `fixId`'s gate on `commit` (the fix merged onto `base`). Never throws. */
export async function gateCombinedTree(
  deps: PipelineDeps,
  o: { fixId: number; commit: string; base: string; signal?: AbortSignal | undefined },
): Promise<{ ok: true; summary: string } | { ok: false; reason: string }> {
  const dir = path.join(deps.worktreeBase, `recheck-${o.fixId}-${o.commit.slice(0, 12)}`);
  try {
    const fix = getFix(deps.db, o.fixId);
    await removeWorktree(deps.repo, dir);
    await addDetachedWorktree(deps.repo, dir, o.commit);
    const files = await changedFiles(deps.repo, o.base, o.commit);
    const result = await runGate({
      repo: deps.repo,
      worktree: dir,
      baseCommit: o.base,
      changedFiles: files,
      regressionTests: findRegressionTests(fix.regressionTest, files, deps.fixes.gate.regression.testGlobs),
      requireRegression: fix.kind === 'fix' || deps.fixes.gate.regression.requireForImproveLogging,
      expectedError: fix.kind === 'fix' ? patternErrorOf(deps.db, fix.patternId) : undefined,
      config: deps.fixes,
      dependenciesFrom: deps.dependenciesFrom ?? deps.repo,
      signal: o.signal ?? deps.signal,
      sandbox: deps.sandbox,
      hide: dancerPaths(deps),
      onWarning: deps.log,
      clock: deps.clock,
    });
    if (!result.ok) return { ok: false, reason: `${result.failedStep ?? 'gate'}: ${result.reason ?? 'failed'}` };
    if (result.needsHuman) {
      return { ok: false, reason: `the combined tree needs a human: ${result.needsHuman.join('; ')}` };
    }
    return { ok: true, summary: result.steps.map((s) => `${s.name} ${formatMs(s.durationMs)}`).join(', ') };
  } catch (error) {
    return { ok: false, reason: errorMessage(error) };
  } finally {
    await removeWorktree(deps.repo, dir).catch(() => undefined);
  }
}
