import { z } from 'zod';

const runBudgetSchema = (defaults: { maxTurns: number; maxBudgetUsd: number; timeoutSeconds: number }) =>
  z
    .object({
      maxTurns: z.number().int().positive().default(defaults.maxTurns).describe('Most model requests in one run.'),
      maxBudgetUsd: z
        .number()
        .positive()
        .default(defaults.maxBudgetUsd)
        .describe('Cost cap of one consultation (Claude Code checks it after each reply).'),
      timeoutSeconds: z
        .number()
        .positive()
        .default(defaults.timeoutSeconds)
        .describe('Wall-clock limit; the run is aborted after it.'),
    })
    .strict();

const redactPatternSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_]+$/)
      .describe('Placeholder label: matches become [REDACTED:<name>].'),
    regex: z.string().min(1).describe('JavaScript regular expression (no delimiters), applied globally.'),
    flags: z
      .string()
      .regex(/^[imsu]*$/)
      .default('')
      .describe('Extra regex flags (i, m, s, u).'),
  })
  .strict()
  .superRefine((p, ctx) => {
    // An invalid pattern is a config error with its file and line, not a SyntaxError at redaction time.
    try {
      new RegExp(p.regex, `${p.flags}g`);
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        path: ['regex'],
        message: `not a valid regular expression: ${(error as Error).message}`,
      });
    }
  });

/** `consult:` how Claude is consulted. Owned by src/consult. See docs/consultation.md. */
export const consultSchema = z
  .object({
    mode: z.enum(['auto', 'manual']).default('auto').describe('manual: write a bundle instead of calling a model.'),
    model: z.string().default('sonnet'),
    maxContextTokens: z
      .number()
      .int()
      .positive()
      .default(12_000)
      .describe('Token budget of the brief (estimated as ceil(UTF-8 bytes / 4)).'),
    apiKeyEnv: z.string().default('ANTHROPIC_API_KEY').describe('Environment variable holding the API key.'),
    baseUrl: z
      .string()
      .url()
      .optional()
      .describe(
        'Messages API base URL, e.g. the scripted model server of `dancer model-server`. Default: $ANTHROPIC_BASE_URL when set, else Anthropic.',
      ),
    claudePath: z.string().optional().describe('Claude Code executable. Default: the one shipped with the Agent SDK.'),
    allowedCommands: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Commands the agent may run with Bash: exact, or followed by arguments. Empty: no Bash. Shell operators are never allowed.',
      ),
    urgent: runBudgetSchema({ maxTurns: 40, maxBudgetUsd: 3, timeoutSeconds: 1200 })
      .prefault({})
      .describe('Budget of urgent consultations (crashes).'),
    routine: runBudgetSchema({ maxTurns: 20, maxBudgetUsd: 1, timeoutSeconds: 600 })
      .prefault({})
      .describe('Budget of routine consultations (new patterns, spikes, scheduled reviews).'),
    budget: z
      .object({
        perDayUsd: z
          .number()
          .nonnegative()
          .default(20)
          .describe('Spend over the last 24 hours above which consultations become manual bundles.'),
        perHour: z.number().int().nonnegative().default(6).describe('Most consultations started in any hour.'),
      })
      .strict()
      .prefault({}),
    redact: z
      .object({
        ips: z.boolean().default(false).describe('Also replace IPv4/IPv6 addresses.'),
        emails: z.boolean().default(true).describe('Replace email addresses.'),
        patterns: z.array(redactPatternSchema).default([]).describe('Extra patterns to replace.'),
      })
      .strict()
      .prefault({}),
    bundleDir: z
      .string()
      .default('.dancer/bundles')
      .describe('Where manual-mode bundles are written, relative to the config file.'),
    runDir: z
      .string()
      .optional()
      .describe('Per-run HOME and temp folders for Claude Code. Default: the system temp folder.'),
  })
  .strict();

/** The validated `consult:` section. */
export type ConsultConfig = z.infer<typeof consultSchema>;
