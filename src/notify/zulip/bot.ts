/**
 * The Zulip bot: reports what the feed says (through the outbox), listens on an event queue
 * for commands and reactions, obeys allow-listed users only, audits every attempt, and runs
 * `stop` at once, ahead of anything else.
 */
import { errorMessage, isDancerError } from '../../errors.js';
import type { Db } from '../../store/index.js';
import type { BotActions } from '../actions.js';
import { type AuditSource, recordAudit } from '../audit.js';
import type { NotifyEvent, NotifyFeed } from '../events.js';
import type { BackoffPolicy, ZulipClient, ZulipEvent, ZulipMessage, ZulipRegisterResult } from './client.js';
import {
  type BotCommand,
  fixIdFromTopic,
  isAddressedToBot,
  isAllowed,
  parseCommand,
  reactionCommand,
} from './commands.js';
import { EventQueuePoller, type Sleep } from './event-queue.js';
import {
  type FormatContext,
  fixTopic,
  formatBudget,
  formatCommandError,
  formatFixList,
  formatHelp,
  formatPatterns,
  formatRefusal,
  formatShow,
  formatStatus,
  formatStopReply,
  pointer,
} from './format.js';
import { type OutboxInput, OutboxStore } from './outbox.js';
import { OutboxWorker, type Timers } from './outbox-worker.js';
import { approvalKey, digestDue, eventFixId, headKey, lastDigestMark, planEventMessages } from './plan.js';

/** The `notify.zulip` settings the bot uses. */
export interface ZulipBotSettings {
  stream: string;
  statusTopic: string;
  allow: ReadonlyArray<string | number>;
  reactions: { approve: string; reject: string };
  dashboardUrl?: string | undefined;
  digestHourUtc?: number;
  maxRetryDelaySeconds?: number;
}

/** Options for {@link ZulipBot}. */
export interface ZulipBotOptions {
  db: Db;
  client: ZulipClient;
  settings: ZulipBotSettings;
  actions: BotActions;
  /** Events to report. */
  feed?: NotifyFeed;
  clock?: () => number;
  /** Every problem the bot meets (Zulip unreachable, a handler bug, ...), with where it happened. Default: stderr. */
  onError?: (error: unknown, context: string) => void;
  /** Retry policy for the outbox and the event queue. */
  backoff?: BackoffPolicy;
  /** Merge backlog replies when the oldest is this old (default 60 s). */
  collapseAfterMs?: number;
  /** Injected timers/sleep (tests with a fake clock). */
  timers?: Timers;
  sleep?: Sleep;
  /** Name used in instructions before the bot learns its own (default `Dancer`). */
  botName?: string;
}

/** Where a reply goes. */
type Place = { dest: 'stream'; stream: string; topic: string } | { dest: 'direct'; toUsers: number[] };

/** Who asked. */
interface Requester {
  userId: number;
  email?: string | undefined;
  name: string;
}

/** The running bot. */
export class ZulipBot {
  readonly outbox: OutboxStore;
  readonly worker: OutboxWorker;
  readonly poller: EventQueuePoller;
  /** The bot's own user, once known (from `/register`). */
  me: { userId: number; email: string; fullName: string } | undefined;
  /** The server's message length limit (code points). */
  maxLength = 10_000;
  private readonly clock: () => number;
  private readonly settings: ZulipBotSettings;
  private unsubscribe: (() => void) | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly inflight = new Set<Promise<void>>();
  private digestTimer: NodeJS.Timeout | undefined;
  private emails = new Map<number, string>();

