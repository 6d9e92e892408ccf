import type { Migration } from './types.js';

/**
 * Per-template, per-minute counts (with per-level counts and request durations) and the persisted
 * EWMA baselines computed from them. Retention never deletes these rows: they are small (one row
 * per template per active minute) and they are the long memory of the detector.
 */
export const migration011TemplateBuckets: Migration = {
  version: 11,
  name: 'template-buckets',
  up: `
    CREATE TABLE template_buckets (
      template_id INTEGER NOT NULL,              -- 0: records without a template id
      minute      INTEGER NOT NULL,              -- floor(ts / 60000)
      count       INTEGER NOT NULL DEFAULT 0,
      n_trace     INTEGER NOT NULL DEFAULT 0,
      n_debug     INTEGER NOT NULL DEFAULT 0,
      n_info      INTEGER NOT NULL DEFAULT 0,
      n_warn      INTEGER NOT NULL DEFAULT 0,
      n_error     INTEGER NOT NULL DEFAULT 0,
      n_fatal     INTEGER NOT NULL DEFAULT 0,
      slow        INTEGER NOT NULL DEFAULT 0,    -- records with duration_ms >= review.slowRequestMs
      dur_n       INTEGER NOT NULL DEFAULT 0,    -- records with a duration
      dur_sum     REAL NOT NULL DEFAULT 0,
      dur_max     REAL,
      PRIMARY KEY (template_id, minute)
    ) WITHOUT ROWID;
    CREATE INDEX template_buckets_minute ON template_buckets(minute);
    CREATE TABLE baselines (
      key         TEXT PRIMARY KEY,              -- 'errors' or 'template:<id>'
      mean        REAL NOT NULL,                 -- EWMA of the per-minute count
      variance    REAL NOT NULL,                 -- EWMA variance of the per-minute count
      samples     INTEGER NOT NULL,              -- active minutes folded in
      first_minute INTEGER NOT NULL,
      last_minute INTEGER NOT NULL               -- last minute folded in
    ) WITHOUT ROWID;
  `,
};
