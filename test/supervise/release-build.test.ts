/**
 * Release builds run through the one process runner (src/process): a failed build is reported with
 * its exit status and output, and whatever the build command started in the background is killed
 * with its process group instead of outliving the build. Real git repository, real /bin/sh.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isDancerError } from '../../src/errors.js';
import { openStore } from '../../src/store/index.js';
import { buildRelease, resolveRelease } from '../../src/supervise/releases.js';
import { SuperviseStore } from '../../src/supervise/state-store.js';

const root = mkdtempSync(path.join(tmpdir(), 'dancer-release-build-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function repo(): string {
  const dir = path.join(root, 'repo');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'server.js'), 'console.log("hi")\n');
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: dir });
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'one');
  return dir;
}

describe('release builds on the process runner', () => {
  const dir = repo();
  const db = openStore(path.join(root, 'dancer.db'));
  const store = new SuperviseStore(db);
  afterAll(() => db.close());

  it('resolves a ref to commit and tree, and refuses an unknown ref or folder', () => {
    const ref = resolveRelease(dir, 'HEAD');
    expect(ref.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(ref.tree).toMatch(/^[0-9a-f]{40}$/);
    expect(() => resolveRelease(dir, 'no-such-ref')).toThrow(/Unknown git ref/);
    expect(() => resolveRelease(path.join(root, 'missing'), 'HEAD')).toThrow(/Unknown git ref/);
  });

  it('reports a failed build with its exit status and output, and kills what it left running', async () => {
    const ref = resolveRelease(dir, 'HEAD');
    const pidFile = path.join(root, 'bg.pid');
    const seen: string[] = [];
    const error = await buildRelease({
      service: 'shop',
      repo: dir,
      commit: ref.commit,
      tree: ref.tree,
      releasesDir: path.join(root, 'releases'),
      build: `sleep 60 & echo $! > ${JSON.stringify(pidFile)}; echo building; exit 3`,
      store,
      onOutput: (chunk) => seen.push(chunk.toString()),
    }).catch((e: unknown) => e);
    expect(isDancerError(error) && error.code).toBe('DANCER_DEPLOY_FAILED');
    expect(String((error as Error).message)).toMatch(/failed \(exit 3\): .*building/s);
    expect(seen.join('')).toContain('building');
    expect(store.getRelease('shop', ref.tree)?.status).toBe('failed');
    const bg = Number(readFileSync(pidFile, 'utf8').trim());
    expect(bg).toBeGreaterThan(0);
    // The runner kills the build's whole process group when the build ends.
    for (let i = 0; i < 100 && alive(bg); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(bg)).toBe(false);
  });

  it('builds a good release once and reuses it', async () => {
    const ref = resolveRelease(dir, 'HEAD');
    const options = {
      service: 'shop',
      repo: dir,
      commit: ref.commit,
      tree: ref.tree,
      releasesDir: path.join(root, 'releases'),
      build: 'echo ok > built.txt',
      store,
    };
    const row = await buildRelease(options);
    expect(row.status).toBe('ready');
    expect(readFileSync(path.join(row.dir, 'built.txt'), 'utf8')).toBe('ok\n');
    expect((await buildRelease(options)).builtAt).toBe(row.builtAt);
  });
});
