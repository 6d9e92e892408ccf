import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fixTrailersFrom, formatCommitMessage, parseTrailerLines } from '../../src/fixes/message.js';
import { beforeTagName, defaultWorktreeBase, fixBranchName, rollbackBranchName } from '../../src/fixes/names.js';

const parseWithGit = (message: string) =>
  execFileSync('git', ['interpret-trailers', '--parse'], { input: message, encoding: 'utf8' });

describe('commit messages', () => {
  it('carry a changelog entry and trailers that git parses back', () => {
    const message = formatCommitMessage(
      {
        title: 'Total an empty cart as 0',
        problem: 'reduce() without an initial value throws on [].\nNote: this looks like a trailer.',
        change: 'Give reduce an initial value of 0.',
        testing: 'test/cart-empty.test.mjs fails before and passes after.',
      },
      { fixId: 7, patternId: '42', consultationId: 'c-9', costUsd: 0.12345 },
    );
    expect(message).toMatch(/^Total an empty cart as 0\n\nWhat was wrong:\n/);
    expect(message).toContain('How it was tested:');
    const parsed = parseWithGit(message);
    expect(parsed.trim().split('\n')).toEqual([
      'Dancer-Fix: 7',
      'Dancer-Pattern: 42',
      'Dancer-Consultation: c-9',
      'Dancer-Cost-USD: 0.1235',
    ]);
    expect(fixTrailersFrom(parseTrailerLines(parsed))).toEqual({
      fixId: 7,
      patternId: '42',
      consultationId: 'c-9',
      costUsd: 0.1235,
      rollbackOf: undefined,
    });
  });

  it('rollback messages add Dancer-Rollback-Of; a message without Dancer-Fix has no fix trailers', () => {
    const m = formatCommitMessage({ title: 'Roll back' }, { fixId: 3, patternId: 'p', rollbackOf: 3 });
    expect(fixTrailersFrom(parseTrailerLines(parseWithGit(m)))?.rollbackOf).toBe(3);
    expect(fixTrailersFrom(parseTrailerLines('Signed-off-by: x'))).toBeUndefined();
  });
});

describe('names', () => {
  const t = Date.UTC(2026, 10, 5, 7, 3, 9);
  it('branches, tags and the worktree base', () => {
    expect(fixBranchName(t, 'AB12-cd34ef56')).toBe('dancer/fix-20261105-0703-ab12cd34');
    expect(fixBranchName(t, 'ab12cd34', 2)).toBe('dancer/fix-20261105-0703-ab12cd34-2');
    expect(rollbackBranchName(t)).toBe('dancer/rollback-20261105-0703');
    expect(beforeTagName(t)).toBe(`dancer-before-${Math.floor(t / 1000)}`);
    expect(defaultWorktreeBase({ isRoot: true, varWritable: true, dir: '/srv/app', service: 'shop' })).toBe(
      '/var/dancer/shop/worktrees',
    );
    expect(defaultWorktreeBase({ isRoot: true, varWritable: true, dir: '/srv/b', service: 'billing' })).toBe(
      '/var/dancer/billing/worktrees',
    );
    expect(defaultWorktreeBase({ isRoot: true, varWritable: false, dir: '/srv/app', service: 'shop' })).toBe(
      '/srv/app/.dancer/worktrees',
    );
    expect(defaultWorktreeBase({ isRoot: false, varWritable: true, dir: '/srv/app/', service: 'shop' })).toBe(
      '/srv/app/.dancer/worktrees',
    );
  });
});
