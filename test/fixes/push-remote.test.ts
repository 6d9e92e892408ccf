import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rejectFix } from '../../src/fixes/pipeline.js';
import { pushDancerRefs, startPushRemote } from '../../src/fixes/push-remote.js';
import { type StoreChange, type StoreWatcher, watchStore } from '../../src/notify/store-watch.js';
import { openStore } from '../../src/store/open.js';
import { seededStore } from '../dashboard/helpers.js';
import { sh } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A service repo with a dancer/* branch, a dancer-before-* tag and an unrelated branch; and a bare remote. */
function repos(): { repo: string; bare: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'dancer-push-'));
  dirs.push(root);
  const repo = path.join(root, 'repo');
  const bare = path.join(root, 'backup.git');
  sh(root, 'init', '-q', '-b', 'main', repo);
  sh(root, 'init', '-q', '--bare', bare);
  sh(repo, 'config', 'user.email', 't@example.com');
  sh(repo, 'config', 'user.name', 'T');
  writeFileSync(path.join(repo, 'a.txt'), 'a\n');
  sh(repo, 'add', '.');
  sh(repo, 'commit', '-qm', 'base');
  sh(repo, 'tag', 'dancer-before-1700000000');
  sh(repo, 'branch', 'dancer/fix-20260101-0000-abcdef12');
  sh(repo, 'branch', 'feature/human');
  sh(repo, 'remote', 'add', 'backup', bare);
  return { repo, bare };
}

const remoteRefs = (bare: string) => sh(bare, 'for-each-ref', '--format=%(refname)').split('\n').filter(Boolean).sort();

/** A watcher driven by hand (the real one polls SQLite; here only its subscribe matters). */
function manualWatcher(): StoreWatcher & { emit(c: StoreChange): void } {
  const listeners = new Set<(c: StoreChange) => void>();
  return {
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    poll() {},
    close() {},
    emit(c) {
      for (const l of listeners) l(c);
    },
  };
}

describe('fixes.pushRemote: Dancer branches and tags backed up to a bare repository', () => {
  it('pushes dancer/* branches and dancer-before-* tags, nothing else', async () => {
    const { repo, bare } = repos();
    expect(await pushDancerRefs(repo, 'backup')).toBe(2);
    expect(remoteRefs(bare)).toEqual([
      'refs/heads/dancer/fix-20260101-0000-abcdef12',
      'refs/tags/dancer-before-1700000000',
    ]);
  });

  it('pushes after a fix transition and a rollback, and retries a push that failed', async () => {
    const { repo, bare } = repos();
    const watcher = manualWatcher();
    const errors: string[] = [];
    // The remote is missing at first: the push fails and is retried.
    sh(repo, 'remote', 'set-url', 'backup', `${bare}-not-yet`);
    const push = startPushRemote({
      repo,
      remote: 'backup',
      watcher,
      baseDelayMs: 50,
      maxDelayMs: 100,
      onError: (e) => errors.push((e as { code?: string }).code ?? String(e)),
    });
    watcher.emit({
      type: 'fix_state',
      at: 1,
      eventId: 1,
      fixId: 1,
      from: 'approved',
      to: 'deploying',
      event: 'deploy',
      actor: 'git',
      reason: '',
    });
    const deadline = Date.now() + 10_000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(errors[0]).toBe('DANCER_PUSH_FAILED');
    sh(repo, 'remote', 'set-url', 'backup', bare);
    while (remoteRefs(bare).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(remoteRefs(bare)).toHaveLength(2);

    // A rollback adds a branch; the next push carries it.
    sh(repo, 'branch', 'dancer/rollback-20260101-0001');
    watcher.emit({
      type: 'rollback',
      at: 2,
      deployId: 3,
      kind: 'rollback',
      status: 'succeeded',
      fixId: 1,
      fromRelease: null,
      toRelease: 'x',
      reason: null,
      actor: null,
    });
    await push.idle();
    expect(remoteRefs(bare)).toContain('refs/heads/dancer/rollback-20260101-0001');
    // Audit rows and decisions do not push.
    sh(repo, 'branch', 'dancer/not-yet');
    watcher.emit({
      type: 'audit',
      at: 3,
      auditId: 1,
      actor: 'a',
      source: 'cli',
      action: 'status',
      target: null,
      outcome: 'ok',
      detail: null,
    });
    await push.idle();
    expect(remoteRefs(bare)).not.toContain('refs/heads/dancer/not-yet');
    await push.stop();
  });
});

describe('pushRemote follows the store', () => {
  it('a fix transition recorded by another connection triggers a push (real watcher over SQLite)', async () => {
    const { repo, bare } = repos();
    const s = seededStore('dancer-push-store-');
    dirs.push(s.dir);
    const watcher = watchStore(s.db, { intervalMs: 50 });
    const push = startPushRemote({ repo, remote: 'backup', watcher });
    try {
      expect(remoteRefs(bare)).toEqual([]);
      const other = openStore(s.file);
      try {
        await rejectFix({ db: other }, s.fix.id, 'jo', 'not now');
      } finally {
        other.close();
      }
      const deadline = Date.now() + 10_000;
      while (remoteRefs(bare).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(remoteRefs(bare)).toHaveLength(2);
    } finally {
      await push.stop();
      watcher.close();
      s.db.close();
    }
  });
});
