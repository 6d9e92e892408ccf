import { z } from 'zod';
import { BUILTIN_MASK_NAMES, MINER_DEFAULTS } from '../../defaults.js';

const levelName = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/** `patterns.triggers:` when a pattern matters enough to consult Claude. See docs/patterns-triggers.md. */
export const triggersSchema = z
  .object({
    newPattern: z
      .object({
        enabled: z.boolean().default(true).describe('Fire on a new error pattern that recurs.'),
        minLevel: levelName.default('error').describe('Only records at this level or above count.'),
        firstSeenWithinMinutes: z
          .number()
          .positive()
          .default(60)
          .describe('A template first seen within this many minutes is new.'),
        minCount: z
          .number()
          .int()
          .nonnegative()
          .default(10)
          .describe('Fire when a new pattern recurs MORE than this many times in the window.'),
        windowMinutes: z.number().int().positive().default(5).describe('Window for minCount, in minutes.'),
      })
      .strict()
      .prefault({}),
    spike: z
      .object({
        enabled: z.boolean().default(true).describe('Fire when a rate rises above its baseline.'),
        factor: z
          .number()
          .min(1)
          .default(3)
          .describe('Fire when the window count is at least this times the baseline.'),
        minEvents: z.number().int().positive().default(20).describe('...and at least this many events in the window.'),
        sigmas: z
          .number()
          .nonnegative()
          .default(3)
          .describe('...and at least this many standard deviations above the baseline (0 disables).'),
        windowMinutes: z
          .number()
          .int()
          .positive()
          .default(5)
          .describe('Window compared with the baseline, in minutes.'),
        errorLevel: levelName
          .default('error')
          .describe('Records at this level or above count as errors for the overall error rate.'),
        errorRate: z.boolean().default(true).describe('Watch the overall error rate.'),
        templates: z.boolean().default(true).describe("Watch each known template's rate."),
      })
      .strict()
      .prefault({}),
    baseline: z
      .object({
        halfLifeMinutes: z
          .number()
          .positive()
          .default(60)
          .describe('EWMA half-life, in active minutes (minutes in which the service logged anything).'),
        warmupMinutes: z
          .number()
          .int()
          .nonnegative()
          .default(60)
          .describe('Active minutes a baseline must have seen before it may fire.'),
        minRatePerMinute: z
          .number()
          .nonnegative()
          .default(0.2)
          .describe('Floor under a baseline mean, so a near-zero baseline does not fire on a handful of events.'),
      })
      .strict()
      .prefault({}),
    crash: z
      .object({
        enabled: z.boolean().default(true).describe('Fire (urgent) when the service crashes or logs fatal / uncaught.'),
        cooldownMinutes: z.number().nonnegative().default(10).describe('Quiet period after a crash trigger.'),
      })
      .strict()
      .prefault({}),
    review: z
      .object({
        enabled: z.boolean().default(true).describe('Scheduled review of the top patterns, even when nothing alarmed.'),
        everyHours: z.number().positive().default(6).describe('Hours between scheduled reviews.'),
        topN: z.number().int().positive().default(10).describe('Patterns listed in a review.'),
        slowRequestMs: z.number().positive().default(1000).describe('A request at least this slow counts as slow.'),
      })
      .strict()
      .prefault({}),
    cooldownMinutes: z.number().nonnegative().default(30).describe('Quiet period per pattern after it fired.'),
    maxConcurrent: z.number().int().positive().default(1).describe('Consultations running at once, at most.'),
    ignoredFactor: z
      .number()
      .min(1)
      .default(10)
      .describe('An ignored pattern stays quiet until its rate changes by this factor (an order of magnitude).'),
    repeatSuppressMinutes: z
      .number()
      .positive()
      .default(10)
      .describe('An unchanged suppress decision is stored again at most this often.'),
  })
  .strict();

/** Validated `patterns.triggers` settings. */
export type TriggersConfig = z.infer<typeof triggersSchema>;

export { BUILTIN_MASK_NAMES, MINER_DEFAULTS };

const builtinMaskName = z.enum(BUILTIN_MASK_NAMES);

/** `patterns.masks:` which variable parts are replaced by `<*>` before mining. See docs/patterns-miner.md. */
export const masksSchema = z
  .object({
    disable: z.array(builtinMaskName).default([]).describe('Built-in masks to turn off, by name.'),
    custom: z
      .array(
        z
          .object({
            name: z.string().min(1).describe('A name for the mask.'),
            pattern: z
              .string()
              .min(1)
              .refine(
                (p) => {
                  try {
                    new RegExp(p, 'g');
                    return true;
                  } catch {
                    return false;
                  }
                },
                { message: 'not a valid JavaScript regular expression' },
              )
              .describe('JavaScript regular expression; every match is replaced.'),
            replacement: z.string().default('<*>').describe('Replacement text ($1 group references work).'),
          })
          .strict(),
      )
      .default([])
      .describe('Extra masks, run before the built-ins.'),
  })
  .strict();

/** `patterns.miner:` the template miner's settings. See docs/patterns-miner.md. */
export const minerSchema = z
  .object({
    similarityThreshold: z
      .number()
      .min(0)
      .max(1)
      .default(MINER_DEFAULTS.similarityThreshold)
      .describe("Share of a template's constant tokens a message must match to join it."),
    depth: z.number().int().min(1).max(8).default(MINER_DEFAULTS.depth).describe('Leading tokens used as index keys.'),
    maxChildren: z
      .number()
      .int()
      .positive()
      .default(MINER_DEFAULTS.maxChildren)
      .describe(
        'Distinct values per index position before new ones share the wildcard branch (a leaf costs one map entry, so the default is no limit in practice).',
      ),
    maxFrames: z
      .number()
      .int()
      .min(0)
      .default(MINER_DEFAULTS.maxFrames)
      .describe('In-application stack frames in an error pattern fingerprint (0: ignore stacks).'),
    maxTemplates: z
      .number()
      .int()
      .min(0)
      .default(MINER_DEFAULTS.maxTemplates)
      .describe(
        "Live templates the miner keeps in memory (0: no limit). Past it, the least recently seen saved template is evicted (one seen once before one seen again; never one that triggered, is being fixed, fixed or ignored): its row and ids stay in the store, and a message of its shape later gets a new template. Evictions are counted (metric dancer_patterns_evicted_total). Bounds the miner's memory under floods of unique lines.",
      ),
  })
  .strict();

/** `patterns:` template mining and the trigger rules. Owned by src/patterns. */
export const patternsSchema = z
  .object({
    masks: masksSchema.prefault({}),
    miner: minerSchema.prefault({}),
    triggers: triggersSchema.prefault({}),
  })
  .strict();
