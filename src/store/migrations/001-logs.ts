import type { Migration } from './types.js';

/** Log records, the FTS index over them, dropped-record counters and a key/value meta table. */
export const migration001Logs: Migration = {
  version: 1,
  name: 'logs',
  up: `
    CREATE TABLE logs (
      id            INTEGER PRIMARY KEY,
      ts            INTEGER NOT NULL,          -- ms since epoch of the first record in the run
      last_ts       INTEGER NOT NULL,          -- ms since epoch of the last record in the run
      count         INTEGER NOT NULL DEFAULT 1,
      level         INTEGER NOT NULL,          -- pino numbers: 10 trace .. 60 fatal
      source        TEXT,                      -- module / logger name / stream
      message       TEXT NOT NULL,
      template_id   INTEGER,
      err_type      TEXT,
      err_message   TEXT,
      err_code      TEXT,
      err_hash      TEXT,
      stack         TEXT,
      pid           INTEGER,
      thread        TEXT,
      hostname      TEXT,
      request_id    TEXT,
      session_id    TEXT,
      user_id       TEXT,
      tenant_id     TEXT,
      trace_id      TEXT,
      span_id       TEXT,
      http_method   TEXT,
      http_route    TEXT,
      http_status   INTEGER,
      duration_ms   REAL,
      mem_bytes     INTEGER,
      file          TEXT,
      line          INTEGER,
      func          TEXT,
      stream        TEXT,                      -- stdout | stderr | pino | ingest
      flags         INTEGER NOT NULL DEFAULT 0,-- bit set, see src/store/logs.ts
      original_bytes INTEGER,
      extra         TEXT                       -- JSON object: every other field
    );
    CREATE INDEX logs_ts ON logs(ts);
    CREATE INDEX logs_level_ts ON logs(level, ts);
    CREATE INDEX logs_template_ts ON logs(template_id, ts);
    CREATE INDEX logs_request ON logs(request_id) WHERE request_id IS NOT NULL;
    CREATE VIRTUAL TABLE logs_fts USING fts5(
      message, err, stack,
      content = '', contentless_delete = 1,
      tokenize = 'porter unicode61'
    );
    CREATE TABLE dropped (
      reason TEXT PRIMARY KEY,
      count  INTEGER NOT NULL DEFAULT 0,
      last_ts INTEGER
    );
    CREATE TABLE meta (
      key   TEXT PRIMARY KEY,
      value TEXT NOT NULL
    );
  `,
};
