import type { Migration } from './types.js';

/**
 * Consultations (one row per trigger handled by Claude or turned into a manual bundle), their
 * transcripts (every SDK message, in order) and the cost ledger (tokens, cost, turns, duration).
 */
export const migration020Consultations: Migration = {
  version: 20,
  name: 'consultations',
  up: `
    CREATE TABLE consultations (
      id            INTEGER PRIMARY KEY,
      created_at    INTEGER NOT NULL,            -- ms since epoch
      finished_at   INTEGER,
      trigger_id    TEXT,
      trigger_kind  TEXT,                        -- new_pattern | spike | crash | review | manual
      template_id   INTEGER,
      urgent        INTEGER NOT NULL DEFAULT 0,
      mode          TEXT NOT NULL CHECK (mode IN ('auto', 'manual')),
      status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'manual')),
      worktree      TEXT,
      model         TEXT,
      brief         TEXT NOT NULL,               -- the exact prompt (redacted), as sent
      brief_tokens  INTEGER,                     -- estimated
      outcome_kind  TEXT,                        -- fix | ignore | escalate | improve_logging
      outcome       TEXT,                        -- JSON of the submitted outcome
      error_code    TEXT,                        -- DancerError code when failed
      error         TEXT,                        -- reason when failed
      session_id    TEXT,
      bundle_dir    TEXT,                        -- manual mode
      manual_reason TEXT                         -- why it became a bundle
    );
    CREATE INDEX consultations_template ON consultations(template_id, created_at);
    CREATE INDEX consultations_created ON consultations(created_at);
    CREATE TABLE consultation_messages (
      consultation_id INTEGER NOT NULL REFERENCES consultations(id) ON DELETE CASCADE,
      seq     INTEGER NOT NULL,
      ts      INTEGER NOT NULL,
      type    TEXT NOT NULL,                     -- SDK message type: system, assistant, user, result, ...
      subtype TEXT,
      message TEXT NOT NULL,                     -- the SDK message as JSON
      PRIMARY KEY (consultation_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE consult_ledger (
      consultation_id INTEGER PRIMARY KEY REFERENCES consultations(id) ON DELETE CASCADE,
      ts              INTEGER NOT NULL,          -- when the run ended
      model           TEXT,
      input_tokens    INTEGER NOT NULL DEFAULT 0,
      output_tokens   INTEGER NOT NULL DEFAULT 0,
      cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
      cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
      cost_usd        REAL NOT NULL DEFAULT 0,   -- the SDK's total_cost_usd
      model_usage     TEXT,                      -- JSON: the SDK's modelUsage
      turns           INTEGER NOT NULL DEFAULT 0,
      duration_ms     INTEGER NOT NULL DEFAULT 0,
      duration_api_ms INTEGER,
      outcome         TEXT NOT NULL              -- outcome kind, 'failed' or 'manual'
    );
    CREATE INDEX consult_ledger_ts ON consult_ledger(ts);
  `,
};
