import type { Migration } from './types.js';

/**
 * Trigger decisions (every fire and every suppress, with the rule, the numbers and the reason),
 * the rate a pattern had when a human ignored it, and small detector state (last review).
 */
export const migration012Decisions: Migration = {
  version: 12,
  name: 'decisions',
  up: `
    CREATE TABLE decisions (
      id          INTEGER PRIMARY KEY,
      at          INTEGER NOT NULL,              -- ms since epoch (detector clock)
      rule        TEXT NOT NULL,                 -- new_pattern | spike | crash | review
      key         TEXT NOT NULL,                 -- what the rule watched: 'template:<id>', 'errors', 'crash', 'review'
      template_id INTEGER,
      outcome     TEXT NOT NULL CHECK (outcome IN ('fire', 'suppress')),
      urgent      INTEGER NOT NULL DEFAULT 0,
      reason_code TEXT NOT NULL,                 -- stable: fired, cooldown, dedupe_active, ...
      reason      TEXT NOT NULL,                 -- plain words
      numbers     TEXT NOT NULL,                 -- JSON object: what the rule saw
      trigger_id  TEXT                           -- set when outcome = 'fire'
    );
    CREATE INDEX decisions_template_at ON decisions(template_id, at);
    CREATE INDEX decisions_key_at ON decisions(key, at);
    CREATE INDEX decisions_at ON decisions(at);
    CREATE TABLE pattern_ignores (
      template_id INTEGER PRIMARY KEY,
      at          INTEGER NOT NULL,
      rate_per_min REAL NOT NULL,                -- the rate when it was ignored
      actor       TEXT
    );
    CREATE TABLE detector_state (
      key   TEXT PRIMARY KEY,
      value TEXT NOT NULL
    );
  `,
};
