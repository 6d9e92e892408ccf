import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DancerError } from '../errors.js';
import { MIGRATIONS, type Migration } from './migrations/index.js';
import { tableExists } from './tables.js';

/** An open Dancer database (a better-sqlite3 handle with Dancer's pragmas and schema). */
export type Db = Database.Database;

/** Options for {@link openStore}. */
export interface OpenStoreOptions {
  /** Open read-only (CLI readers). The file must exist and be migrated. */
  readonly?: boolean;
  /** Milliseconds to wait on a lock before failing with `DANCER_STORE_LOCKED`. Default 5000. */
  busyTimeoutMs?: number;
  /** Migrations to apply (tests may pass a subset). Default: all of {@link MIGRATIONS}. */
  migrations?: readonly Migration[];
}

/**
 * Open (creating if needed) the SQLite store at `file`: WAL, `synchronous=NORMAL`, a busy timeout,
 * and every pending migration applied, each in its own transaction.
 *
 * @throws {DancerError} `DANCER_STORE_OPEN_FAILED`, `DANCER_STORE_LOCKED`,
 * `DANCER_STORE_MIGRATION_FAILED` or `DANCER_STORE_NEWER_SCHEMA`.
 */
export function openStore(file: string, options: OpenStoreOptions = {}): Db {
  const readonly = options.readonly ?? false;
  let db: Db;
  try {
    if (!readonly && file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    db = new Database(file, { readonly, fileMustExist: readonly });
  } catch (error) {
    throw new DancerError('DANCER_STORE_OPEN_FAILED', `Cannot open database ${file}: ${(error as Error).message}`, {
      cause: error,
      details: { file },
    });
  }
  try {
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      applyMigrations(db, options.migrations ?? MIGRATIONS);
    } else {
      checkSchemaKnown(db, options.migrations ?? MIGRATIONS);
    }
    return db;
  } catch (error) {
    db.close();
    throw toStoreError(error, file);
  }
}

/** Map a SQLite error to a {@link DancerError} with the right code (already-typed errors pass through). */
export function toStoreError(error: unknown, file?: string): DancerError {
  if (error instanceof DancerError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? String(error);
  const details = { file, sqliteCode: code };
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new DancerError('DANCER_STORE_LOCKED', `Database is locked: ${message}`, { cause: error, details });
  }
  if (/^SQLITE_(FULL|READONLY|IOERR|CANTOPEN|CORRUPT|NOTADB)/.test(code)) {
    return new DancerError('DANCER_STORE_WRITE_FAILED', `Database write failed: ${message}`, { cause: error, details });
  }
  return new DancerError('DANCER_STORE_OPEN_FAILED', `Database error: ${message}`, { cause: error, details });
}

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`;

function appliedVersions(db: Db): Set<number> {
  if (!tableExists(db, 'schema_migrations')) return new Set();
  const rows = db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>;
  return new Set(rows.map((r) => r.version));
}

function checkSchemaKnown(db: Db, migrations: readonly Migration[]): void {
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...appliedVersions(db)].filter((v) => !known.has(v));
  if (unknown.length > 0) {
    throw new DancerError(
      'DANCER_STORE_NEWER_SCHEMA',
      `The database has schema versions this Dancer does not know (${unknown.join(', ')}): upgrade Dancer.`,
      { details: { unknown } },
    );
  }
}

/**
 * Apply every migration not yet recorded in `schema_migrations`, in version order. Versions are
 * a set, not a high-water mark, so stages can add migrations in their own number ranges.
 */
export function applyMigrations(db: Db, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(MIGRATIONS_TABLE);
  checkSchemaKnown(db, migrations);
  const done = appliedVersions(db);
  const pending = [...migrations].filter((m) => !done.has(m.version)).sort((a, b) => a.version - b.version);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of pending) {
    try {
      db.transaction(() => {
        if (typeof migration.up === 'string') db.exec(migration.up);
        else migration.up(db);
        record.run(migration.version, migration.name, Date.now());
      }).immediate();
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw toStoreError(error);
      throw new DancerError(
        'DANCER_STORE_MIGRATION_FAILED',
        `Migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
        { cause: error, details: { version: migration.version } },
      );
    }
  }
  return pending.map((m) => m.version);
}
