/**
 * A repository with a base commit and a fix commit in a worktree, as the fix pipeline makes them:
 * the setup of the gate tests. Temp folders are removed by {@link removeFixRepos} (call it in afterAll).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { changedFiles, createWorktree } from '../../src/fixes/repo.js';

const roots: string[] = [];

/** Run git in `cwd` and return its trimmed stdout (throws on failure). */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Write `files` under `dir` (folders made as needed); a `null` text removes the file. */
export function write(dir: string, files: Record<string, string | null>): void {
  for (const [file, text] of Object.entries(files)) {
    const p = path.join(dir, file);
    if (text === null) rmSync(p, { force: true });
    else {
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, text);
    }
  }
}

/** A new temp folder, removed by {@link removeFixRepos}. */
export function tempRoot(prefix: string): string {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  roots.push(root);
  return root;
}

/** Remove every folder {@link tempRoot} made. */
export function removeFixRepos(): void {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
}

/** `git init` in `repo` (its files already written), commit everything as the base; returns the base commit. */
export function commitBase(repo: string): string {
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'config', 'user.name', 'T');
  git(repo, 'config', 'user.email', 't@example.com');
  git(repo, 'config', 'commit.gpgsign', 'false');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'base');
  return git(repo, 'rev-parse', 'HEAD');
}

/** A fix worktree at `dir` on branch dancer/fix-1 from `base`, with `files` applied as one commit. */
export async function commitFix(
  repo: string,
  base: string,
  dir: string,
  files: Record<string, string | null>,
): Promise<{ head: string; changedFiles: string[] }> {
  await createWorktree(repo, { branch: 'dancer/fix-1', dir, base });
  write(dir, files);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'fix');
  const head = git(dir, 'rev-parse', 'HEAD');
  return { head, changedFiles: await changedFiles(repo, base, head) };
}
