import type { Migration } from './types.js';

/**
 * What keeps fixes from looping: the diff of each fix (its git patch id, so an identical diff to
 * a rolled-back one is refused) and the holds on a pattern (escalated after too many attempts,
 * reopened by a human).
 */
export const migration031FixAttempts: Migration = {
  version: 31,
  name: 'fix-attempts',
  up: `
    CREATE TABLE fix_diffs (
      fix_id    INTEGER PRIMARY KEY REFERENCES fixes(id),
      patch_id  TEXT NOT NULL,            -- git patch-id --stable of base..head
      summary   TEXT NOT NULL             -- git diff --stat, for the brief of a later attempt
    );
    CREATE INDEX fix_diffs_patch ON fix_diffs(patch_id);
    CREATE TABLE pattern_holds (
      id          INTEGER PRIMARY KEY,
      pattern_id  TEXT NOT NULL,
      kind        TEXT NOT NULL,          -- escalated | reopened
      actor       TEXT NOT NULL,
      reason      TEXT NOT NULL DEFAULT '',
      ts          INTEGER NOT NULL
    );
    CREATE INDEX pattern_holds_pattern ON pattern_holds(pattern_id, id);
  `,
};
