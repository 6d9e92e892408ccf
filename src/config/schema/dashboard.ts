import { z } from 'zod';

/** `dashboard:` the local web dashboard. Owned by src/dashboard. */
export const dashboardSchema = z
  .object({
    enabled: z.boolean().default(false),
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(7777),
  })
  .strict();
