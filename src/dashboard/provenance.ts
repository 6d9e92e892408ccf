/**
 * The provenance chain of a fix, read from the store: the pattern it answers, the consultation
 * that wrote it (with its cost), its branch and commits, the release it became, and every deploy
 * of it with its verdict. And the way back: from a release (a commit) to the fix that made it.
 * `dancer fixes show`, the dashboard and `dancer consultations` print the same chain.
 */
import { getConsultation, getLedger, hasConsultTables } from '../consult/index.js';
import { type FixRecord, fixOfCommitPrefix, getFix, listFixes } from '../fixes/index.js';
import type { MetricsSnapshot } from '../notify/index.js';
import { beforeAfterOf } from '../notify/index.js';
import { templateById } from '../patterns/index.js';
import type { Db } from '../store/index.js';
import { deploysOfFixOrReleases, fixOfReleasePrefix } from '../supervise/index.js';

/** A deploy of the fix's release (or of its rollback), with the verdict's figures. */
export interface ProvenanceDeploy {
  id: number;
  kind: string;
  status: string;
  fromRelease: string | null;
  toRelease: string;
  startedAt: number;
  finishedAt: number | null;
  windowEndsAt: number | null;
  reason: string | null;
  actor: string | null;
  verdict: string | null;
  reasons: string[];
  before?: MetricsSnapshot;
  after?: MetricsSnapshot;
}

/** The whole chain of one fix. */
export interface Provenance {
  fix: { id: number; state: string; kind: string; summary: string | null; costUsd: number; createdAt: number };
  pattern: {
    id: string;
    text: string | null;
    count?: number;
    status?: string;
    firstSeen?: number;
    lastSeen?: number;
  };
  consultation: {
    id: number;
    status: string;
    mode: string;
    outcomeKind: string | null;
    model: string | null;
    costUsd: number | null;
    turns: number | null;
    durationMs: number | null;
    inputTokens: number | null;
    outputTokens: number | null;
  } | null;
  git: {
    branch: string | null;
    baseCommit: string | null;
    headCommit: string | null;
    mergeCommit: string | null;
    beforeTag: string | null;
    rollbackBranch: string | null;
    rollbackCommit: string | null;
  };
  /** The release the fix became (its merge commit), when it was merged. */
  release: string | null;
  deploys: ProvenanceDeploy[];
}

/** Deploys that belong to a fix: by fix id, or of its merge or rollback commit. Oldest first. */
export function deploysOfFix(db: Db, fix: FixRecord): ProvenanceDeploy[] {
  const releases = [fix.mergeCommit, fix.rollbackCommit].filter((r): r is string => Boolean(r));
  return deploysOfFixOrReleases(db, fix.id, releases).map((r) => {
    const ba = beforeAfterOf(r.verdict);
    const d: ProvenanceDeploy = {
      id: r.id,
      kind: r.kind,
      status: r.status,
      fromRelease: r.fromRelease ?? null,
      toRelease: r.toRelease,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt ?? null,
      windowEndsAt: r.windowEndsAt ?? null,
      reason: r.reason ?? null,
      actor: r.actor ?? null,
      verdict: ba?.verdict ?? null,
      reasons: ba?.reasons ?? [],
    };
    if (ba) {
      d.before = ba.before;
      d.after = ba.after;
    }
    return d;
  });
}

