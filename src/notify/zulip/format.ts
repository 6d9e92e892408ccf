/**
 * What the bot says, as Zulip Markdown. Pure: plain data in, text out; the length limit, the
 * bot's name and the clock come in through {@link FormatContext}.
 */

import { redactTemplateForSinks } from '../../redact/index.js';
import type { BudgetInfo, StatusInfo, StopResult } from '../actions.js';
import type { DigestInfo, FixInfo, GateResult, MetricsSnapshot, NotifyEvent, PatternInfo } from '../events.js';
import { COMMAND_NAMES, COMMAND_USAGE } from './commands.js';

/** Things every formatter needs. */
export interface FormatContext {
  /** The bot's full name, for `@**Name**` instructions. */
  botName: string;
  /** The server's `max_message_length` in code points (default 10000). */
  maxLength: number;
  /** Emoji that approve / reject. */
  emoji: { approve: string; reject: string };
  /** Base URL of the dashboard, for "see more" pointers. */
  dashboardUrl?: string | undefined;
}

/** Zulip's topic limit, in code points. */
export const MAX_TOPIC_LENGTH = 60;

/** Length in Unicode code points (what Zulip counts). */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function sliceCodePoints(s: string, end: number): string {
  if (codePointLength(s) <= end) return s;
  return [...s].slice(0, end).join('');
}

/**
 * Make untrusted text (log lines, agent output) unable to @-mention anyone: a zero-width space
 * after `@` breaks `@**Name**`, `@_**Name**`, `@*group*` and wildcards, and the text reads the same.
 */
export function neutralizeMentions(s: string): string {
  return s.replace(/@(?=_?\*)/g, '@\u200b');
}

/** Collapse whitespace to one line and cut to `max` code points with `…`; mentions neutralized. */
export function oneLine(s: string, max: number): string {
  // Redacted before the cut: a key cut in half no longer matches its rule.
  const flat = neutralizeMentions(redactTemplateForSinks(s).replace(/\s+/g, ' ').trim());
  return codePointLength(flat) <= max ? flat : `${sliceCodePoints(flat, max - 1)}…`;
}

