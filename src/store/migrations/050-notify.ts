import type { Migration } from './types.js';

/**
 * The notify outbox (every message to Zulip is written here first and delivered by a worker,
 * so a Zulip outage loses nothing and slows no one) and the `audit` table (who decided what,
 * when: every command a human gave, obeyed or refused). The emergency-stop flag lives in
 * `flags` (migration 40).
 */
export const migration050Notify: Migration = {
  version: 50,
  name: 'notify',
  up: `
    CREATE TABLE outbox (
      id              INTEGER PRIMARY KEY,
      created_at      INTEGER NOT NULL,          -- ms since epoch
      op              TEXT NOT NULL,             -- post | edit | react | unreact
      dest            TEXT NOT NULL,             -- stream | direct
      stream          TEXT,
      topic           TEXT,
      to_users        TEXT,                      -- JSON array of user ids (direct)
      content         TEXT NOT NULL,             -- message text; the emoji name for react/unreact
      ref_key         TEXT,                      -- name of a post that later edits/reactions target
      target_key      TEXT,                      -- edit/react/unreact: the ref_key they apply to
      fix_id          INTEGER,
      role            TEXT NOT NULL DEFAULT 'reply', -- head | proposal | approval | reply | status | command
      collapsible     INTEGER NOT NULL DEFAULT 1,
      state           TEXT NOT NULL DEFAULT 'pending', -- pending | sent | failed | merged | superseded
      attempts        INTEGER NOT NULL DEFAULT 0,
      last_attempt_at INTEGER,
      last_error      TEXT,
      sent_at         INTEGER,
      zulip_id        INTEGER,                   -- the Zulip message id posted (or targeted)
      merged_into     INTEGER                    -- outbox id this row was delivered with
    );
    CREATE INDEX outbox_pending ON outbox(id) WHERE state = 'pending';
    CREATE INDEX outbox_ref ON outbox(ref_key, id) WHERE ref_key IS NOT NULL;
    CREATE INDEX outbox_zulip ON outbox(zulip_id) WHERE zulip_id IS NOT NULL;
    CREATE INDEX outbox_fix ON outbox(fix_id, id) WHERE fix_id IS NOT NULL;

    CREATE TABLE audit (
      id        INTEGER PRIMARY KEY,
      ts        INTEGER NOT NULL,                -- ms since epoch
      actor     TEXT NOT NULL,                   -- human:EMAIL, cli:USER, supervisor, ...
      actor_id  TEXT,                            -- e.g. the Zulip user id
      source    TEXT NOT NULL,                   -- zulip-command | zulip-reaction | cli | dashboard | system
      action    TEXT NOT NULL,                   -- approve | reject | stop | status | ...
      target    TEXT,                            -- e.g. fix:42
      args      TEXT,                            -- JSON
      outcome   TEXT NOT NULL,                   -- ok | refused | failed | invalid
      detail    TEXT
    );
    CREATE INDEX audit_ts ON audit(ts);
    CREATE INDEX audit_actor ON audit(actor, ts);
  `,
};
