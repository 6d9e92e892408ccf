import type { Migration } from './types.js';

/**
 * Supervisor tables: built releases, deploys (with the observation verdict), the persisted
 * supervisor state (for reconciliation after a crash), sampled process metrics, and flags
 * (the emergency stop among them).
 */
export const migration040Supervise: Migration = {
  version: 40,
  name: 'supervise',
  up: `
    CREATE TABLE releases (
      service     TEXT NOT NULL,
      id          TEXT NOT NULL,            -- commit sha, or 'worktree' for the working tree
      commit_sha  TEXT,
      dir         TEXT NOT NULL,
      status      TEXT NOT NULL,            -- building | ready | failed
      created_at  INTEGER NOT NULL,
      built_at    INTEGER,
      error       TEXT,
      PRIMARY KEY (service, id)
    );
    CREATE TABLE deploys (
      id            INTEGER PRIMARY KEY,
      service       TEXT NOT NULL,
      kind          TEXT NOT NULL,          -- deploy | rollback | reload
      from_release  TEXT,
      to_release    TEXT NOT NULL,
      fix_id        INTEGER,
      target_template_id INTEGER,
      status        TEXT NOT NULL,          -- building | starting | observing | succeeded | rolled_back | failed | inconclusive
      reason        TEXT,
      actor         TEXT,
      started_at    INTEGER NOT NULL,
      ready_at      INTEGER,
      window_ends_at INTEGER,
      finished_at   INTEGER,
      extensions    INTEGER NOT NULL DEFAULT 0,
      verdict       TEXT                    -- JSON: verdict, reasons, baseline and window numbers
    );
    CREATE INDEX deploys_service_started ON deploys(service, started_at);
    CREATE TABLE supervisor_state (
      service          TEXT PRIMARY KEY,
      state            TEXT NOT NULL,
      supervisor_pid   INTEGER,
      started_at       INTEGER,
      current_release  TEXT,
      previous_release TEXT,
      last_good_release TEXT,
      restarts         INTEGER NOT NULL DEFAULT 0,
      workers          TEXT NOT NULL DEFAULT '[]',  -- JSON [{pid, pgid, release, startedAt, role}]
      updated_at       INTEGER NOT NULL
    );
    CREATE TABLE metrics (
      id      INTEGER PRIMARY KEY,
      ts      INTEGER NOT NULL,
      service TEXT NOT NULL,
      scope   TEXT NOT NULL,                -- worker | supervisor
      pid     INTEGER,
      name    TEXT NOT NULL,                -- cpu_percent | rss_bytes | fds | threads
      value   REAL NOT NULL
    );
    CREATE INDEX metrics_name_ts ON metrics(service, name, ts);
    CREATE TABLE flags (
      name    TEXT PRIMARY KEY,             -- e.g. emergency_stop
      value   TEXT NOT NULL,
      set_by  TEXT,
      reason  TEXT,
      set_at  INTEGER NOT NULL
    );
  `,
};
