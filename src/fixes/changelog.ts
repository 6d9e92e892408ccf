/**
 * `dancer changelog`: every fix and rollback, from the git branches and merges joined with the
 * store's records, as a time-ordered list a human reads over coffee. Collection is I/O
 * ({@link collectChangelog}); building and rendering are pure ({@link buildChangelog},
 * {@link renderChangelog}).
 */
import { templateCountBetween } from '../patterns/index.js';
import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';
import { git } from './git.js';
import { fixTrailersFrom, parseTrailerLines } from './message.js';
import { FIX_BRANCH_PREFIX, ROLLBACK_BRANCH_PREFIX } from './names.js';
import { type FixEventRecord, type FixRecord, fixEvents, gateSteps, listFixes } from './records.js';

/** A commit Dancer made (branch tip or merge), as git shows it. */
export interface GitFixCommit {
  kind: 'branch' | 'merge';
  /** Branch name (for kind `branch`). */
  ref?: string | undefined;
  commit: string;
  /** Committer time, ms. */
  ts: number;
  subject: string;
  trailers: string;
}

/** Everything {@link buildChangelog} reads. */
export interface ChangelogSources {
  fixes: FixRecord[];
  events: Map<number, FixEventRecord[]>;
  /** The step that failed, with its last output line, per failed fix. */
  failedSteps: Map<number, { name: string; lastLine: string }>;
  commits: GitFixCommit[];
  /** Before/after rate of each fix's pattern (per minute), when template_buckets exists. */
  rates: Map<number, { before: number; after: number; windowMinutes: number }>;
}

/** One changelog entry. */
export interface ChangelogItem {
  ts: number;
  type: 'fix' | 'rollback';
  fixId: number | null;
  patternId: string;
  patternText: string | null;
  title: string;
  why: string | null;
  what: string | null;
  state: string;
  /** Status in words: deployed; rolled back and why; rejected by whom and why; failed at which step. */
  status: string;
  branch: string | null;
  mergeCommit: string | null;
  filesChanged: number | null;
  linesChanged: number | null;
  risk: string | null;
  costUsd: number | null;
  rate: { before: number; after: number; windowMinutes: number } | null;
}

function who(actor: string): string {
  return actor.startsWith('human:') ? actor.slice('human:'.length) : `dancer (${actor})`;
}

function firstLine(s: string | null | undefined): string {
  return (s ?? '').split('\n')[0]?.trim() ?? '';
}

function statusOf(
  fix: FixRecord,
  events: FixEventRecord[],
  failed: { name: string; lastLine: string } | undefined,
): string {
  const last = events.at(-1);
  const approve = [...events].reverse().find((e) => e.event === 'approve');
  switch (fix.state) {
    case 'deployed':
      return `deployed${approve ? ` (approved by ${who(approve.actor)})` : ''}`;
    case 'rolled_back':
      return `rolled back by ${last ? who(last.actor) : '?'}: ${firstLine(last?.reason)}`;
    case 'rejected':
      return `rejected by ${last ? who(last.actor) : '?'}: ${firstLine(last?.reason)}`;
    case 'failed': {
      const step = fix.failedStep ?? failed?.name ?? 'unknown step';
      const line = failed?.lastLine ? ` (${failed.lastLine})` : '';
      // "the gate failed at STEP[ after N repair rounds]: WHY" reads better as "failed at STEP[ after ...]: WHY".
      const gatePrefix = `the gate failed at ${step}`;
      let why = firstLine(fix.reason).replace(/:$/, '');
      let rounds = '';
      if (why.startsWith(gatePrefix)) {
        const m = /^( after \d+ repair rounds?)?: /.exec(why.slice(gatePrefix.length));
        rounds = m?.[1] ?? '';
        why = why.slice(gatePrefix.length + (m?.[0].length ?? 0));
      }
      const detail =
        fix.failedStep === 'policy' ? firstLine((fix.reason ?? '').split('\n')[1] ?? '').replace(/^- /, '') : '';
      return `failed at ${step}${rounds}: ${why}${detail ? ` ${detail}` : ''}${fix.failedStep === 'policy' ? '' : line}`;
    }
    case 'superseded':
      return firstLine(last?.reason) || 'superseded';
    case 'awaiting_approval':
      return 'awaiting approval';
    default:
      return fix.state.replace('_', ' ');
  }
}