/** The provenance chain of fix `id`. @throws {DancerError} `DANCER_NOT_FOUND`. */
export function provenanceOf(db: Db, id: number): Provenance {
  const fix = getFix(db, id);
  const template = /^\d+$/.test(fix.patternId) ? templateById(db, Number(fix.patternId)) : undefined;
  const pattern: Provenance['pattern'] = { id: fix.patternId, text: template?.text ?? fix.patternText };
  if (template) {
    pattern.count = template.count;
    pattern.status = template.status;
    pattern.firstSeen = template.firstSeen;
    pattern.lastSeen = template.lastSeen;
  }
  let consultation: Provenance['consultation'] = null;
  const cid = fix.consultationId !== null ? Number(fix.consultationId) : Number.NaN;
  if (Number.isInteger(cid) && hasConsultTables(db)) {
    const c = getConsultation(db, cid);
    if (c) {
      const ledger = getLedger(db, cid);
      consultation = {
        id: c.id,
        status: c.status,
        mode: c.mode,
        outcomeKind: c.outcomeKind,
        model: ledger?.model ?? c.model,
        costUsd: ledger?.costUsd ?? null,
        turns: ledger?.turns ?? null,
        durationMs: ledger?.durationMs ?? null,
        inputTokens: ledger?.inputTokens ?? null,
        outputTokens: ledger?.outputTokens ?? null,
      };
    }
  }
  return {
    fix: {
      id: fix.id,
      state: fix.state,
      kind: fix.kind,
      summary: fix.summary,
      costUsd: fix.costUsd,
      createdAt: fix.createdAt,
    },
    pattern,
    consultation,
    git: {
      branch: fix.branch,
      baseCommit: fix.baseCommit,
      headCommit: fix.headCommit,
      mergeCommit: fix.mergeCommit,
      beforeTag: fix.beforeTag,
      rollbackBranch: fix.rollbackBranch,
      rollbackCommit: fix.rollbackCommit,
    },
    release: fix.mergeCommit,
    deploys: deploysOfFix(db, fix),
  };
}

/**
 * The fix a release came from: the fix merged (or reverted) as that commit. `release` may be a
 * full sha or a prefix of at least 7 characters.
 */
export function fixOfRelease(db: Db, release: string): FixRecord | undefined {
  if (!/^[0-9a-f]{7,64}$/i.test(release)) return undefined;
  const prefix = release.toLowerCase();
  const fixId = fixOfCommitPrefix(db, prefix) ?? fixOfReleasePrefix(db, prefix);
  return fixId === undefined ? undefined : getFix(db, fixId);
}

/** Fixes a consultation produced (newest first). */
export function fixesOfConsultation(db: Db, consultationId: number): FixRecord[] {
  return listFixes(db).filter((f) => f.consultationId === String(consultationId));
}

/** Short form of a commit for humans. */
export const shortSha = (sha: string | null | undefined): string =>
  !sha ? '-' : /^[0-9a-f]{40,64}$/.test(sha) ? sha.slice(0, 12) : sha;

/** The chain as text lines (for `dancer fixes show` and `dancer consultations show`). */
export function provenanceLines(p: Provenance): string[] {
  const out: string[] = [];
  const when = (ms: number | null | undefined) =>
    ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-';
  out.push(
    `pattern ${p.pattern.id}: ${p.pattern.text ?? '(no text)'}${p.pattern.count !== undefined ? ` (${p.pattern.count} seen, ${p.pattern.status})` : ''}`,
  );
  if (p.consultation) {
    const c = p.consultation;
    out.push(
      `  -> consultation ${c.id}: ${c.status}${c.outcomeKind ? `, outcome ${c.outcomeKind}` : ''}, ${c.mode}${c.model ? `, ${c.model}` : ''}${c.costUsd !== null ? `, $${c.costUsd.toFixed(4)}` : ''}${c.turns !== null ? `, ${c.turns} turns` : ''}`,
    );
  } else out.push('  -> consultation: none recorded');
  out.push(
    `  -> fix ${p.fix.id}: ${p.fix.state}${p.fix.summary ? `, ${p.fix.summary.split('\n')[0]}` : ''} ($${p.fix.costUsd.toFixed(4)})`,
  );
  const g = p.git;
  out.push(
    `  -> branch ${g.branch ?? '-'}: base ${shortSha(g.baseCommit)}, head ${shortSha(g.headCommit)}${g.beforeTag ? `, tag ${g.beforeTag}` : ''}`,
  );
  out.push(`  -> release ${p.release ? shortSha(p.release) : '- (not merged)'}`);
  if (g.rollbackCommit) out.push(`  -> rolled back by ${shortSha(g.rollbackCommit)} (${g.rollbackBranch ?? '-'})`);
  for (const d of p.deploys) {
    out.push(
      `  -> deploy #${d.id} ${d.kind} ${shortSha(d.toRelease)} ${d.status}${d.verdict ? ` (verdict ${d.verdict})` : ''} at ${when(d.startedAt)}${d.reason ? `: ${d.reason}` : ''}`,
    );
  }
  return out;
}
