import { z } from 'zod';

const zulipSchema = z
  .object({
    site: z.string().url().optional().describe('Zulip server base URL, e.g. https://chat.example.com.'),
    email: z.string().optional().describe("The bot's email (from Zulip's bot settings)."),
    apiKeyEnv: z.string().optional().describe('Environment variable holding the bot API key (use this or zuliprc).'),
    zuliprc: z
      .string()
      .optional()
      .describe('Path to a .zuliprc file ([api] email, key, site), relative to dancer.yaml; ~ is expanded.'),
    stream: z.string().min(1).default('dancer').describe('Channel (stream) the bot posts to.'),
    allow: z
      .array(z.union([z.string().min(1), z.number().int()]))
      .default([])
      .describe('Users whose commands the bot obeys: emails or Zulip user ids. Empty: obey no one.'),
    statusTopic: z.string().min(1).default('dancer').describe('Topic for status, digests and failures.'),
    reactions: z
      .object({
        approve: z.string().min(1).default('check').describe('Emoji name that approves a proposed fix.'),
        reject: z.string().min(1).default('cross_mark').describe('Emoji name that rejects a proposed fix.'),
      })
      .strict()
      .prefault({}),
    dashboardUrl: z
      .string()
      .url()
      .optional()
      .describe('Where trimmed messages point to for the full text (default: the `dancer fixes show` command).'),
    digestHourUtc: z.number().int().min(0).max(23).default(9).describe('Hour (UTC) the daily digest is posted.'),
    maxRetryDelaySeconds: z
      .number()
      .positive()
      .default(300)
      .describe('Longest wait between delivery attempts while Zulip is unreachable.'),
  })
  .strict()
  .refine((z) => z.apiKeyEnv !== undefined || z.zuliprc !== undefined, {
    message: 'notify.zulip needs apiKeyEnv (an environment variable holding the API key) or zuliprc (a path)',
    path: ['apiKeyEnv'],
  });

/** Events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = ['fix_state', 'deploy', 'rollback', 'stop', 'resume', 'pattern_fired'] as const;

const webhookSchema = z
  .object({
    url: z.string().url().describe('Where the JSON body is POSTed.'),
    secretEnv: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Environment variable holding the secret; the body is signed with HMAC-SHA256 in X-Dancer-Signature-256 (sha256=<hex>).',
      ),
    events: z
      .array(z.enum(WEBHOOK_EVENTS))
      .min(1)
      .default([...WEBHOOK_EVENTS])
      .describe('Events to send: fix_state, deploy, rollback, stop, resume, pattern_fired. Default: all.'),
  })
  .strict();

/** `notify:` where Dancer reports and takes commands. Owned by src/notify. See docs/zulip.md. */
export const notifySchema = z
  .object({
    zulip: zulipSchema.optional(),
    webhooks: z
      .array(webhookSchema)
      .default([])
      .describe('HTTP endpoints (CI, chat, incident tools) that receive signed events. See docs/dashboard.md.'),
  })
  .strict();

/** Validated `notify.zulip` settings. */
export type ZulipSettings = z.infer<typeof zulipSchema>;

/** Validated `notify.webhooks[]` entry. */
export type WebhookSettings = z.infer<typeof webhookSchema>;
