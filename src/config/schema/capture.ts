import { z } from 'zod';

/** `capture:` how log lines are parsed, bounded and queued. */
export const captureSchema = z
  .object({
    maxRecordBytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024)
      .describe('Records up to this size are kept whole; larger ones keep head and tail and are flagged.'),
    queueMaxRecords: z
      .number()
      .int()
      .positive()
      .default(50_000)
      .describe('Bounded capture queue; under overload the least important records are dropped first.'),
    tee: z
      .enum(['terminal', 'none', 'file'])
      .default('terminal')
      .describe('Where the supervised service output is echoed besides the store.'),
    teeFile: z.string().optional().describe('File to append service output to when tee is "file".'),
  })
  .strict();
