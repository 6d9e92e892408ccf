/**
 * Which messages an event becomes: topics, the fix's head message (posted once, then edited in
 * place), short replies, the approval request with its reaction buttons. Pure.
 */
import type { FixInfo, NotifyEvent } from '../events.js';
import {
  type FormatContext,
  fixTopic,
  formatApprovalRequest,
  formatConsultationFinished,
  formatConsultationStarted,
  formatDeployFinished,
  formatDeployStarted,
  formatDigest,
  formatFailure,
  formatFixHead,
  formatProposal,
  formatResumed,
  formatRollback,
  formatStateReply,
  formatStopped,
} from './format.js';
import type { OutboxInput } from './outbox.js';

/** Where the bot posts. */
export interface PlanSettings {
  stream: string;
  statusTopic: string;
}

/** What the planner needs to know about a fix's existing messages (read from the outbox). */
export interface FixThread {
  /** Topic already used for the fix, if any (kept even if the summary changes). */
  topic?: string | undefined;
  /** Whether the head message exists (sent or pending). */
  hasHead: boolean;
  /** Whether an approval request exists. */
  hasApproval: boolean;
}

/** The `ref_key` of a fix's head message. */
export const headKey = (fixId: number) => `fix:${fixId}:head`;
/** The `ref_key` of a fix's approval request. */
export const approvalKey = (fixId: number) => `fix:${fixId}:approval`;
/** The `ref_key` of a fix's proposal. */
export const proposalKey = (fixId: number) => `fix:${fixId}:proposal`;

/** The fix id an event is about, if any. */
export function eventFixId(event: NotifyEvent): number | undefined {
  switch (event.type) {
    case 'fix_proposed':
    case 'fix_state':
    case 'approval_requested':
      return event.fix.id;
    case 'consultation_started':
    case 'consultation_finished':
    case 'deploy_started':
    case 'deploy_finished':
    case 'rollback':
    case 'failure':
      return event.fixId ?? ('fix' in event && event.fix ? event.fix.id : undefined);
    default:
      return undefined;
  }
}

/** The messages for one event, in the order they must be delivered. */
export function planEventMessages(
  event: NotifyEvent,
  ctx: FormatContext,
  settings: PlanSettings,
  thread: FixThread,
): OutboxInput[] {
  const now = event.at;
  const fixId = eventFixId(event);
  const fix: FixInfo | undefined = 'fix' in event ? event.fix : undefined;
  const topic =
    fixId === undefined
      ? settings.statusTopic
      : (thread.topic ?? fixTopic({ id: fixId, pattern: fix?.pattern ?? patternOf(event), origin: event.origin }));
  const inTopic = (content: string, extra: Partial<OutboxInput> = {}): OutboxInput => {
    const input: OutboxInput = { dest: 'stream', stream: settings.stream, topic, content, ...extra };
    if (fixId !== undefined) input.fixId = fixId;
    return input;
  };
  const status = (content: string, role: OutboxInput['role'] = 'status'): OutboxInput => ({
    dest: 'stream',
    stream: settings.stream,
    topic: settings.statusTopic,
    content,
    role,
  });
  const head = (f: FixInfo): OutboxInput =>
    thread.hasHead
      ? inTopic(formatFixHead(f, ctx, now), { op: 'edit', targetKey: headKey(f.id), role: 'head' })
      : inTopic(formatFixHead(f, ctx, now), { refKey: headKey(f.id), role: 'head' });

  switch (event.type) {
    case 'consultation_started':
      return [
        fixId === undefined
          ? status(formatConsultationStarted(event, ctx))
          : inTopic(formatConsultationStarted(event, ctx)),
      ];
    case 'consultation_finished':
      return [
        fixId === undefined
          ? status(formatConsultationFinished(event, ctx))
          : inTopic(formatConsultationFinished(event, ctx)),
      ];
    case 'fix_proposed':
      return [
        head(event.fix),
        inTopic(formatProposal(event.fix, ctx), { refKey: proposalKey(event.fix.id), role: 'proposal' }),
      ];
    case 'fix_state': {
      const out = [head(event.fix), inTopic(formatStateReply(event))];
      if (thread.hasApproval && event.from === 'awaiting_approval' && event.to !== 'awaiting_approval') {
        // The decision is made: take the bot's reaction buttons off the request.
        out.push(inTopic(ctx.emoji.approve, { op: 'unreact', targetKey: approvalKey(event.fix.id), role: 'approval' }));
        out.push(inTopic(ctx.emoji.reject, { op: 'unreact', targetKey: approvalKey(event.fix.id), role: 'approval' }));
      }
      return out;
    }
    case 'approval_requested':
      return [
        ...(thread.hasHead && event.fix.state === 'awaiting_approval' ? [] : [head(event.fix)]),
        inTopic(formatApprovalRequest(event.fix, ctx), { refKey: approvalKey(event.fix.id), role: 'approval' }),
        inTopic(ctx.emoji.approve, { op: 'react', targetKey: approvalKey(event.fix.id), role: 'approval' }),
        inTopic(ctx.emoji.reject, { op: 'react', targetKey: approvalKey(event.fix.id), role: 'approval' }),
      ];
    case 'deploy_started':
      return [
        ...(event.fix ? [head(event.fix)] : []),
        fixId === undefined ? status(formatDeployStarted(event)) : inTopic(formatDeployStarted(event)),
      ];
    case 'deploy_finished':
      return [
        ...(event.fix ? [head(event.fix)] : []),
        fixId === undefined ? status(formatDeployFinished(event, ctx)) : inTopic(formatDeployFinished(event, ctx)),
      ];
    case 'rollback':
      return [
        ...(event.fix ? [head(event.fix)] : []),
        fixId === undefined ? status(formatRollback(event, ctx)) : inTopic(formatRollback(event, ctx)),
      ];
    case 'failure':
      return [fixId === undefined ? status(formatFailure(event, ctx)) : inTopic(formatFailure(event, ctx))];
    case 'stopped':
      return [status(formatStopped(event))];
    case 'resumed':
      return [status(formatResumed(event))];
    case 'digest':
      return [status(formatDigest(event.digest, ctx), 'digest')];
  }
}

function patternOf(event: NotifyEvent): { summary: string } | undefined {
  if (event.type === 'consultation_started' || event.type === 'consultation_finished') return event.pattern;
  return undefined;
}

/** Start of the UTC day-hour mark at or before `now` (e.g. today 09:00 UTC). */
export function lastDigestMark(now: number, hourUtc: number): number {
  const d = new Date(now);
  const mark = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), hourUtc);
  return mark <= now ? mark : mark - 86_400_000;
}

/**
 * Is the daily digest due? Yes within the hour after the mark, unless one was already queued
 * since the mark. (A bot that was down all that hour skips that day's digest.)
 */
export function digestDue(now: number, lastDigestAt: number | undefined, hourUtc: number): boolean {
  const mark = lastDigestMark(now, hourUtc);
  if (now - mark >= 3_600_000) return false;
  return lastDigestAt === undefined || lastDigestAt < mark;
}