  constructor(private readonly options: ZulipBotOptions) {
    this.clock = options.clock ?? Date.now;
    this.settings = options.settings;
    this.outbox = new OutboxStore(options.db, this.clock);
    const backoff = options.backoff ?? {
      baseMs: 1_000,
      maxMs: (options.settings.maxRetryDelaySeconds ?? 300) * 1000,
    };
    const workerOptions: ConstructorParameters<typeof OutboxWorker>[0] = {
      store: this.outbox,
      client: options.client,
      maxLength: () => this.maxLength,
      trimPointer: pointer(this.formatContext()),
      clock: this.clock,
      backoff,
      collapseAfterMs: options.collapseAfterMs ?? 60_000,
      onError: (error, info) => this.report(error, `outbox ${info.kind} (rows ${info.ids.join(',')})`),
    };
    if (options.timers) workerOptions.timers = options.timers;
    this.worker = new OutboxWorker(workerOptions);
    const pollerOptions: ConstructorParameters<typeof EventQueuePoller>[0] = {
      client: options.client,
      eventTypes: ['message', 'reaction'],
      onEvent: (event) => this.onZulipEvent(event),
      onRegister: (result) => this.onRegister(result),
      onError: (error, info) => this.report(error, `event queue ${info.kind}`),
      backoff: { baseMs: backoff.baseMs, maxMs: Math.min(backoff.maxMs, 60_000) },
    };
    if (options.sleep) pollerOptions.sleep = options.sleep;
    this.poller = new EventQueuePoller(pollerOptions);
  }

  /** Subscribe to the feed, start delivering and listening. Returns at once (never waits on Zulip). */
  start(): void {
    if (this.options.feed) {
      this.unsubscribe = this.options.feed.subscribe((event) => {
        try {
          this.notify(event);
        } catch (error) {
          this.report(error, `notify ${event.type}`);
        }
      });
    }
    this.worker.start();
    this.poller.start();
    if (this.options.actions.digest) {
      this.digestTimer = setInterval(() => void this.maybeDigest(), 60_000);
      this.digestTimer.unref();
    }
  }

  /** Stop listening and delivering; waits for commands in progress. Pending rows stay in the outbox. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.digestTimer) clearInterval(this.digestTimer);
    await this.poller.stop();
    await Promise.allSettled([...this.inflight]);
    await this.worker.stop();
  }

  /** Report one event: its messages go to the outbox (one INSERT each), then delivery is nudged. */
  notify(event: NotifyEvent): void {
    const fixId = eventFixId(event);
    const thread =
      fixId === undefined
        ? { hasHead: false, hasApproval: false }
        : {
            topic: this.outbox.topicForFix(fixId),
            hasHead: this.outbox.hasRef(headKey(fixId)),
            hasApproval: this.outbox.hasRef(approvalKey(fixId)),
          };
    const inputs = planEventMessages(event, this.formatContext(), this.settings, thread);
    this.options.db.transaction(() => {
      for (const input of inputs) this.outbox.enqueue(input);
    })();
    this.worker.nudge();
  }

  /** Post the daily digest if it is due (called every minute). */
  async maybeDigest(): Promise<boolean> {
    const digest = this.options.actions.digest;
    if (!digest) return false;
    const now = this.clock();
    const hour = this.settings.digestHourUtc ?? 9;
    const last = this.outbox.lastCreatedWithRole('digest');
    if (!digestDue(now, last, hour)) return false;
    try {
      const from = last ?? lastDigestMark(now, hour) - 86_400_000;
      this.notify({ type: 'digest', at: now, digest: await digest(from, now) });
      return true;
    } catch (error) {
      this.report(error, 'digest');
      return false;
    }
  }

  /** The formatting context (bot name, limits, emoji). */
  formatContext(): FormatContext {
    return {
      botName: this.me?.fullName ?? this.options.botName ?? 'Dancer',
      maxLength: this.maxLength,
      emoji: this.settings.reactions,
      dashboardUrl: this.settings.dashboardUrl,
    };
  }

  private report(error: unknown, context: string): void {
    if (this.options.onError) this.options.onError(error, context);
    else process.stderr.write(`dancer zulip: ${context}: ${errorMessage(error)}\n`);
  }

  private onRegister(result: ZulipRegisterResult): void {
    if (result.max_message_length !== undefined) this.maxLength = result.max_message_length;
    if (result.user_id !== undefined && result.email !== undefined) {
      this.me = { userId: result.user_id, email: result.email, fullName: result.full_name ?? result.email };
      return;
    }
    // A server that did not send realm_user state: ask who we are.
    this.options.client.getOwnUser().then(
      (me) => {
        this.me = { userId: me.user_id, email: me.email, fullName: me.full_name };
      },
      (error) => this.report(error, 'users/me'),
    );
  }

