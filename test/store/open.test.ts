import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DancerError } from '../../src/errors.js';
import { applyMigrations, openStore } from '../../src/store/open.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'dancer-store-'));

describe('openStore', () => {
  it('creates the file in WAL mode with every migration applied once', () => {
    const file = path.join(dir(), 'nested', 'dancer.db');
    const db = openStore(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    const versions = db.prepare('SELECT version FROM schema_migrations').all();
    expect(versions.length).toBeGreaterThan(0);
    expect(applyMigrations(db)).toEqual([]);
    db.close();
    const again = openStore(file);
    expect(again.prepare('SELECT count(*) AS n FROM schema_migrations').get()).toEqual({ n: versions.length });
    again.close();
  });

  it('refuses a database written by a newer schema', () => {
    const file = path.join(dir(), 'd.db');
    const db = openStore(file);
    db.prepare("INSERT INTO schema_migrations VALUES (9999, 'future', 0)").run();
    db.close();
    expect(() => openStore(file)).toThrowError(DancerError);
    try {
      openStore(file);
    } catch (error) {
      expect((error as DancerError).code).toBe('DANCER_STORE_NEWER_SCHEMA');
    }
  });

  it('rolls back a failing migration and reports it', () => {
    const file = path.join(dir(), 'd.db');
    try {
      openStore(file, { migrations: [{ version: 1, name: 'bad', up: 'CREATE TABLE t(x); SELECT * FROM nope;' }] });
      expect.unreachable();
    } catch (error) {
      expect((error as DancerError).code).toBe('DANCER_STORE_MIGRATION_FAILED');
    }
    const db = openStore(file, { migrations: [] });
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name='t'").get()).toEqual({ n: 0 });
    db.close();
  });

  it('fails with a typed error when a read-only open finds no file', () => {
    try {
      openStore(path.join(dir(), 'missing.db'), { readonly: true });
      expect.unreachable();
    } catch (error) {
      expect((error as DancerError).code).toBe('DANCER_STORE_OPEN_FAILED');
    }
  });
});
