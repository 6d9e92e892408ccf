import type Database from 'better-sqlite3';

/** One numbered schema change. Migrations run in `version` order, each in its own transaction. */
export interface Migration {
  /** Positive, unique, never reused. */
  version: number;
  /** Short name, for `schema_migrations` and error messages. */
  name: string;
  /** SQL run with `db.exec`, or a function for changes SQL alone cannot express. */
  up: string | ((db: Database.Database) => void);
}
