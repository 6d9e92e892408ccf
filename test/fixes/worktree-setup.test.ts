/**
 * A fix whose worktree cannot be made (the disk of the worktree base is full) fails with the
 * reason instead of staying `proposed` for ever, and leaves no branch, folder or worktree
 * registration behind. Needs root to mount the tiny tmpfs (CI runs as root).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startFix } from '../../src/fixes/pipeline.js';
import { fixEvents } from '../../src/fixes/records.js';
import type { RunAgent } from '../../src/fixes/types.js';
import type { Db } from '../../src/store/open.js';
import { depsFor, makeServiceRepo, sh } from './helpers.js';

const mounts: string[] = [];
const open: Db[] = [];
afterEach(() => {
  for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m]);
  for (const db of open.splice(0)) db.close();
});

describe('a fix worktree on a full disk', () => {
  it.skipIf(process.getuid?.() !== 0)('fails the fix with the reason and leaves nothing half-made', async () => {
    const r = makeServiceRepo();
    mkdirSync(r.worktreeBase, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', r.worktreeBase]);
    mounts.push(r.worktreeBase);
    try {
      writeFileSync(`${r.worktreeBase}/fill`, Buffer.alloc(1024 * 1024));
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    let agentRan = false;
    const agent: RunAgent = async () => {
      agentRan = true;
      return { kind: 'ignore', why: 'not reached' };
    };
    const deps = depsFor(r, agent);
    open.push(deps.db);
    const fix = await startFix(deps, { patternId: '7', patternHash: 'feedc0de1234', patternText: 'x', reason: 'test' });
    expect(fix.state).toBe('failed');
    expect(fix.failedStep).toBe('worktree');
    expect(fix.reason).toMatch(/^the fix worktree could not be made: /);
    expect(fix.worktree).toBeNull();
    expect(agentRan).toBe(false);
    expect(fixEvents(deps.db, fix.id).map((e) => [e.toState, e.actor])).toEqual([
      ['proposed', 'detector'],
      ['failed', 'git'],
    ]);
    expect(sh(r.repo, 'branch', '--list', 'dancer/*')).toBe('');
    expect(sh(r.repo, 'worktree', 'list').split('\n')).toHaveLength(1);
    expect(readdirSync(r.worktreeBase)).toEqual(['fill']);
  });
});