  private onZulipEvent(event: ZulipEvent): void {
    if (event.type === 'message' && 'message' in event) {
      this.onMessage(event.message as ZulipMessage, (event.flags as string[]) ?? []);
    } else if (event.type === 'reaction' && 'op' in event) {
      this.track(this.onReaction(event as Extract<ZulipEvent, { type: 'reaction' }>));
    }
  }

  private onMessage(message: ZulipMessage, flags: string[]): void {
    const me = this.me;
    if (!me) return;
    const participants = Array.isArray(message.display_recipient) ? message.display_recipient.length : 2;
    if (!isAddressedToBot({ senderId: message.sender_id, type: message.type, flags, participants }, me.userId)) return;
    const place: Place =
      message.type === 'stream'
        ? { dest: 'stream', stream: String(message.display_recipient), topic: message.subject }
        : {
            dest: 'direct',
            toUsers: Array.isArray(message.display_recipient)
              ? message.display_recipient.map((u) => u.id).filter((id) => id !== me.userId)
              : [message.sender_id],
          };
    const who: Requester = { userId: message.sender_id, email: message.sender_email, name: message.sender_full_name };
    const topicFix = message.type === 'stream' ? fixIdFromTopic(message.subject) : undefined;
    const parsed = parseCommand(message.content, topicFix === undefined ? {} : { fixId: topicFix });
    const action = parsed.ok ? parsed.command.name : (message.content.trim().split(/\s+/)[0] ?? 'unknown');
    if (!isAllowed(this.settings.allow, who)) {
      const target = parsed.ok ? targetOf(parsed.command) : undefined;
      this.serial(async () => this.refuse(who, place, action, 'zulip-command', target));
      return;
    }
    if (!parsed.ok) {
      const error = parsed.error;
      this.serial(async () => {
        this.audit(who, 'zulip-command', action, undefined, 'invalid', error);
        this.reply(place, error);
      });
      return;
    }
    this.dispatch(parsed.command, who, place, 'zulip-command');
  }

  private async onReaction(event: Extract<ZulipEvent, { type: 'reaction' }>): Promise<void> {
    const me = this.me;
    if (!me || event.user_id === me.userId) return;
    const kind = reactionCommand(event, this.settings.reactions);
    if (!kind) return;
    const target = this.outbox.fixForMessage(event.message_id);
    if (!target || !['head', 'proposal', 'approval'].includes(target.role)) return;
    const email = event.user?.email ?? (await this.emailOf(event.user_id));
    const who: Requester = {
      userId: event.user_id,
      email,
      name: event.user?.full_name ?? email ?? `user ${event.user_id}`,
    };
    const place: Place = {
      dest: 'stream',
      stream: this.settings.stream,
      topic: this.outbox.topicForFix(target.fixId) ?? fixTopic({ id: target.fixId }),
    };
    if (!isAllowed(this.settings.allow, who)) {
      this.serial(async () => this.refuse(who, place, kind, 'zulip-reaction', `fix:${target.fixId}`));
      return;
    }
    const command: BotCommand =
      kind === 'approve'
        ? { name: 'approve', id: target.fixId }
        : { name: 'reject', id: target.fixId, reason: `rejected with :${event.emoji_name}: by ${who.name}` };
    this.dispatch(command, who, place, 'zulip-reaction');
  }

  private async emailOf(userId: number): Promise<string | undefined> {
    if (!this.emails.has(userId)) {
      try {
        for (const u of await this.options.client.getUsers()) this.emails.set(u.user_id, u.email);
      } catch (error) {
        this.report(error, 'users');
      }
    }
    return this.emails.get(userId);
  }

  /** `stop` and `resume` run at once; everything else runs one at a time, in arrival order. */
  private dispatch(command: BotCommand, who: Requester, place: Place, source: AuditSource): void {
    if (command.name === 'stop' || command.name === 'resume') {
      this.track(this.execute(command, who, place, source));
      return;
    }
    this.serial(() => this.execute(command, who, place, source));
  }

