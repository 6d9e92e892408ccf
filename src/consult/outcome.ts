/**
 * The outcome contract: every consultation ends with the agent calling `submit_outcome` with one
 * of four kinds. The zod discriminated union is the single source of the type and the check.
 */
import { z } from 'zod';

const filesChanged = z
  .array(z.string().min(1))
  .describe('Repository-relative paths of every file you changed or added.');

/** A code fix. */
export const fixOutcomeSchema = z
  .object({
    kind: z.literal('fix'),
    summary: z.string().min(1).describe('One line: what the fix does.'),
    analysis: z.string().min(1).describe('What happens, with the evidence from the logs and the code.'),
    rootCause: z.string().min(1).describe('The root cause, in one or two sentences.'),
    filesChanged: filesChanged.min(1),
    regressionTest: z
      .string()
      .min(1)
      .describe('Path of the test you added that fails before the fix and passes after it.'),
    risk: z.enum(['low', 'medium', 'high']).describe('How risky the change is to deploy.'),
    confidence: z.number().min(0).max(1).describe('0..1: how sure you are that this fixes the root cause.'),
  })
  .strict();

/** Expected noise: suppress the pattern. */
export const ignoreOutcomeSchema = z
  .object({
    kind: z.literal('ignore'),
    why: z.string().min(1).describe('Why this is expected noise and needs no change.'),
  })
  .strict();

/** A human must look. */
export const escalateOutcomeSchema = z
  .object({
    kind: z.literal('escalate'),
    why: z.string().min(1).describe('Why a human must look.'),
    where: z.string().min(1).describe('Where to look: files, functions, systems, the external dependency.'),
  })
  .strict();

/** A code change that adds the context a next consultation needs. */
export const improveLoggingOutcomeSchema = z
  .object({
    kind: z.literal('improve_logging'),
    summary: z.string().min(1).describe('One line: what the change logs and why.'),
    filesChanged: filesChanged.min(1),
    missing: z.string().min(1).describe('What information was missing to find the root cause.'),
    risk: z.enum(['low', 'medium', 'high']).default('low'),
  })
  .strict();

/** Every outcome kind. */
export const outcomeSchema = z.discriminatedUnion('kind', [
  fixOutcomeSchema,
  ignoreOutcomeSchema,
  escalateOutcomeSchema,
  improveLoggingOutcomeSchema,
]);

/** A submitted, valid outcome. */
export type Outcome = z.infer<typeof outcomeSchema>;
/** The kinds of outcome. */
export type OutcomeKind = Outcome['kind'];

/**
 * The flat input shape the `submit_outcome` tool advertises (MCP tool schemas are one object):
 * `kind` plus every field, optional; {@link outcomeSchema} then checks the combination.
 */
export const submitOutcomeShape = {
  kind: z.enum(['fix', 'ignore', 'escalate', 'improve_logging']).describe('Which outcome.'),
  summary: z.string().optional().describe('fix, improve_logging: one line.'),
  analysis: z.string().optional().describe('fix: what happens, with the evidence.'),
  rootCause: z.string().optional().describe('fix: the root cause.'),
  filesChanged: z.array(z.string()).optional().describe('fix, improve_logging: repository-relative paths changed.'),
  regressionTest: z.string().optional().describe('fix: path of the regression test you added.'),
  risk: z.enum(['low', 'medium', 'high']).optional().describe('fix, improve_logging: deploy risk.'),
  confidence: z.number().min(0).max(1).optional().describe('fix: 0..1.'),
  why: z.string().optional().describe('ignore, escalate: the reason.'),
  where: z.string().optional().describe('escalate: where a human should look.'),
  missing: z.string().optional().describe('improve_logging: what information was missing.'),
};

/** Result of {@link checkOutcome}. */
export type OutcomeCheck = { ok: true; outcome: Outcome } | { ok: false; problems: string[] };

/** Validate a submitted outcome (dropping fields that are undefined), with problems the agent can act on. */
export function checkOutcome(input: unknown): OutcomeCheck {
  const cleaned =
    typeof input === 'object' && input !== null
      ? Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined))
      : input;
  const result = outcomeSchema.safeParse(cleaned);
  if (result.success) return { ok: true, outcome: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`),
  };
}
