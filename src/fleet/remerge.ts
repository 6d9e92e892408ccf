/**
 * Pushing a lease holder's merged fix to the fleet's shared remote when other hosts push too.
 * Two hosts fixing two different patterns at once both merge into their own main and push: the
 * second push of main is refused (not a fast-forward). The pusher then fetches the remote's new
 * main, merges its fix branch onto it again (the same `--no-ff` merge message), asks for the gate
 * to run on that combined tree, and pushes again, at most `attempts` times. It never forces main:
 * a merge that conflicts, a gate that fails on the combined tree, or a remote that keeps moving
 * ends the attempt with a reason and this host's fix is not rolled out (see docs/fleet.md,
 * "Concurrent merges").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { git } from '../process/index.js';

/** The gate on a combined tree: `commit` (the fix re-merged) against `base` (the remote's main). */
export type RecheckFn = (request: {
  fixId: number;
  commit: string;
  base: string;
  signal?: AbortSignal | undefined;
}) => Promise<{ ok: true; summary?: string | undefined } | { ok: false; reason: string }>;

/** What {@link pushMerged} needs. */
export interface PushMergedOptions {
  repo: string;
  remote: string;
  /** The main branch's name (local and on the remote). */
  main: string;
  /** The fix branch ('' when the fix has no branch: only main is pushed). */
  branch: string;
  /** The fix's merge commit on this host's main. */
  merge: string;
  fixId: number;
  /** How many times main may be found moved before giving up. */
  attempts: number;
  /** The gate on the combined tree. Without it a re-merge is refused (the fix is not pushed untested). */
  recheck?: RecheckFn | undefined;
  /** Called before each push: throws when this host may no longer push (its lease was lost). */
  fence?: ((commit: string) => Promise<void>) | undefined;
  signal?: AbortSignal | undefined;
  log: (message: string) => void;
}

/** The outcome of {@link pushMerged}. */
export type PushMergedOutcome =
  | { ok: true; commit: string; remerged: number }
  | { ok: false; why: 'conflict' | 'gate' | 'moving' | 'push' | 'fenced'; reason: string };

/** Is a failed porcelain push a refusal because the remote's ref moved (not a hook or a network error)? */
export function refusedAsStale(stdout: string): boolean {
  return /^!\s+\S+\s+\[rejected\] \((fetch first|non-fast-forward|stale info)\)/m.test(stdout);
}

/**
 * Push `merge` as the remote's main (and the fix branch with it, atomically); when the remote's
 * main moved, re-merge the fix onto it, run the gate there and try again. On success this host's
 * main points at the commit that was pushed.
 */
export async function pushMerged(o: PushMergedOptions): Promise<PushMergedOutcome> {
  let commit = o.merge;
  let remerged = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      await o.fence?.(commit);
    } catch (error) {
      return { ok: false, why: 'fenced', reason: errorMessage(error) };
    }
    const refs = [`${commit}:refs/heads/${o.main}`];
    if (o.branch) refs.unshift(`+refs/heads/${o.branch}:refs/heads/${o.branch}`);
    const r = await git(o.repo, ['push', '--porcelain', '--atomic', o.remote, ...refs], { allowFail: true });
    if (r.exitCode === 0) {
      if (commit !== o.merge) await moveMain(o, commit);
      return { ok: true, commit, remerged };
    }
    if (!refusedAsStale(r.stdout)) {
      const line =
        [...r.stdout.split('\n'), ...r.stderr.split('\n')].find((l) => /rejected|error|fatal/.test(l))?.trim() ??
        `exit ${r.exitCode}`;
      return { ok: false, why: 'push', reason: `git push to ${o.remote} failed: ${line}` };
    }
    if (attempt > o.attempts) {
      return {
        ok: false,
        why: 'moving',
        reason: `${o.remote}'s ${o.main} moved again after ${o.attempts} re-merge${o.attempts === 1 ? '' : 's'} of the fix; gave up (retry the fix)`,
      };
    }
    await git(o.repo, ['fetch', '--quiet', o.remote, `+refs/heads/${o.main}:refs/remotes/fleet/${o.main}`]);
    const base = (await git(o.repo, ['rev-parse', `refs/remotes/fleet/${o.main}`])).stdout.trim();
    if (await isAncestor(o.repo, commit, base)) {
      // Already there (an earlier attempt's push landed though its answer was lost).
      await moveMain(o, base);
      return { ok: true, commit, remerged };
    }
    if (!o.branch) {
      return {
        ok: false,
        why: 'conflict',
        reason: `${o.remote}'s ${o.main} moved and there is no fix branch to re-merge`,
      };
    }
    if (!o.recheck) {
      return {
        ok: false,
        why: 'gate',
        reason: `${o.remote}'s ${o.main} moved and no gate can run on the combined tree; the fix is not pushed untested`,
      };
    }
    o.log(
      `fix ${o.fixId}: ${o.remote}'s ${o.main} moved to ${base.slice(0, 12)} (another host's fix); re-merging ${o.branch} onto it (attempt ${attempt} of ${o.attempts})`,
    );
    const merged = await mergeOnto(o, base);
    if (!merged.ok) return { ok: false, why: 'conflict', reason: merged.reason };
    const gate = await o.recheck({ fixId: o.fixId, commit: merged.commit, base, signal: o.signal });
    if (!gate.ok) {
      return {
        ok: false,
        why: 'gate',
        reason: `the gate failed on the fix re-merged onto ${o.remote}'s ${o.main} ${base.slice(0, 12)}: ${gate.reason}`,
      };
    }
    o.log(
      `fix ${o.fixId}: the gate passed on the combined tree ${merged.commit.slice(0, 12)}${gate.summary ? ` (${gate.summary})` : ''}`,
    );
    commit = merged.commit;
    remerged++;
  }
}

