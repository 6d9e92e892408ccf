/**
 * The sandbox account: which unprivileged uid runs model-written code when Dancer is root, and
 * lending the worktree to it (ownership handed over for the run, then taken back so Dancer's own
 * git never meets a tree owned by someone else).
 */
import { lchownSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DancerError } from '../errors.js';
import type { SandboxUser } from './bwrap.js';

/** Find `spec` (a name, `uid` or `uid:gid`) in passwd-format `text`. Pure. */
export function findUser(spec: string, text: string): SandboxUser | undefined {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  for (const line of text.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (!name || uid === undefined || gid === undefined) continue;
    if (numeric ? uid === numeric[1] : name === spec) {
      return { name, uid: Number(uid), gid: numeric?.[2] ? Number(numeric[2]) : Number(gid) };
    }
  }
  if (numeric) {
    const uid = Number(numeric[1]);
    return { name: String(uid), uid, gid: numeric[2] ? Number(numeric[2]) : uid };
  }
  return undefined;
}

/**
 * Resolve the sandbox account from /etc/passwd.
 *
 * @throws {DancerError} `DANCER_SANDBOX_UNAVAILABLE` when it does not exist or is root.
 */
export function resolveUser(spec: string, passwdFile = '/etc/passwd'): SandboxUser {
  let text = '';
  try {
    text = readFileSync(passwdFile, 'utf8');
  } catch (error) {
    throw new DancerError('DANCER_SANDBOX_UNAVAILABLE', `cannot read ${passwdFile} to find the sandbox user ${spec}`, {
      cause: error,
    });
  }
  const user = findUser(spec, text);
  if (!user) {
    throw new DancerError(
      'DANCER_SANDBOX_UNAVAILABLE',
      `the sandbox user ${spec} does not exist: create it (dancer init offers to) or set fixes.sandbox.user`,
      { details: { user: spec } },
    );
  }
  if (user.uid === 0 || user.gid === 0) {
    throw new DancerError(
      'DANCER_SANDBOX_UNAVAILABLE',
      `the sandbox user ${spec} is root: fixes.sandbox.user must be an unprivileged account`,
      { details: { user: spec } },
    );
  }
  return user;
}

/** Change the owner of `dir` and everything under it (symlinks themselves, never their targets). */
export function chownTree(dir: string, uid: number, gid: number): number {
  let count = 0;
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.uid !== uid || st.gid !== gid) lchownSync(p, uid, gid);
    count++;
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
  };
  walk(dir);
  return count;
}

/**
 * Hand `dirs` to `user` for one sandboxed run; the returned function hands them back to Dancer's
 * own uid (call it in a `finally`). No-op without a user (Dancer is not root).
 */
export function lendTrees(dirs: readonly string[], user: SandboxUser | null): () => void {
  if (!user) return () => {};
  for (const d of dirs) chownTree(d, user.uid, user.gid);
  return () => {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    for (const d of dirs) chownTree(d, uid, gid);
  };
}

/**
 * Take `dir` back when a killed run left it lent to the sandbox user (Dancer is root and the
 * folder is owned by someone else). Returns whether anything changed.
 */
export function reclaimTree(dir: string): boolean {
  const uid = process.getuid?.();
  if (uid !== 0) return false;
  if (lstatSync(dir).uid === uid) return false;
  chownTree(dir, uid, process.getgid?.() ?? 0);
  return true;
}
