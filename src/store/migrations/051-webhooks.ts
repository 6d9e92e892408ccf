import type { Migration } from './types.js';

/**
 * The webhook outbox: every event for `notify.webhooks` is written here first (with its exact
 * body) and delivered by a worker with retries, so a slow or down endpoint never blocks anyone
 * and loses nothing while Dancer runs.
 */
export const migration051Webhooks: Migration = {
  version: 51,
  name: 'webhooks',
  up: `
    CREATE TABLE webhook_outbox (
      id              INTEGER PRIMARY KEY,
      created_at      INTEGER NOT NULL,          -- ms since epoch
      url             TEXT NOT NULL,
      secret_env      TEXT,                      -- the variable holding the secret (never the secret)
      event           TEXT NOT NULL,             -- fix_state | deploy | rollback | stop | resume | pattern_fired
      delivery_id     TEXT NOT NULL UNIQUE,      -- X-Dancer-Delivery
      body            TEXT NOT NULL,             -- the exact JSON body that is signed and sent
      state           TEXT NOT NULL DEFAULT 'pending', -- pending | sent | failed
      attempts        INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL,
      last_status     INTEGER,
      last_error      TEXT,
      sent_at         INTEGER
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at) WHERE state = 'pending';
  `,
};