/** Inline code that survives backticks inside. */
export function inlineCode(s: string): string {
  const longest = Math.max(0, ...[...s.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${s}${pad}${ticks}`;
}

/** A fenced block whose fence is longer than any backtick run inside. */
export function fenced(body: string, info = '', minTicks = 3): string {
  const longest = Math.max(0, ...[...body.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(minTicks, longest + 1));
  return `${fence}${info}\n${body.replace(/\n+$/, '')}\n${fence}`;
}

/** A collapsed block (Zulip's ```` ```spoiler Heading ````). */
export function spoiler(heading: string, body: string): string {
  return fenced(body, `spoiler ${oneLine(heading, 80)}`, 4);
}

/**
 * The topic of a fix: `fix 42: <pattern summary>`, within Zulip's 60 code points. A fleet's fix
 * (relayed by its leader, `origin` set) is `fix 42 (web-2 #7): <pattern summary>`: 42 is its
 * fleet number (what commands take), web-2 the host and 7 that host's own fix id.
 */
export function fixTopic(fix: {
  id: number;
  pattern?: { summary: string } | undefined;
  origin?: { host: string; fixId: number } | undefined;
}): string {
  const head = fix.origin ? `fix ${fix.id} (${oneLine(fix.origin.host, 30)} #${fix.origin.fixId})` : `fix ${fix.id}`;
  if (!fix.pattern?.summary) return head;
  const topic = `${head}: ${oneLine(fix.pattern.summary, 200)}`;
  if (codePointLength(topic) <= MAX_TOPIC_LENGTH) return topic;
  return `${sliceCodePoints(topic, MAX_TOPIC_LENGTH - 1)}…`;
}

/** Where the full text of something trimmed can be read. */
export function pointer(ctx: FormatContext, fixId?: number): string {
  const cli = fixId === undefined ? '`dancer fixes list`' : `\`dancer fixes show ${fixId}\``;
  if (!ctx.dashboardUrl) return cli;
  const base = ctx.dashboardUrl.replace(/\/+$/, '');
  const link = fixId === undefined ? base : `${base}/fixes/${fixId}`;
  return `${cli} or [the dashboard](${link})`;
}

/**
 * Fit `content` within `max` code points. Longer content is cut at a line break, an open code
 * fence is closed, and a note points to where the rest is (never Zulip's own silent truncation).
 */
export function fitMessage(raw: string, max: number, where: string): string {
  const content = redactTemplateForSinks(raw);
  if (codePointLength(content) <= max) return content;
  const note = `\n\n_(trimmed to fit Zulip's ${max}-character limit; full text: ${where})_`;
  const budget = Math.max(0, max - codePointLength(note) - 8);
  let cut = sliceCodePoints(content, budget);
  const lastBreak = cut.lastIndexOf('\n');
  if (lastBreak > budget * 0.5) cut = cut.slice(0, lastBreak);
  // Close a code fence left open by the cut.
  const fences = [...cut.matchAll(/^(`{3,}|~{3,})/gm)];
  let open: string | undefined;
  for (const f of fences) {
    const marker = f[1]!;
    if (open === undefined) open = marker;
    else if (marker.startsWith(open[0]!) && marker.length >= open.length) open = undefined;
  }
  if (open !== undefined) cut += `\n${open}`;
  return `${cut}${note}`;
}

const STATE_EMOJI: Readonly<Record<string, string>> = {
  proposed: ':bulb:',
  testing: ':test_tube:',
  awaiting_approval: ':time_ticking:',
  approved: ':check:',
  deploying: ':rocket:',
  observing: ':eyes:',
  deployed: ':tada:',
  rejected: ':cross_mark:',
  failed: ':warning:',
  rolled_back: ':rewind:',
  superseded: ':recycle:',
};

/** `:emoji: **state name**` */
export function stateLabel(state: string): string {
  return `${STATE_EMOJI[state] ?? ':white_circle:'} **${state.replace(/_/g, ' ')}**`;
}

function usd(n: number | undefined): string {
  return n === undefined ? 'n/a' : `$${n.toFixed(2)}`;
}

function count(n: number | undefined): string {
  return n === undefined ? '?' : n.toLocaleString('en-US');
}

/** ISO time as Zulip's global time syntax (rendered in each reader's zone). */
export function zulipTime(ms: number): string {
  return `<time:${new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')}>`;
}

function utcClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

function patternLine(p: PatternInfo): string {
  const parts = [`pattern #${p.id} ${inlineCode(oneLine(p.summary, 160))}`];
  if (p.count !== undefined) parts.push(`(${count(p.count)} occurrences)`);
  return parts.join(' ');
}

function gatesSummary(gates: GateResult[] | undefined): string {
  if (!gates || gates.length === 0) return 'not run';
  const passed = gates.filter((g) => g.ok).length;
  return `${passed}/${gates.length} passed`;
}

function gatesLine(gates: GateResult[]): string {
  return gates
    .map((g) => {
      const secs = g.durationMs === undefined ? '' : ` ${(g.durationMs / 1000).toFixed(1)}s`;
      const detail = g.detail ? ` (${oneLine(g.detail, 80)})` : '';
      return `${g.ok ? ':check:' : ':cross_mark:'} ${g.name}${secs}${detail}`;
    })
    .join(' · ');
}

function diffStats(fix: FixInfo): string {
  const files = fix.files ?? [];
  if (files.length === 0) return 'no diff summary';
  const added = files.reduce((a, f) => a + f.added, 0);
  const removed = files.reduce((a, f) => a + f.removed, 0);
  return `${files.length} file${files.length === 1 ? '' : 's'}, +${added} −${removed}`;
}

function approveHint(ctx: FormatContext, id: number): string {
  return (
    `react :${ctx.emoji.approve}: to approve or :${ctx.emoji.reject}: to reject, ` +
    `or say \`@**${ctx.botName}** approve ${id}\` / \`@**${ctx.botName}** reject ${id} REASON\``
  );
}

/** The first message of a fix's topic; edited in place on every state change. */
export function formatFixHead(fix: FixInfo, ctx: FormatContext, now: number): string {
  const lines = [`**Fix ${fix.id}** · ${stateLabel(fix.state)}`];
  lines.push(`**Pattern:** ${patternLine(fix.pattern).replace(/^pattern /, '')}`);
  if (fix.title) lines.push(`**Change:** ${oneLine(fix.title, 200)}`);
  const facts = [
    `**Risk:** ${fix.risk?.level ?? 'n/a'}`,
    `**Cost:** ${usd(fix.costUsd)}`,
    `**Gates:** ${gatesSummary(fix.gates)}`,
  ];
  if (fix.files?.length) facts.push(`**Diff:** ${diffStats(fix)}`);
  lines.push(facts.join(' · '));
  if (fix.branch) lines.push(`**Branch:** ${inlineCode(fix.branch)}`);
  if (fix.reason) lines.push(`**Why:** ${oneLine(fix.reason, 300)}`);
  if (fix.state === 'awaiting_approval') lines.push(`**To decide:** ${approveHint(ctx, fix.id)}.`);
  lines.push(`_Updated ${zulipTime(now)}_`);
  return fitMessage(lines.join('\n'), ctx.maxLength, pointer(ctx, fix.id));
}

/** The short reply for one state change. */
export function formatStateReply(e: { from: string; to: string; actor: string; reason?: string | undefined }): string {
  const reason = e.reason ? `: ${oneLine(e.reason, 400)}` : '';
  return `${stateLabel(e.to)} (from ${e.from.replace(/_/g, ' ')}, by ${e.actor})${reason}`;
}

/** A consultation started: pattern, counts, trigger rule. */
export function formatConsultationStarted(
  e: Extract<NotifyEvent, { type: 'consultation_started' }>,
  ctx: FormatContext,
): string {
  const p = e.pattern;
  const lines = [`:mag: **Consultation ${e.consultationId} started** for ${patternLine(p)}`];
  const counts: string[] = [];
  if (p.windowCount !== undefined) {
    counts.push(
      `${count(p.windowCount)} in the last ${p.window ?? 'window'}` +
        (p.baseline !== undefined ? ` (baseline ${count(Math.round(p.baseline * 10) / 10)})` : ''),
    );
  }
  if (p.count !== undefined) counts.push(`${count(p.count)} overall`);
  if (p.firstSeen !== undefined) counts.push(`first seen ${zulipTime(p.firstSeen)}`);
  if (counts.length > 0) lines.push(`- **Counts:** ${counts.join(', ')}`);
  lines.push(`- **Trigger:** ${oneLine(e.trigger, 300)}`);
  return fitMessage(lines.join('\n'), ctx.maxLength, pointer(ctx, e.fixId));
}

/** A consultation finished (outcome, cost). */
export function formatConsultationFinished(
  e: Extract<NotifyEvent, { type: 'consultation_finished' }>,
  ctx: FormatContext,
): string {
  const emoji =
    e.outcome === 'fix' ? ':bulb:' : e.outcome === 'failed' || e.outcome === 'aborted' ? ':warning:' : ':memo:';
  const parts = [`${emoji} **Consultation ${e.consultationId} finished**: ${e.outcome.replace(/_/g, ' ')}`];
  if (e.costUsd !== undefined) parts.push(`(cost ${usd(e.costUsd)})`);
  let text = parts.join(' ');
  if (e.fixId !== undefined) text += ` → fix ${e.fixId}`;
  if (e.summary) text += `\n${oneLine(e.summary, 600)}`;
  return fitMessage(text, ctx.maxLength, pointer(ctx, e.fixId));
}

/**
 * A proposed fix: analysis, diff summary, gate results, risk, cost, how to approve. The full
 * diff is added in a collapsed block only when everything fits the length limit.
 */
export function formatProposal(fix: FixInfo, ctx: FormatContext): string {
  const lines = [`:bulb: **Proposed fix ${fix.id}**${fix.title ? `: ${oneLine(fix.title, 200)}` : ''}`];
  if (fix.analysis) {
    lines.push('', '**Analysis**', ...oneParagraphs(fix.analysis, 1500).map((l) => `> ${l}`));
  }
  if (fix.rootCause) lines.push('', `**Root cause:** ${oneLine(fix.rootCause, 500)}`);
  lines.push('', `**Diff:** ${diffStats(fix)}`);
  const files = fix.files ?? [];
  if (files.length > 0) {
    lines.push('', '| file | + | − |', '|---|---:|---:|');
    for (const f of files.slice(0, 15)) lines.push(`| ${inlineCode(f.path)} | ${f.added} | ${f.removed} |`);
    if (files.length > 15) lines.push(`| … ${files.length - 15} more | | |`);
  }
  if (fix.gates?.length) lines.push('', `**Gates:** ${gatesLine(fix.gates)}`);
  const risk = fix.risk
    ? `${fix.risk.level}${fix.risk.reasons?.length ? ` (${fix.risk.reasons.map((r) => oneLine(r, 120)).join('; ')})` : ''}`
    : 'n/a';
  lines.push('', `**Risk:** ${risk} · **Cost:** ${usd(fix.costUsd)}`);
  lines.push(`**To approve:** ${approveHint(ctx, fix.id)}.`);
  const base = lines.join('\n');
  const where = pointer(ctx, fix.id);
  if (fix.diff) {
    const withDiff = `${base}\n\n${spoiler(`Full diff (${diffStats(fix)})`, fenced(fix.diff, 'diff'))}`;
    if (codePointLength(withDiff) <= ctx.maxLength) return withDiff;
    const diffWhere = where.replace(`\`dancer fixes show ${fix.id}\``, `\`dancer fixes diff ${fix.id}\``);
    return fitMessage(`${base}\n\n_The full diff is too long for Zulip: ${diffWhere}._`, ctx.maxLength, where);
  }
  return fitMessage(base, ctx.maxLength, where);
}

function oneParagraphs(text: string, max: number): string[] {
  const safe = neutralizeMentions(text);
  const cut = codePointLength(safe) > max ? `${sliceCodePoints(safe, max - 1)}…` : safe;
  return cut.split(/\n/).map((l) => l.trimEnd());
}

/** The approval request (reactions on it approve or reject). */
export function formatApprovalRequest(fix: FixInfo, ctx: FormatContext): string {
  const facts = [`risk ${fix.risk?.level ?? 'n/a'}`, `gates ${gatesSummary(fix.gates)}`, `cost ${usd(fix.costUsd)}`];
  return (
    `:time_ticking: **Fix ${fix.id} needs approval** (${facts.join(', ')}).\n` +
    `${capitalize(approveHint(ctx, fix.id))}. Only allow-listed users are obeyed.`
  );
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A deploy started. */
export function formatDeployStarted(e: Extract<NotifyEvent, { type: 'deploy_started' }>): string {
  return `:rocket: **Deploy started**: release ${inlineCode(e.release)}${e.fixId !== undefined ? ` (fix ${e.fixId})` : ''}.`;
}

const METRIC_ROWS: Array<[keyof MetricsSnapshot, string, number]> = [
  ['errorRate', 'errors/min', 2],
  ['patternRate', 'target pattern/min', 2],
  ['p50Ms', 'p50 latency (ms)', 1],
  ['p95Ms', 'p95 latency (ms)', 1],
  ['memMb', 'RSS (MiB)', 1],
  ['requestsPerMin', 'requests/min', 0],
];

/** A before/after metrics table (rows with a value on either side). */
export function formatMetricsTable(before: MetricsSnapshot = {}, after: MetricsSnapshot = {}): string {
  const rows: string[] = [];
  for (const [key, label, digits] of METRIC_ROWS) {
    const b = before[key];
    const a = after[key];
    if (b === undefined && a === undefined) continue;
    let change = '';
    if (b !== undefined && a !== undefined) {
      change = b === 0 ? (a === 0 ? '0%' : 'new') : `${a >= b ? '+' : '−'}${Math.abs(((a - b) / b) * 100).toFixed(0)}%`;
    }
    rows.push(`| ${label} | ${b?.toFixed(digits) ?? '–'} | ${a?.toFixed(digits) ?? '–'} | ${change} |`);
  }
  if (rows.length === 0) return '';
  return ['| metric | before | after | change |', '|---|---:|---:|---:|', ...rows].join('\n');
}

/** A deploy finished, with before/after metrics. */
export function formatDeployFinished(e: Extract<NotifyEvent, { type: 'deploy_finished' }>, ctx: FormatContext): string {
  const took = e.durationMs === undefined ? '' : ` in ${(e.durationMs / 1000).toFixed(1)} s`;
  const head = e.ok
    ? `:check: **Deploy finished**: release ${inlineCode(e.release)} is live${took}.`
    : `:warning: **Deploy failed**: release ${inlineCode(e.release)}${took}.`;
  const parts = [head];
  if (e.detail) parts.push(oneLine(e.detail, 500));
  const table = formatMetricsTable(e.before, e.after);
  if (table) parts.push('', table);
  return fitMessage(parts.join('\n'), ctx.maxLength, pointer(ctx, e.fixId));
}

/** A rollback, with its reason. */
export function formatRollback(e: Extract<NotifyEvent, { type: 'rollback' }>, ctx: FormatContext): string {
  const what = e.fixId !== undefined ? `fix ${e.fixId}` : 'the current release';
  const releases =
    e.fromRelease || e.toRelease
      ? ` (${e.fromRelease ? inlineCode(e.fromRelease) : '?'} → ${e.toRelease ? inlineCode(e.toRelease) : '?'})`
      : '';
  const head = e.ok
    ? `:rewind: **Rolled back** ${what}${releases}, by ${e.actor}.`
    : `:warning: **Rollback of ${what} failed**${releases}, by ${e.actor}.`;
  const table = formatMetricsTable(e.before, e.after);
  const body = `${head}\n**Reason:** ${oneLine(e.reason, 800)}${table ? `\n\n${table}` : ''}`;
  return fitMessage(body, ctx.maxLength, pointer(ctx, e.fixId));
}

/** Dancer's own failure. */
export function formatFailure(e: Extract<NotifyEvent, { type: 'failure' }>, ctx: FormatContext): string {
  const code = e.code ? ` (${inlineCode(e.code)})` : '';
  const fix = e.fixId !== undefined ? ` while working on fix ${e.fixId}` : '';
  return fitMessage(
    `:warning: **Dancer problem** in ${oneLine(e.component, 80)}${fix}${code}:\n${fenced(e.message.slice(0, 4000))}`,
    ctx.maxLength,
    '`dancer logs`',
  );
}

/** The emergency stop was engaged. */
export function formatStopped(e: { by: string; reason?: string | undefined; detail?: string | undefined }): string {
  const reason = e.reason ? `: ${oneLine(e.reason, 300)}` : '';
  const detail = e.detail ? `\n${e.detail}` : '';
  return (
    `:stop_sign: **Emergency stop** engaged by ${e.by}${reason}. Consultations, the fix pipeline and deploys are ` +
    `halted until someone says \`resume\`.${detail}`
  );
}

/** The emergency stop was lifted. */
export function formatResumed(e: { by: string }): string {
  return `:green_circle: **Resumed** by ${e.by}: the fix pipeline runs again.`;
}

/** The daily digest: fixes, costs, top patterns. */
export function formatDigest(d: DigestInfo, ctx: FormatContext): string {
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
  const f = d.fixes;
  const lines = [
    `:newspaper: **Daily digest** (${day(d.from)} → ${day(d.to)} UTC)`,
    `- **Fixes:** ${f.proposed} proposed, ${f.deployed} deployed, ${f.rolledBack} rolled back, ${f.rejected} rejected, ${f.failed} failed; ${f.open} open`,
  ];
  const cost = d.budgetUsd === undefined ? usd(d.costUsd) : `${usd(d.costUsd)} of ${usd(d.budgetUsd)} daily budget`;
  lines.push(`- **Cost:** ${cost}${d.consultations !== undefined ? ` over ${d.consultations} consultations` : ''}`);
  if (d.topPatterns.length > 0) {
    lines.push('', '**Top patterns**');
    d.topPatterns.slice(0, 5).forEach((p, i) => {
      lines.push(`${i + 1}. ${inlineCode(oneLine(p.summary, 120))} (#${p.id}): ${count(p.windowCount ?? p.count)}`);
    });
  }
  return fitMessage(lines.join('\n'), ctx.maxLength, pointer(ctx));
}

// ---- command replies ---------------------------------------------------------------------------

/** `help`. */
export function formatHelp(ctx: FormatContext): string {
  const lines = [
    `I'm ${ctx.botName}. Mention me in a channel (\`@**${ctx.botName}** status\`) or send me a direct message:`,
    ...COMMAND_NAMES.map((n) => `- ${COMMAND_USAGE[n].replace(/^([^:]+):/, '`$1`:')}`),
    `In a fix's topic the ID may be left out. On a proposal, react :${ctx.emoji.approve}: to approve or :${ctx.emoji.reject}: to reject.`,
  ];
  return lines.join('\n');
}

/** `status`. */
export function formatStatus(s: StatusInfo, now: number): string {
  const lines: string[] = [];
  if (s.stopped) {
    lines.push(
      `:stop_sign: **Emergency stop engaged** by ${s.stopped.by} ${zulipTime(s.stopped.at)}${s.stopped.reason ? `: ${oneLine(s.stopped.reason, 200)}` : ''}. Say \`resume\` to lift it.`,
    );
  } else {
    lines.push(':green_circle: **Running** (no emergency stop).');
  }
  if (s.service) {
    const since = s.service.since !== undefined ? ` since ${zulipTime(s.service.since)}` : '';
    const release = s.service.release ? `, release ${inlineCode(s.service.release)}` : '';
    const pid = s.service.pid !== undefined ? `, pid ${s.service.pid}` : '';
    lines.push(
      `- **Service${s.service.name ? ` ${s.service.name}` : ''}:** ${s.service.state}${release}${pid}${since}`,
    );
  }
  if (s.consultation) {
    const mins = Math.max(0, Math.round((now - s.consultation.startedAt) / 60_000));
    lines.push(
      `- **Consultation ${s.consultation.id}** running for ${mins} min on ${inlineCode(oneLine(s.consultation.pattern, 100))}`,
    );
  } else if (s.consultation === null) {
    lines.push('- No consultation running.');
  }
  if (s.deploy) {
    lines.push(
      `- **Deploy** of ${inlineCode(s.deploy.release)}${s.deploy.fixId !== undefined ? ` (fix ${s.deploy.fixId})` : ''} ${s.deploy.phase ?? 'in progress'} since ${zulipTime(s.deploy.startedAt)}`,
    );
  }
  if (s.awaitingApproval?.length)
    lines.push(`- **Awaiting approval:** ${s.awaitingApproval.map((id) => `fix ${id}`).join(', ')}`);
  if (s.openFixes !== undefined) lines.push(`- **Open fixes:** ${s.openFixes}`);
  for (const note of s.notes ?? []) lines.push(`- ${oneLine(note, 300)}`);
  return lines.join('\n');
}

/** `patterns`. */
export function formatPatterns(patterns: PatternInfo[], ctx: FormatContext): string {
  if (patterns.length === 0) return 'No error patterns recorded yet.';
  const lines = ['| # | pattern | count | status |', '|---:|---|---:|---|'];
  for (const p of patterns.slice(0, 20)) {
    lines.push(`| ${p.id} | ${inlineCode(oneLine(p.summary, 100))} | ${count(p.count)} | ${p.status ?? ''} |`);
  }
  return fitMessage(lines.join('\n'), ctx.maxLength, '`dancer patterns`');
}

/** `fixes`. */
export function formatFixList(fixes: FixInfo[], ctx: FormatContext): string {
  if (fixes.length === 0) return 'No fixes yet.';
  const lines = ['| fix | state | pattern | risk | cost |', '|---:|---|---|---|---:|'];
  for (const f of fixes.slice(0, 20)) {
    lines.push(
      `| ${f.id} | ${stateLabel(f.state)} | ${inlineCode(oneLine(f.pattern.summary, 60))} | ${f.risk?.level ?? ''} | ${usd(f.costUsd)} |`,
    );
  }
  return fitMessage(lines.join('\n'), ctx.maxLength, pointer(ctx));
}

/** `show ID`. */
export function formatShow(fix: FixInfo, ctx: FormatContext, now: number): string {
  const head = formatFixHead(fix, ctx, now);
  const body = formatProposal(fix, ctx);
  return fitMessage(`${head}\n\n${body}`, ctx.maxLength, pointer(ctx, fix.id));
}

/** `budget`. */
export function formatBudget(b: BudgetInfo): string {
  const lines = [
    `:moneybag: **Spent today:** ${usd(b.todayUsd)}${b.dailyLimitUsd !== undefined ? ` of ${usd(b.dailyLimitUsd)}` : ''}`,
  ];
  if (b.dailyLimitUsd !== undefined) lines.push(`- **Left today:** ${usd(Math.max(0, b.dailyLimitUsd - b.todayUsd))}`);
  if (b.perConsultationLimitUsd !== undefined)
    lines.push(`- **Per consultation:** at most ${usd(b.perConsultationLimitUsd)}`);
  if (b.consultationsToday !== undefined) lines.push(`- **Consultations today:** ${b.consultationsToday}`);
  if (b.monthUsd !== undefined) lines.push(`- **This month:** ${usd(b.monthUsd)}`);
  for (const note of b.notes ?? []) lines.push(`- ${oneLine(note, 300)}`);
  return lines.join('\n');
}

/** The reply to `stop`. */
export function formatStopReply(r: StopResult): string {
  const effects = r.effects?.length ? `\n${r.effects.map((e) => `- ${oneLine(e, 300)}`).join('\n')}` : '';
  return `:stop_sign: ${r.message}${effects}`;
}

/** A polite refusal for someone not on the allow-list. */
export function formatRefusal(who: { name: string; userId: number }, what: string): string {
  return (
    `Sorry @_**${who.name}|${who.userId}**, I only take \`${what}\` from people on my allow-list ` +
    '(`notify.zulip.allow` in dancer.yaml), and you are not on it. I have noted the attempt; ask an operator if you need access.'
  );
}

/** A command that failed. */
export function formatCommandError(what: string, error: { code?: string; message: string }): string {
  const code = error.code ? ` (${inlineCode(error.code)})` : '';
  return `:warning: \`${what}\` did not work${code}: ${oneLine(error.message, 600)}`;
}

/**
 * Several queued messages for one topic delivered as one (after Zulip was unreachable), each
 * part with its original time. Returns undefined when they do not fit in one message.
 */
export function collapseBacklog(parts: Array<{ content: string; createdAt: number }>, max: number): string | undefined {
  if (parts.length === 0) return undefined;
  const first = parts[0]!.createdAt;
  const last = parts[parts.length - 1]!.createdAt;
  const header = `_${parts.length} updates queued while Zulip was unreachable (${utcClock(first)}–${utcClock(last)} UTC):_`;
  const body = parts.map((p) => `**${utcClock(p.createdAt)}** ${p.content}`).join('\n\n');
  const text = `${header}\n\n${body}`;
  return codePointLength(text) <= max ? text : undefined;
}