/** Build the changelog entries, oldest first. Pure. */
export function buildChangelog(src: ChangelogSources, sinceMs = 0): ChangelogItem[] {
  const items: ChangelogItem[] = [];
  const known = new Set(src.fixes.map((f) => f.id));
  for (const fix of src.fixes) {
    const events = src.events.get(fix.id) ?? [];
    const rate = src.rates.get(fix.id) ?? null;
    items.push({
      ts: fix.createdAt,
      type: 'fix',
      fixId: fix.id,
      patternId: fix.patternId,
      patternText: fix.patternText,
      title: fix.summary ?? `Fix ${fix.id} for pattern ${fix.patternId}`,
      why: fix.rootCause ?? fix.analysis,
      what: fix.summary ?? fix.analysis,
      state: fix.state,
      status: statusOf(fix, events, src.failedSteps.get(fix.id)),
      branch: fix.branch,
      mergeCommit: fix.mergeCommit,
      filesChanged: fix.filesChanged,
      linesChanged: fix.linesChanged,
      risk: fix.risk,
      costUsd: fix.costUsd,
      rate,
    });
    if (fix.rollbackCommit) {
      const ev = [...events].reverse().find((e) => e.event === 'rollback');
      const commit = src.commits.find((c) => c.commit === fix.rollbackCommit);
      items.push({
        ts: ev?.ts ?? commit?.ts ?? fix.updatedAt,
        type: 'rollback',
        fixId: fix.id,
        patternId: fix.patternId,
        patternText: fix.patternText,
        title: `Rolled back fix ${fix.id}: ${fix.summary ?? ''}`.trim(),
        why: ev ? firstLine(ev.reason) : firstLine(fix.reason),
        what: `Reverted merge ${fix.mergeCommit?.slice(0, 12) ?? '?'} on ${fix.rollbackBranch ?? '?'}`,
        state: fix.state,
        status: ev ? `rolled back by ${who(ev.actor)}` : 'rollback merged',
        branch: fix.rollbackBranch,
        mergeCommit: fix.rollbackCommit,
        filesChanged: null,
        linesChanged: null,
        risk: null,
        costUsd: null,
        rate: null,
      });
    }
  }
  // Dancer commits the store does not know (a lost or different database): list them from git.
  const seen = new Set<string>();
  for (const c of [...src.commits].sort((a, b) => a.ts - b.ts)) {
    const t = fixTrailersFrom(parseTrailerLines(c.trailers));
    const id = t?.rollbackOf ?? t?.fixId;
    if (id !== undefined && known.has(id)) continue;
    const key = `${id ?? c.commit}:${t?.rollbackOf !== undefined || c.ref?.startsWith(ROLLBACK_BRANCH_PREFIX) ? 'r' : 'f'}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const isRollback = t?.rollbackOf !== undefined || Boolean(c.ref?.startsWith(ROLLBACK_BRANCH_PREFIX));
    items.push({
      ts: c.ts,
      type: isRollback ? 'rollback' : 'fix',
      fixId: id ?? null,
      patternId: t?.patternId ?? '?',
      patternText: null,
      title: c.subject,
      why: null,
      what: null,
      state: 'unknown',
      status:
        c.kind === 'merge' ? 'merged (no record in this database)' : `branch ${c.ref} (no record in this database)`,
      branch: c.ref ?? null,
      mergeCommit: c.kind === 'merge' ? c.commit : null,
      filesChanged: null,
      linesChanged: null,
      risk: null,
      costUsd: t?.costUsd ?? null,
      rate: null,
    });
  }
  return items.filter((i) => i.ts >= sinceMs).sort((a, b) => a.ts - b.ts || (a.fixId ?? 0) - (b.fixId ?? 0));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function utc(ms: number): { day: string; time: string } {
  const iso = new Date(ms).toISOString();
  return { day: iso.slice(0, 10), time: iso.slice(11, 16) };
}

function fmtRate(n: number): string {
  return n >= 10 ? n.toFixed(0) : n.toFixed(2).replace(/\.?0+$/, '') || '0';
}

/** Render entries as Markdown, grouped by UTC day, oldest first. Pure (`generatedAt` passed in). */
export function renderChangelog(items: readonly ChangelogItem[], generatedAt: number): string {
  const out: string[] = ['# Changelog', ''];
  const g = utc(generatedAt);
  out.push(
    `Written by \`dancer changelog\` on ${g.day} ${g.time} UTC from the \`dancer/fix-*\` and \`dancer/rollback-*\` branches, their merges and Dancer's records. Times are UTC.`,
    '',
  );
  if (items.length === 0) out.push('No fixes yet.', '');
  let day = '';
  for (const item of items) {
    const t = utc(item.ts);
    if (t.day !== day) {
      day = t.day;
      out.push(`## ${day}`, '');
    }
    const label = item.type === 'rollback' ? 'Rollback' : 'Fix';
    out.push(`### ${t.time} · ${label}${item.fixId !== null ? ` ${item.fixId}` : ''}: ${item.title}`, '');
    out.push(`- Pattern ${item.patternId}${item.patternText ? `: \`${item.patternText.replace(/`/g, "'")}\`` : ''}`);
    if (item.why) out.push(`- Why: ${firstLine(item.why)}`);
    if (item.what) {
      const size =
        item.filesChanged !== null
          ? ` (${plural(item.filesChanged, 'file')}, ${plural(item.linesChanged ?? 0, 'line')}, risk ${item.risk ?? '?'})`
          : '';
      out.push(`- What changed: ${firstLine(item.what)}${size}`);
    }
    out.push(`- Status: ${item.status}`);
    if (item.rate) {
      out.push(
        `- Pattern rate: ${fmtRate(item.rate.before)}/min in the ${item.rate.windowMinutes} min before, ${fmtRate(item.rate.after)}/min after`,
      );
    }
    const refs = [
      item.branch ? `branch \`${item.branch}\`` : '',
      item.mergeCommit ? `merge \`${item.mergeCommit.slice(0, 12)}\`` : '',
    ]
      .filter(Boolean)
      .join(', ');
    if (refs) out.push(`- Git: ${refs}`);
    if (item.costUsd !== null && item.type === 'fix') out.push(`- Cost: $${item.costUsd.toFixed(4)}`);
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** The Dancer branches and the merges on `mainRef` that carry Dancer trailers. */
export async function gitFixCommits(repo: string, mainRef = 'HEAD'): Promise<GitFixCommit[]> {
  const out: GitFixCommit[] = [];
  const refs = await git(repo, [
    'for-each-ref',
    '--format=%(refname:short)%00%(objectname)%00%(committerdate:unix)%00%(subject)%00%(trailers:only,unfold)%00%1e',
    `refs/heads/${FIX_BRANCH_PREFIX}*`,
    `refs/heads/${ROLLBACK_BRANCH_PREFIX}*`,
  ]);
  for (const rec of refs.stdout.split('\x1e')) {
    const [ref, commit, ts, subject, trailers] = rec.replace(/^\n/, '').split('\0');
    if (!ref || !commit) continue;
    if (!ref.startsWith(FIX_BRANCH_PREFIX) && !ref.startsWith(ROLLBACK_BRANCH_PREFIX)) continue;
    out.push({ kind: 'branch', ref, commit, ts: Number(ts) * 1000, subject: subject ?? '', trailers: trailers ?? '' });
  }
  const log = await git(
    repo,
    ['log', '--merges', '--first-parent', '--format=%H%x00%ct%x00%s%x00%(trailers:only,unfold)%x1e', mainRef],
    {
      allowFail: true,
    },
  );
  for (const rec of log.stdout.split('\x1e')) {
    const [commit, ts, subject, trailers] = rec.replace(/^\n/, '').split('\0');
    if (!commit || !trailers || !/^Dancer-Fix:/im.test(trailers)) continue;
    out.push({ kind: 'merge', commit, ts: Number(ts) * 1000, subject: subject ?? '', trailers });
  }
  return out;
}