  /** Run `task` after everything queued before it (replies keep the order of the requests). */
  private serial(task: () => Promise<void>): void {
    const next = this.chain.then(task);
    this.chain = next.catch(() => undefined);
    this.track(next);
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((error) => this.report(error, 'command'));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  private async execute(command: BotCommand, who: Requester, place: Place, source: AuditSource): Promise<void> {
    const by = `human:${who.email ?? `zulip-user-${who.userId}`}`;
    const target = targetOf(command);
    const args = argsOf(command);
    try {
      const text = await this.run(command, by);
      this.audit(who, source, command.name, target, 'ok', text.split('\n')[0]?.slice(0, 500), args);
      this.reply(place, text);
    } catch (error) {
      const code = isDancerError(error) ? error.code : undefined;
      this.audit(who, source, command.name, target, 'failed', `${code ? `${code}: ` : ''}${errorMessage(error)}`, args);
      this.reply(place, formatCommandError(command.name, { ...(code ? { code } : {}), message: errorMessage(error) }));
      if (!isDancerError(error)) this.report(error, `command ${command.name}`);
    }
  }

  private async run(command: BotCommand, by: string): Promise<string> {
    const { actions } = this.options;
    const ctx = this.formatContext();
    switch (command.name) {
      case 'help':
        return formatHelp(ctx);
      case 'status':
        return formatStatus(await actions.status(), this.clock());
      case 'patterns':
        return formatPatterns(await actions.patterns(), ctx);
      case 'fixes':
        return formatFixList(await actions.fixes(), ctx);
      case 'show': {
        const fix = await actions.show(command.id);
        return fix ? formatShow(fix, ctx, this.clock()) : `There is no fix ${command.id}.`;
      }
      case 'approve':
        return `:check: ${(await actions.approve(command.id, by)).message}`;
      case 'reject':
        return `:cross_mark: ${(await actions.reject(command.id, by, command.reason)).message}`;
      case 'rollback':
        return `:rewind: ${(await actions.rollback(command.id, by)).message}`;
      case 'retry':
        if (!actions.retryPattern) return 'Reopening patterns is not available here.';
        return `:repeat: ${(await actions.retryPattern(command.pattern, by)).message}`;
      case 'stop':
        return formatStopReply(await actions.stop(by, command.reason));
      case 'resume':
        return `:green_circle: ${(await actions.resume(by)).message}`;
      case 'budget':
        return formatBudget(await actions.budget());
    }
  }

  private refuse(who: Requester, place: Place, action: string, source: AuditSource, target?: string): void {
    this.audit(who, source, action, target, 'refused', 'DANCER_NOT_ALLOWED: not on notify.zulip.allow');
    this.reply(place, formatRefusal({ name: who.name, userId: who.userId }, action));
  }

  private audit(
    who: Requester,
    source: AuditSource,
    action: string,
    target: string | undefined,
    outcome: 'ok' | 'refused' | 'failed' | 'invalid',
    detail?: string,
    args?: Record<string, unknown>,
  ): void {
    recordAudit(this.options.db, {
      ts: this.clock(),
      actor: `human:${who.email ?? `zulip-user-${who.userId}`}`,
      actorId: String(who.userId),
      source,
      action,
      target,
      args,
      outcome,
      detail,
    });
  }

  private reply(place: Place, content: string): void {
    const input: OutboxInput =
      place.dest === 'stream'
        ? { dest: 'stream', stream: place.stream, topic: place.topic, content, role: 'command' }
        : { dest: 'direct', toUsers: place.toUsers, content, role: 'command' };
    const fixId = place.dest === 'stream' ? fixIdFromTopic(place.topic) : undefined;
    if (fixId !== undefined) input.fixId = fixId;
    this.outbox.enqueue(input);
    this.worker.nudge();
  }
}

function targetOf(command: BotCommand): string | undefined {
  if ('id' in command && command.id !== undefined) return `fix:${command.id}`;
  return undefined;
}

function argsOf(command: BotCommand): Record<string, unknown> | undefined {
  if (command.name === 'reject') return { reason: command.reason };
  if (command.name === 'stop' && command.reason) return { reason: command.reason };
  return undefined;
}
