/**
 * `notify`: Dancer's voice and ears among humans. Today that is Zulip: a bot that reports every
 * fix's life, asks for approvals, and obeys allow-listed humans (with an emergency stop).
 *
 * Other stages publish {@link NotifyEvent}s on a {@link NotifyHub} and implement
 * {@link BotActions}; the supervisor calls {@link createZulipBot} and `start()`s it.
 */
import type { ZulipSettings } from '../config/index.js';
import type { Db } from '../store/index.js';
import type { BotActions } from './actions.js';
import type { NotifyFeed } from './events.js';
import { ZulipBot } from './zulip/bot.js';
import { ZulipClient } from './zulip/client.js';
import { type CredentialSources, resolveCredentials } from './zulip/credentials.js';

export type { ActionResult, BotActions, BudgetInfo, StatusInfo, StopResult } from './actions.js';
export {
  type AuditEntry,
  type AuditFilter,
  type AuditOutcome,
  type AuditRow,
  type AuditSource,
  latestAuditActor,
  listAudit,
  recordAudit,
  searchAudit,
} from './audit.js';
export {
  createNotifyHub,
  type DiffFile,
  type DigestInfo,
  type FixInfo,
  type GateResult,
  type MetricsSnapshot,
  type NotifyEvent,
  type NotifyFeed,
  type NotifyHub,
  type PatternInfo,
} from './events.js';
export { ZulipBot, type ZulipBotOptions, type ZulipBotSettings } from './zulip/bot.js';
export {
  type BackoffPolicy,
  classifyZulipError,
  DEFAULT_BACKOFF,
  retryDelayMs,
  ZulipClient,
  type ZulipClientOptions,
  type ZulipEvent,
  type ZulipFailureKind,
} from './zulip/client.js';
export { type BotCommand, isAllowed, parseCommand } from './zulip/commands.js';
export { normalizeSite, parseZuliprc, resolveCredentials, type ZulipCredentials } from './zulip/credentials.js';
export { type OutboxItem, OutboxStore } from './zulip/outbox.js';

/** Options for {@link createZulipBot}. */
export interface CreateZulipBotOptions {
  /** `notify.zulip` from dancer.yaml. */
  settings: ZulipSettings;
  /** Folder of dancer.yaml (a relative `zuliprc` is resolved against it). */
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
  db: Db;
  actions: BotActions;
  feed?: NotifyFeed;
  onError?: (error: unknown, context: string) => void;
  /** `fetch` to use (default: global). */
  fetch?: typeof fetch;
}

/**
 * Build the bot from `notify.zulip` settings: resolve the credentials (environment variable or
 * `.zuliprc`), make the client and the bot. Call `start()` on the result; it returns at once.
 *
 * @throws {DancerError} `DANCER_ZULIPRC_INVALID`, `DANCER_CONFIG_ENV_MISSING`, `DANCER_CONFIG_INVALID`.
 */
export function createZulipBot(options: CreateZulipBotOptions): ZulipBot {
  const sources: CredentialSources = {};
  if (options.env) sources.env = options.env;
  if (options.baseDir) sources.baseDir = options.baseDir;
  const credentials = resolveCredentials(options.settings, sources);
  const client = new ZulipClient(credentials, options.fetch ? { fetch: options.fetch } : {});
  const s = options.settings;
  const botOptions: ConstructorParameters<typeof ZulipBot>[0] = {
    db: options.db,
    client,
    actions: options.actions,
    settings: {
      stream: s.stream,
      statusTopic: s.statusTopic,
      allow: s.allow,
      reactions: s.reactions,
      dashboardUrl: s.dashboardUrl,
      digestHourUtc: s.digestHourUtc,
      maxRetryDelaySeconds: s.maxRetryDelaySeconds,
    },
  };
  if (options.feed) botOptions.feed = options.feed;
  if (options.onError) botOptions.onError = options.onError;
  return new ZulipBot(botOptions);
}

export { beforeAfterOf, beforeAfterRows } from './before-after.js';
export { createFixFeed, fixDiff, fixInfoFromRecord, patternInfoFor } from './feed.js';
export { discardOutboxRange, type OutboxMarks, outboxMarks, outboxSettled } from './receipts.js';
export { type StoreChange, type StoreWatcher, watchStore } from './store-watch.js';
export { startWebhooks, webhookEventOf } from './webhooks/index.js';
export type { ZulipSuccess } from './zulip/client.js';
