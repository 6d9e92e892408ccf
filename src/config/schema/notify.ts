import { z } from 'zod';

/** `notify:` where Dancer reports and takes commands. Owned by src/notify. */
export const notifySchema = z
  .object({
    zulip: z
      .object({
        site: z.string().url().optional(),
        email: z.string().optional(),
        apiKeyEnv: z.string().optional(),
        zuliprc: z.string().optional(),
        stream: z.string().default('dancer'),
        allow: z.array(z.union([z.string(), z.number().int()])).default([]),
      })
      .strict()
      .optional(),
  })
  .strict();
