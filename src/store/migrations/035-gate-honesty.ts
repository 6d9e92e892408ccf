import type { Migration } from './types.js';

/** Gate steps get a status (`needs_human` for the honesty and coverage steps) and structured details. */
export const migration035GateHonesty: Migration = {
  version: 35,
  name: 'gate step status and details',
  up: `
    ALTER TABLE gate_steps ADD COLUMN status TEXT;   -- passed | failed | needs_human; NULL: from ok
    ALTER TABLE gate_steps ADD COLUMN details TEXT;  -- JSON: test counts per file, coverage of the change
  `,
};
