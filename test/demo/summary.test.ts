import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DemoSummary, renderSummary, splitServerErrors } from '../../src/demo/summary.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/dancer.js');

const summary = (over: Partial<DemoSummary> = {}): DemoSummary => ({
  outcome: 'healed',
  model: 'scripted',
  detectSeconds: 1,
  fixSeconds: 2,
  deploySeconds: 3,
  mttrSeconds: 6,
  confirmedSeconds: 9,
  failedRequests: 0,
  requests: 900,
  ...splitServerErrors({ 'coupon-lower': 40, eur: 7, plain: 5 }),
  errorsAfterFix: 0,
  rolledBack: true,
  rollbackReason: 'error rate +300%',
  rollbackSeconds: 1,
  costUsd: 0,
  repo: '/tmp/demo-repo',
  changelog: null,
  zulipMessages: null,
  ...over,
});

describe('demo summary', () => {
  it('reports 5xx answers split into the planted bugs and the rest', () => {
    expect(splitServerErrors({ 'coupon-lower': 40, eur: 7, plain: 5, health: 1 })).toEqual({
      serverErrors: 53,
      serverErrorsPlanted: 47,
      serverErrorsOther: 6,
    });
    expect(renderSummary(summary())).toMatch(/5xx answers\s+52: 47 from the planted bugs, 5 other/);
  });

  it('prints "where to look next" commands that run as printed in a folder without Dancer installed', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-demo-summary-'));
    try {
      const text = renderSummary(summary({ repo: dir }), `node ${BIN}`);
      const commands = text
        .split('\n')
        .filter((l) => l.includes(BIN))
        .map((l) => l.replace(/#.*$/, '').trim());
      expect(commands.length).toBeGreaterThanOrEqual(3);
      // The demo repository is a git repository with a store.
      const git = spawnSync(
        'sh',
        ['-c', 'git init -q -b main && git -c user.email=t@t -c user.name=t commit -q --allow-empty -m init'],
        { cwd: dir, encoding: 'utf8' },
      );
      expect(git.status, git.stderr).toBe(0);
      const ingest = spawnSync('sh', ['-c', `echo 'ERROR boom' | node ${BIN} ingest -`], {
        cwd: dir,
        encoding: 'utf8',
      });
      expect(ingest.status, ingest.stderr).toBe(0);
      for (const command of commands) {
        const r = spawnSync('sh', ['-c', command], {
          cwd: dir,
          encoding: 'utf8',
          env: { ...process.env, NO_COLOR: '1' },
        });
        expect({ command, status: r.status, stderr: r.stderr }).toMatchObject({ command, status: 0 });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
