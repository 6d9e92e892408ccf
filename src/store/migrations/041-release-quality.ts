import type { Migration } from './types.js';

/**
 * Releases keyed by their git tree remember whether they served well (`good_at`: the first
 * release, a passed or accepted window) or were rolled back (`bad_at`); `worker_releases` maps a
 * worker pid to the release it ran, so an error can be traced to the release that logged it.
 */
export const migration041ReleaseQuality: Migration = {
  version: 41,
  name: 'release-quality',
  up: `
    ALTER TABLE releases ADD COLUMN good_at INTEGER;
    ALTER TABLE releases ADD COLUMN bad_at INTEGER;
    ALTER TABLE releases ADD COLUMN bad_reason TEXT;
    CREATE TABLE worker_releases (
      service    TEXT NOT NULL,
      pid        INTEGER NOT NULL,
      release    TEXT NOT NULL,
      started_at INTEGER NOT NULL,
      staged     INTEGER NOT NULL DEFAULT 0,  -- 1: a staging worker on a private socket (never served users)
      PRIMARY KEY (service, pid, started_at)
    );
    CREATE INDEX worker_releases_pid ON worker_releases(pid);
  `,
};
