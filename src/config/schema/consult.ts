import { z } from 'zod';

/** `consult:` how Claude is consulted. Owned by src/consult. */
export const consultSchema = z
  .object({
    mode: z.enum(['auto', 'manual']).default('auto').describe('manual: write a bundle instead of calling a model.'),
    model: z.string().default('sonnet'),
    maxContextTokens: z.number().int().positive().default(12_000),
    apiKeyEnv: z.string().default('ANTHROPIC_API_KEY').describe('Environment variable holding the API key.'),
  })
  .strict();
