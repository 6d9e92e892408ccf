import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildChangelog, renderChangelog } from '../../src/fixes/changelog.js';
import { mergeMessage, type PipelineDeps } from '../../src/fixes/pipeline.js';
import type { FixRecord } from '../../src/fixes/records.js';
import { openStore } from '../../src/store/open.js';

const fix: FixRecord = {
  id: 7,
  patternId: 't:3',
  patternHash: 'ab12cd34',
  patternText: 'TypeError: Cannot read properties of undefined (reading <*>)',
  consultationId: 'c1',
  kind: 'fix',
  state: 'deployed',
  branch: 'dancer/fix-20261206-1800-ab12cd34',
  worktree: null,
  baseCommit: 'a'.repeat(40),
  headCommit: 'b'.repeat(40),
  mergeCommit: 'c'.repeat(40),
  beforeTag: null,
  rollbackBranch: null,
  rollbackCommit: null,
  summary: 'Normalise coupon codes before the lookup',
  analysis: 'Every failing request carries a lower-case coupon; the lookup is case-sensitive and returns undefined.',
  rootCause: 'Case-sensitive coupon lookup.',
  regressionTest: 'test/coupon.test.ts',
  risk: 'low',
  confidence: 0.9,
  costUsd: 0.01,
  filesChanged: 2,
  linesChanged: 12,
  repairRounds: 0,
  failedStep: null,
  reason: null,
  retryOf: null,
  createdAt: Date.UTC(2026, 11, 6, 18, 0),
  updatedAt: Date.UTC(2026, 11, 6, 18, 5),
};

describe('the analysis goes under "What was wrong", the change under "What changed"', () => {
  it('in the merge commit message', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-msg-'));
    const db = openStore(path.join(dir, 'd.db'));
    try {
      const text = mergeMessage({ db } as unknown as PipelineDeps, fix, 'alice');
      const wrong = text.slice(text.indexOf('What was wrong:'), text.indexOf('What changed:'));
      const changed = text.slice(text.indexOf('What changed:'), text.indexOf('How it was tested:'));
      expect(wrong).toContain('lower-case coupon');
      expect(changed).toContain('Normalise coupon codes before the lookup');
      expect(changed).not.toContain('lower-case coupon');
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in the changelog', () => {
    const items = buildChangelog({
      fixes: [fix],
      events: new Map(),
      failedSteps: new Map(),
      commits: [],
      rates: new Map(),
    });
    const md = renderChangelog(items, fix.updatedAt);
    expect(md).toMatch(/- What changed: Normalise coupon codes before the lookup/);
    expect(md).toMatch(/- Why: Case-sensitive coupon lookup\./);
    expect(md).not.toMatch(/What changed: Every failing request/);
  });
});
