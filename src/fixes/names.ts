/**
 * Names Dancer gives to branches, worktree folders and tags. Pure functions of their inputs.
 */

/** Prefix of every fix branch. */
export const FIX_BRANCH_PREFIX = 'dancer/fix-';
/** Prefix of every rollback branch. */
export const ROLLBACK_BRANCH_PREFIX = 'dancer/rollback-';
/** Prefix of the tag put on the main branch before every merge. */
export const BEFORE_TAG_PREFIX = 'dancer-before-';

/** `yyyymmdd-hhmm` in UTC. */
export function utcStamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}

/** The first 8 characters of a pattern hash, made safe for a ref name. */
export function shortPatternHash(hash: string): string {
  const safe = hash.toLowerCase().replace(/[^a-z0-9]/g, '');
  return (safe || 'pattern').slice(0, 8);
}

/** `dancer/fix-<UTC yyyymmdd-hhmm>-<short pattern hash>`, with `-N` when `attempt` > 1. */
export function fixBranchName(nowMs: number, patternHash: string, attempt = 1): string {
  const base = `${FIX_BRANCH_PREFIX}${utcStamp(nowMs)}-${shortPatternHash(patternHash)}`;
  return attempt > 1 ? `${base}-${attempt}` : base;
}

/** `dancer/rollback-<UTC yyyymmdd-hhmm>`, with `-N` when `attempt` > 1. */
export function rollbackBranchName(nowMs: number, attempt = 1): string {
  const base = `${ROLLBACK_BRANCH_PREFIX}${utcStamp(nowMs)}`;
  return attempt > 1 ? `${base}-${attempt}` : base;
}

/** `dancer-before-<unix seconds>`, with `-N` when `attempt` > 1 (two merges in one second). */
export function beforeTagName(nowMs: number, attempt = 1): string {
  const base = `${BEFORE_TAG_PREFIX}${Math.floor(nowMs / 1000)}`;
  return attempt > 1 ? `${base}-${attempt}` : base;
}

/** The worktree folder name for a branch: `dancer/fix-x` becomes `fix-x`. */
export function worktreeFolderName(branch: string): string {
  return branch.replace(/^dancer\//, '').replace(/[^A-Za-z0-9._-]/g, '-');
}

/**
 * The default worktree base: `/var/dancer/<service>/worktrees` when running as root and it is
 * writable (one folder per service, so the services of one host never share worktrees), else
 * `.dancer/worktrees` next to the config file.
 */
export function defaultWorktreeBase(facts: {
  isRoot: boolean;
  varWritable: boolean;
  dir: string;
  service: string;
}): string {
  if (facts.isRoot && facts.varWritable) return `/var/dancer/${facts.service}/worktrees`;
  return `${facts.dir.replace(/\/+$/, '')}/.dancer/worktrees`;
}
