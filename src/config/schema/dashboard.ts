import { z } from 'zod';

/** `dashboard:` the web dashboard (`dancer dashboard`, or inside `dancer run`). Owned by src/dashboard. See docs/dashboard.md. */
export const dashboardSchema = z
  .object({
    enabled: z.boolean().default(false).describe('Serve the dashboard inside `dancer run`.'),
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe(
        'Address to bind. A non-loopback address needs a token (tokenEnv), else the dashboard refuses to start.',
      ),
    port: z.number().int().min(0).max(65535).default(7777).describe('TCP port (0: any free port).'),
    tokenEnv: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Environment variable holding the bearer token that actions (approve, reject, retry, rollback, stop, resume) need. Without it the dashboard is read-only.',
      ),
  })
  .strict();

/** Validated `dashboard` settings. */
export type DashboardSettings = z.infer<typeof dashboardSchema>;
