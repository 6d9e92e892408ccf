import type { Migration } from './types.js';

/** Fixes, their state transitions, gate step results and retry requests (src/fixes). */
export const migration030Fixes: Migration = {
  version: 30,
  name: 'fixes',
  up: `
    CREATE TABLE fixes (
      id              INTEGER PRIMARY KEY,
      pattern_id      TEXT NOT NULL,             -- template id (as text) the fix is for
      pattern_hash    TEXT NOT NULL,             -- stable hash, shortened into the branch name
      pattern_text    TEXT,                      -- the template, for humans
      consultation_id TEXT,
      kind            TEXT NOT NULL DEFAULT 'fix', -- fix | improve_logging (what the agent said)
      state           TEXT NOT NULL,
      branch          TEXT,
      worktree        TEXT,                      -- absolute path; NULL once removed
      base_commit     TEXT,                      -- the deployed commit the branch started from
      head_commit     TEXT,                      -- tip of the fix branch
      merge_commit    TEXT,
      before_tag      TEXT,
      rollback_branch TEXT,
      rollback_commit TEXT,                      -- the merge of the rollback branch
      summary         TEXT,
      analysis        TEXT,
      root_cause      TEXT,
      regression_test TEXT,
      risk            TEXT,                      -- low | medium | high
      confidence      REAL,
      cost_usd        REAL NOT NULL DEFAULT 0,
      files_changed   INTEGER,
      lines_changed   INTEGER,
      repair_rounds   INTEGER NOT NULL DEFAULT 0,
      failed_step     TEXT,                      -- gate step, 'policy', 'agent', 'merge', ...
      reason          TEXT,                      -- why it ended where it is (last transition)
      retry_of        INTEGER REFERENCES fixes(id),
      created_at      INTEGER NOT NULL,
      updated_at      INTEGER NOT NULL
    );
    CREATE INDEX fixes_state ON fixes(state);
    CREATE INDEX fixes_pattern ON fixes(pattern_id, created_at);
    CREATE UNIQUE INDEX fixes_branch ON fixes(branch) WHERE branch IS NOT NULL;

    CREATE TABLE fix_events (
      id         INTEGER PRIMARY KEY,
      fix_id     INTEGER NOT NULL REFERENCES fixes(id),
      ts         INTEGER NOT NULL,
      from_state TEXT,                           -- NULL for the creation row
      to_state   TEXT NOT NULL,
      event      TEXT NOT NULL,
      actor      TEXT NOT NULL,                  -- detector | agent | gate | policy | timer | git | supervisor | human:NAME
      reason     TEXT NOT NULL DEFAULT '',
      details    TEXT                            -- JSON
    );
    CREATE INDEX fix_events_fix ON fix_events(fix_id, id);

    CREATE TABLE gate_steps (
      id          INTEGER PRIMARY KEY,
      fix_id      INTEGER NOT NULL REFERENCES fixes(id),
      round       INTEGER NOT NULL,              -- 0 first gate, 1.. repair rounds
      seq         INTEGER NOT NULL,
      name        TEXT NOT NULL,
      command     TEXT NOT NULL,
      ok          INTEGER NOT NULL,
      exit_code   INTEGER,
      signal      TEXT,
      timed_out   INTEGER NOT NULL DEFAULT 0,
      duration_ms INTEGER NOT NULL,
      output_tail TEXT NOT NULL DEFAULT '',
      note        TEXT,
      started_at  INTEGER NOT NULL
    );
    CREATE INDEX gate_steps_fix ON gate_steps(fix_id, round, seq);

    CREATE TABLE fix_retry_requests (
      id           INTEGER PRIMARY KEY,
      fix_id       INTEGER NOT NULL REFERENCES fixes(id),
      requested_by TEXT NOT NULL,
      reason       TEXT NOT NULL DEFAULT '',
      ts           INTEGER NOT NULL,
      taken_at     INTEGER,
      new_fix_id   INTEGER REFERENCES fixes(id)
    );
    CREATE INDEX fix_retry_open ON fix_retry_requests(taken_at);
  `,
};
