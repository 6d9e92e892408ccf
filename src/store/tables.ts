import type { Db } from './open.js';

/**
 * True when the database has a table (or view) of this name. Readers call it before reading a
 * table a later migration or another command may not have created yet (a fresh store, an older one).
 */
export function tableExists(db: Db, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?").get(name) !== undefined;
}
