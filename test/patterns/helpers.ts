import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BatchPlugin } from '../../src/store/log-writer.js';
import { type Db, openStore } from '../../src/store/open.js';
import type { LogRecord } from '../../src/store/records.js';

/** A real SQLite store in a temp dir; `cleanup` closes and removes it. */
export function tempStore(): { db: Db; file: string; dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-patterns-'));
  const file = path.join(dir, 'dancer.db');
  const db = openStore(file);
  return {
    db,
    file,
    dir,
    cleanup: () => {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A stand-in for the miner's writer plugin, for detector tests that must not depend on how the
 * miner groups messages: the template of a message is the message with its digits masked, and
 * the `templates` row is kept up to date inside the ingest transaction, as the real plugin does.
 */
export function simpleTemplatesPlugin(): BatchPlugin {
  const ids = new Map<string, number>();
  return {
    name: 'test-templates',
    prepare(record: LogRecord) {
      const text = record.message.replace(/\d+/g, '<*>');
      let id = ids.get(text);
      if (id === undefined) {
        id = ids.size + 1;
        ids.set(text, id);
      }
      record.templateId = id;
    },
    inTransaction(db, rows) {
      const upsert = db.prepare(
        `INSERT INTO templates (id, text, tokens, token_count, first_seen, last_seen, count, max_level)
         VALUES (@id, @text, '[]', 0, @ts, @ts, 1, @level)
         ON CONFLICT (id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), count = count + 1,
           max_level = max(max_level, excluded.max_level)`,
      );
      for (const { record } of rows) {
        upsert.run({
          id: record.templateId,
          text: record.message.replace(/\d+/g, '<*>'),
          ts: record.ts,
          level: record.level,
        });
      }
    },
  };
}

/** Resolve with the first value `emitter` emits on `event`, or reject after `ms`. */
export function nextEvent<T>(
  emitter: { once(event: string, fn: (v: T) => void): unknown },
  event: string,
  ms = 5000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event within ${ms} ms`)), ms);
    emitter.once(event, (v: T) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}
