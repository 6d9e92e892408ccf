/**
 * The emergency stop aborts the pipeline while a fix deploys. A deploy that failed (the old
 * release kept serving) is still recorded: the fix is rolled back and main reverted, so HEAD's
 * tree is what serves; a deploy that went live is left to the halt, which rolls it back itself.
 * (Found by the fault suite's stop-mid-deploy scenario, where the fix stayed `deploying`.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { advanceFix, approveFix, startFix } from '../../src/fixes/pipeline.js';
import type { DeployRequest } from '../../src/fixes/types.js';
import type { Db } from '../../src/store/open.js';
import { depsFor, goodAgent, makeServiceRepo, sh } from './helpers.js';

const trigger = { patternId: '42', patternHash: 'ab12cd34ef56', patternText: 'total failed <*>', reason: 'test' };
const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

describe('a deploy under the emergency stop', { timeout: 90_000 }, () => {
  for (const ok of [false, true]) {
    it(`that ${ok ? 'went live' : 'failed'} ${ok ? 'stays deploying for the halt' : 'is rolled back, main reverted'}`, async () => {
      const r = makeServiceRepo();
      const stop = new AbortController();
      const requests: DeployRequest[] = [];
      const deps = depsFor(r, goodAgent, {
        signal: stop.signal,
        deploy: async (req) => {
          requests.push(req);
          if (req.kind === 'fix') stop.abort(new Error('emergency stop')); // the stop arrives mid-deploy
          return ok ? { ok: true } : { ok: false, reason: 'Worker not ready: it exited' };
        },
      });
      open.push(deps.db);
      const baseTree = sh(r.repo, 'rev-parse', 'HEAD^{tree}');
      const waiting = await startFix(deps, trigger);
      expect(waiting.state).toBe('awaiting_approval');
      await approveFix(deps, waiting.id, 'alice');
      const ended = await advanceFix(deps, waiting.id);
      if (ok) {
        expect(ended.state).toBe('deploying');
        return;
      }
      expect(ended.state).toBe('rolled_back');
      expect(ended.reason).toMatch(/the deploy failed: Worker not ready/);
      expect(sh(r.repo, 'rev-parse', 'HEAD^{tree}')).toBe(baseTree);
      expect(requests.map((q) => q.kind)).toEqual(['fix']); // the old release kept serving: no redeploy
    });
  }
});
