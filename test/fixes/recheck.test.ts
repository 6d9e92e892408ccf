/**
 * The gate on a combined tree (a fleet's holder re-merged its fix onto a main another host moved)
 * and the pipeline's record of the commit that went live. Real git, real tsc, real `node --test`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { advanceFix, approveFix, startFix } from '../../src/fixes/pipeline.js';
import { gateCombinedTree } from '../../src/fixes/recheck.js';
import type { DeployRequest } from '../../src/fixes/types.js';
import type { Db } from '../../src/store/open.js';
import { depsFor, goodAgent, makeServiceRepo, sh } from './helpers.js';

const trigger = { patternId: '42', patternHash: 'ab12cd34ef56', patternText: 'total failed <*>', reason: 'test' };
const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

/** Another host's fix on top of `base`: one commit writing `file`; returns its id (main is left alone). */
function otherHostsMain(repo: string, base: string, file: string, text: string): string {
  const dir = path.join(repo, '..', `other-${file.replace(/\W/g, '-')}`);
  sh(repo, 'worktree', 'add', '-q', '--detach', dir, base);
  writeFileSync(path.join(dir, file), text);
  sh(dir, 'add', '.');
  sh(dir, 'commit', '-qm', `other host's fix (${file})`);
  const head = sh(dir, 'rev-parse', 'HEAD');
  sh(repo, 'worktree', 'remove', '--force', dir);
  return head;
}

/** Merge `branch` onto `base` as a fleet holder does; returns the combined commit. */
function remerge(repo: string, base: string, branch: string): string {
  const dir = path.join(repo, '..', 'remerge');
  sh(repo, 'worktree', 'add', '-q', '--detach', dir, base);
  sh(dir, 'merge', '-q', '--no-ff', '-m', 'remerged', branch);
  const head = sh(dir, 'rev-parse', 'HEAD');
  sh(repo, 'worktree', 'remove', '--force', dir);
  return head;
}

describe('the gate on a combined tree', { timeout: 120_000 }, () => {
  it('passes on a sound combination; the pipeline records the commit that went live as the merge', async () => {
    const r = makeServiceRepo();
    const seen: Array<{ combined: string; outcome: unknown }> = [];
    const deps = depsFor(r, goodAgent, {
      deploy: async (req: DeployRequest) => {
        const fix = (await import('../../src/fixes/records.js')).getFix(deps.db, req.fixId);
        const moved = otherHostsMain(r.repo, fix.baseCommit as string, 'README.md', '# moved by another host\n');
        const combined = remerge(r.repo, moved, fix.branch as string);
        const outcome = await gateCombinedTree(deps, { fixId: req.fixId, commit: combined, base: moved });
        seen.push({ combined, outcome });
        if (!outcome.ok) return { ok: false, reason: outcome.reason };
        sh(r.repo, 'reset', '-q', '--keep', combined);
        return { ok: true, commit: combined };
      },
    });
    open.push(deps.db);
    const waiting = await startFix(deps, trigger);
    await approveFix(deps, waiting.id, 'alice');
    const ended = await advanceFix(deps, waiting.id);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.outcome).toMatchObject({ ok: true, summary: expect.stringMatching(/typecheck .*test /) });
    expect(ended.state).toBe('deployed');
    expect(ended.mergeCommit).toBe(seen[0]?.combined);
    const live = deps.db
      .prepare("SELECT reason FROM fix_events WHERE fix_id = ? AND event = 'live'")
      .get(waiting.id) as { reason: string };
    expect(live.reason).toContain(`live as ${seen[0]?.combined.slice(0, 12)}`);
    // The temporary worktree is gone.
    expect(sh(r.repo, 'worktree', 'list').split('\n')).toHaveLength(1);
  });

  it("fails when the other host's change breaks the combined tree, naming the step", async () => {
    const r = makeServiceRepo();
    let outcome: unknown;
    const deps = depsFor(r, goodAgent, {
      deploy: async (req: DeployRequest) => {
        const fix = (await import('../../src/fixes/records.js')).getFix(deps.db, req.fixId);
        // The other host's fix type-checks on its own main but not with this fix (prices typed wrong).
        const moved = otherHostsMain(
          r.repo,
          fix.baseCommit as string,
          'src/prices.mjs',
          "/** @type {Record<string, number>} */\nexport const PRICES = { apple: 'fifty' };\nexport function priceOf(/** @type {string} */ sku) { return PRICES[sku]; }\n",
        );
        const combined = remerge(r.repo, moved, fix.branch as string);
        outcome = await gateCombinedTree(deps, { fixId: req.fixId, commit: combined, base: moved });
        return (outcome as { ok: boolean }).ok
          ? { ok: true }
          : { ok: false, reason: (outcome as { reason: string }).reason };
      },
    });
    open.push(deps.db);
    const waiting = await startFix(deps, trigger);
    await approveFix(deps, waiting.id, 'alice');
    const ended = await advanceFix(deps, waiting.id);
    expect(outcome).toMatchObject({ ok: false, reason: expect.stringMatching(/^typecheck: /) });
    expect(ended.state).toBe('rolled_back');
    expect(sh(r.repo, 'worktree', 'list').split('\n')).toHaveLength(1);
  });
});
