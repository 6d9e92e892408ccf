import type { Migration } from './types.js';

/**
 * Log records, the FTS index over them, dropped-record counters and a key/value meta table.
 * Every column is described in docs/store.md. `id` is AUTOINCREMENT so an id is never reused
 * (followers poll `id > last`, patterns keep example record ids).
 */
export const migration001Logs: Migration = {
  version: 1,
  name: 'logs',
  up: `
    CREATE TABLE logs (
      id            INTEGER PRIMARY KEY AUTOINCREMENT,
      ts            INTEGER NOT NULL,          -- ms since epoch of the first record in the run
      last_ts       INTEGER NOT NULL,          -- ms since epoch of the last record in the run
      first_ts      INTEGER GENERATED ALWAYS AS (ts) VIRTUAL, -- alias of ts, the name the docs use
      count         INTEGER NOT NULL DEFAULT 1,
      level         INTEGER NOT NULL,          -- pino numbers: 10 trace .. 60 fatal
      source        TEXT,                      -- module / logger name / stream
      message       TEXT NOT NULL,
      template_id   INTEGER,
      err_type      TEXT,
      err_message   TEXT,
      err_code      TEXT,
      err_hash      TEXT,                      -- see errorHash() in src/store/error-hash.ts
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
      flags         INTEGER NOT NULL DEFAULT 0,-- RECORD_FLAGS bits, see src/store/records.ts
      original_bytes INTEGER,
      extra         TEXT                       -- JSON object: every other field
    );
    -- Few, slim indexes: each one costs ingest speed (bench/ingest.mjs). Partial indexes cover
    -- the selective filters; queries repeat the partial condition (level >= 40, IS NOT NULL).
    CREATE INDEX logs_ts ON logs(ts);
    CREATE INDEX logs_warn_ts ON logs(ts) WHERE level >= 40;
    CREATE INDEX logs_template ON logs(template_id) WHERE template_id IS NOT NULL;
    CREATE INDEX logs_request ON logs(request_id) WHERE request_id IS NOT NULL;
    -- Contentless: the text lives in logs; the writer indexes each batch with one INSERT ... SELECT
    -- (err = err_type, err_code and err_message joined by spaces). Rowid = logs.id.
    CREATE VIRTUAL TABLE logs_fts USING fts5(
      message, err, stack,
      content = '', contentless_delete = 1,
      tokenize = 'porter unicode61'
    );
    -- Merge segments in larger steps (default 4): ~30% faster batch indexing, queries barely slower.
    INSERT INTO logs_fts (logs_fts, rank) VALUES ('automerge', 8);
    CREATE TABLE dropped (                     -- records that were not stored, by reason
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
