import { z } from 'zod';

/** `store:` where the SQLite database lives and how long records are kept. */
export const storeSchema = z
  .object({
    path: z.string().default('.dancer/dancer.db').describe('SQLite database file, relative to the config file.'),
    retention: z
      .object({
        maxAgeDays: z.number().positive().default(14).describe('Log rows older than this are deleted.'),
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(1024 * 1024 * 1024)
          .describe('Approximate upper bound on the database size; the oldest log rows go first.'),
        stepRows: z
          .number()
          .int()
          .positive()
          .default(1000)
          .describe('Log rows deleted per retention step (one short transaction, so ingest never stalls).'),
        intervalSeconds: z
          .number()
          .positive()
          .default(60)
          .describe('How often the supervisor runs retention (steps until nothing is left to delete).'),
      })
      .prefault({}),
    redactAtIngest: z
      .boolean()
      .default(true)
      .describe(
        'Redact secrets and personal data (the consult.redact rules) before a record is stored, so none is ever stored in clear; placeholders keep the replaced length.',
      ),
    batch: z
      .object({
        maxRecords: z.number().int().positive().default(2000).describe('Flush a batch at this many records.'),
        maxDelayMs: z.number().int().positive().default(200).describe('Flush a batch at least this often.'),
      })
      .prefault({}),
  })
  .strict();
