import { z } from 'zod';

/** `fixes:` worktrees and the gate. Owned by src/fixes. */
export const fixesSchema = z
  .object({
    repo: z.string().default('.').describe('The service git repository, relative to the config file.'),
    worktreeBase: z
      .string()
      .optional()
      .describe('Default: /var/dancer/worktrees as root when writable, else .dancer/worktrees.'),
  })
  .strict();

/** `policy:` what a fix may change. Owned by src/fixes. */
export const policySchema = z
  .object({
    protectedPaths: z.array(z.string()).default([]),
  })
  .strict();