async function isAncestor(repo: string, a: string, b: string): Promise<boolean> {
  return (await git(repo, ['merge-base', '--is-ancestor', a, b], { allowFail: true })).exitCode === 0;
}

/** Merge the fix branch onto `base` in a throw-away worktree, with the original merge's message and author. */
async function mergeOnto(
  o: PushMergedOptions,
  base: string,
): Promise<{ ok: true; commit: string } | { ok: false; reason: string }> {
  const who = (await git(o.repo, ['log', '-1', '--format=%an%n%ae%n%cn%n%ce', o.merge])).stdout.split('\n');
  const message = (await git(o.repo, ['log', '-1', '--format=%B', o.merge], { raw: true })).stdout;
  const env = {
    GIT_AUTHOR_NAME: who[0] ?? 'dancer',
    GIT_AUTHOR_EMAIL: who[1] ?? 'dancer@localhost',
    GIT_COMMITTER_NAME: who[2] ?? 'dancer',
    GIT_COMMITTER_EMAIL: who[3] ?? 'dancer@localhost',
  };
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'dancer-remerge-')), 'tree');
  try {
    await git(o.repo, ['worktree', 'add', '--quiet', '--detach', dir, base]);
    const m = await git(
      dir,
      ['merge', '--no-ff', '--no-edit', '-m', message.replace(/\n+$/, ''), `refs/heads/${o.branch}`],
      {
        env,
        allowFail: true,
      },
    );
    if (m.exitCode !== 0) {
      const files = (await git(dir, ['diff', '--name-only', '--diff-filter=U'], { allowFail: true })).stdout
        .split('\n')
        .filter(Boolean);
      return {
        ok: false,
        reason: `the fix conflicts with ${o.remote}'s ${o.main} ${base.slice(0, 12)} (another host's fix) in ${files.join(', ') || 'the merge'}; it is not rolled out: retry it from the new main`,
      };
    }
    return { ok: true, commit: (await git(dir, ['rev-parse', 'HEAD'])).stdout.trim() };
  } finally {
    await git(o.repo, ['worktree', 'remove', '--force', '--force', dir], { allowFail: true });
    rmSync(path.dirname(dir), { recursive: true, force: true });
    await git(o.repo, ['worktree', 'prune'], { allowFail: true });
  }
}

/** Point this host's main at `commit` if it still is the fix's merge (compare and swap). */
async function moveMain(o: PushMergedOptions, commit: string): Promise<void> {
  const current = (await git(o.repo, ['rev-parse', `refs/heads/${o.main}`])).stdout.trim();
  if (current === commit) return;
  if (current !== o.merge) {
    o.log(`fix ${o.fixId}: ${o.main} moved here meanwhile; left at ${current.slice(0, 12)}`);
    return;
  }
  const head = (await git(o.repo, ['symbolic-ref', '--quiet', '--short', 'HEAD'], { allowFail: true })).stdout.trim();
  const r =
    head === o.main
      ? await git(o.repo, ['reset', '--quiet', '--keep', commit], { allowFail: true })
      : await git(o.repo, ['update-ref', `refs/heads/${o.main}`, commit, o.merge], { allowFail: true });
  if (r.exitCode !== 0) {
    o.log(`fix ${o.fixId}: ${o.main} not moved to ${commit.slice(0, 12)}: ${r.stderr.split('\n')[0]}`);
  }
}
