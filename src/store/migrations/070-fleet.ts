import type { Migration } from './types.js';

/**
 * The fleet's local side (src/fleet, only with a `fleet:` section): events waiting to reach the
 * PostgreSQL control plane while the host is cut off from it, and small cursors (the last minute
 * of counts shipped). Logs never leave the host; these rows are what it catches up with.
 */
export const migration070Fleet: Migration = {
  version: 70,
  name: 'fleet',
  up: `
    CREATE TABLE fleet_outbox (
      id          INTEGER PRIMARY KEY,
      created_at  INTEGER NOT NULL,              -- ms since epoch
      kind        TEXT NOT NULL,                 -- decision | audit | fix_event
      payload     TEXT NOT NULL                  -- JSON
    );
    CREATE TABLE fleet_local (
      key         TEXT PRIMARY KEY,
      value       TEXT NOT NULL
    ) WITHOUT ROWID;
  `,
};
