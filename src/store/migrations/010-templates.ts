import type { Migration } from './types.js';

/**
 * Mined templates (src/patterns/miner.ts). One row per template id, merged ones included (they
 * point at the template that absorbed them with `merged_into`). `tokens` and `fingerprint` are
 * what the miner needs to reload its exact state, so ids stay stable across restarts.
 */
export const migration010Templates: Migration = {
  version: 10,
  name: 'templates',
  up: `
    CREATE TABLE templates (
      id              INTEGER PRIMARY KEY,
      text            TEXT NOT NULL,                 -- template text, <*> for variable parts
      tokens          TEXT NOT NULL,                 -- JSON array of the miner's tokens
      token_count     INTEGER NOT NULL,              -- token count of the messages that created it
      fingerprint     TEXT NOT NULL DEFAULT '',      -- stack fingerprint ('' without a stack)
      first_seen      INTEGER NOT NULL,              -- ms since epoch
      last_seen       INTEGER NOT NULL,              -- ms since epoch
      count           INTEGER NOT NULL DEFAULT 0,    -- records, merged templates' included
      max_level       INTEGER NOT NULL DEFAULT 0,    -- highest pino level seen
      status          TEXT NOT NULL DEFAULT 'new',   -- new | known | fixing | fixed | ignored
      example_log_ids TEXT NOT NULL DEFAULT '[]',    -- JSON array of logs.id, newest last
      merged_into     INTEGER                        -- set when merged into another template
    );
    CREATE INDEX templates_last_seen ON templates(last_seen);
    CREATE INDEX templates_status ON templates(status);
    CREATE INDEX templates_merged_into ON templates(merged_into) WHERE merged_into IS NOT NULL;
  `,
};
