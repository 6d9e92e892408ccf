import { z } from 'zod';

/**
 * `fleet:` many hosts, one PostgreSQL control plane. Owned by src/fleet. See docs/fleet.md.
 * Without this section Dancer runs on one host with SQLite only, exactly as before.
 */
export const fleetSchema = z
  .object({
    postgres: z
      .object({
        urlEnv: z
          .string()
          .min(1)
          .default('DANCER_FLEET_URL')
          .describe('Environment variable holding the PostgreSQL connection URL (postgres://user:pass@host:port/db).'),
      })
      .strict()
      .prefault({})
      .describe('The control plane database.'),
    host: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe("This host's name in the fleet (unique per supervisor). Default: the machine's hostname."),
    canary: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe('Hosts that deploy a fix first; their observation window must pass before the next wave.'),
    waveSize: z.number().int().min(1).default(1).describe('Hosts per wave after the canary wave.'),
    leaseSeconds: z
      .number()
      .int()
      .min(5)
      .max(3600)
      .default(60)
      .describe(
        "How long a pattern's lease (and the leader's) outlives its holder's last heartbeat before another host takes it over.",
      ),
  })
  .strict();

/** Validated `fleet` settings. */
export type FleetSettings = z.infer<typeof fleetSchema>;