/**
 * The pattern's mean count per minute over `windowMinutes` before the merge and after it (up to
 * the rollback, or now), from `template_buckets`. Undefined when there is no such table or data.
 */
export function patternRates(
  db: Db,
  fix: FixRecord,
  events: FixEventRecord[],
  nowMs: number,
  windowMinutes = 60,
): { before: number; after: number; windowMinutes: number } | undefined {
  const templateId = Number(fix.patternId);
  if (!Number.isInteger(templateId)) return undefined;
  const merged = events.find((e) => e.event === 'deploy');
  if (!merged) return undefined;
  const rolled = events.find((e) => e.event === 'rollback');
  const m = Math.floor(merged.ts / 60_000);
  const end = Math.min(m + windowMinutes, Math.floor((rolled?.ts ?? nowMs) / 60_000));
  const sum = (from: number, to: number) => templateCountBetween(db, templateId, from, to);
  const afterMinutes = Math.max(1, end - m);
  const beforeCount = sum(m - windowMinutes, m);
  const afterCount = sum(m, m + afterMinutes);
  // A pattern seen in neither window says nothing about the fix.
  if (beforeCount + afterCount === 0) return undefined;
  return { before: beforeCount / windowMinutes, after: afterCount / afterMinutes, windowMinutes };
}

