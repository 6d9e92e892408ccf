import { z } from 'zod';

/** `patterns:` template mining and the trigger rules. Owned by src/patterns. */
export const patternsSchema = z
  .object({
    similarityThreshold: z.number().min(0).max(1).default(0.5).describe('Drain similarity threshold.'),
  })
  .strict();