/**
 * The pattern's rate before and after the fix as the supervisor's observation window measured
 * it from the logs (the deploy's stored verdict): finer than per-minute buckets, which cannot
 * tell before from after when both fall in the same minutes. Undefined when no verdict has it.
 */
export function deployEfficacy(
  verdicts: readonly unknown[],
): { before: number; after: number; windowMinutes: number } | undefined {
  // Newest first; a verdict without figures (or not JSON: null) says nothing, so the buckets decide.
  for (const verdict of [...verdicts].reverse()) {
    if (typeof verdict !== 'object' || verdict === null) continue;
    const v = verdict as {
      efficacy?: { beforePerMinute?: number; afterPerMinute?: number };
      baseline?: { durationMs?: number };
    };
    const e = v.efficacy;
    if (e && typeof e.beforePerMinute === 'number' && typeof e.afterPerMinute === 'number') {
      const minutes = Math.max(1, Math.round((v.baseline?.durationMs ?? 60_000) / 60_000));
      return { before: e.beforePerMinute, after: e.afterPerMinute, windowMinutes: minutes };
    }
  }
  return undefined;
}

/**
 * Gather everything for {@link buildChangelog} from the store and the repository.
 * `deployVerdicts` answers the verdicts of a fix's deploys, oldest first (the supervisor's
 * `fixDeployVerdicts`, which this stage cannot import: supervise lies above fixes); without it
 * the rates come from the pattern's buckets alone.
 */
export async function collectChangelog(
  db: Db | undefined,
  repo: string | undefined,
  nowMs: number,
  mainRef = 'HEAD',
  deployVerdicts?: (fixId: number) => readonly unknown[],
): Promise<ChangelogSources> {
  const fixes = db && tableExists(db, 'fixes') ? listFixes(db, { ascending: true }) : [];
  const events = new Map<number, FixEventRecord[]>();
  const failedSteps = new Map<number, { name: string; lastLine: string }>();
  const rates = new Map<number, { before: number; after: number; windowMinutes: number }>();
  for (const fix of fixes) {
    if (!db) break;
    const ev = fixEvents(db, fix.id);
    events.set(fix.id, ev);
    if (fix.state === 'failed') {
      const failed = gateSteps(db, fix.id)
        .filter((s) => !s.ok)
        .at(-1);
      if (failed && failed.exitCode !== 0) {
        const lastLine =
          failed.outputTail
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l && !l.startsWith('[dancer]'))
            .find((l) => /error|fail|assert/i.test(l)) ?? '';
        failedSteps.set(fix.id, { name: failed.name, lastLine: lastLine.slice(0, 200) });
      }
    }
    const rate = deployEfficacy(deployVerdicts?.(fix.id) ?? []) ?? patternRates(db, fix, ev, nowMs);
    if (rate) rates.set(fix.id, rate);
  }
  const commits = repo ? await gitFixCommits(repo, mainRef) : [];
  return { fixes, events, failedSteps, commits, rates };
}
