import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { templateParams } from '../../src/consult/brief.js';
import { patternText } from '../../src/patterns/pattern-text.js';
import { minerPlugin, TemplateStore } from '../../src/patterns/template-store.js';
import { LogWriter } from '../../src/store/log-writer.js';
import { openStore } from '../../src/store/open.js';
import { tempDir } from '../capture/helpers.js';

describe('patternText: what a record is mined as', () => {
  it('adds the error type and the first line of its message to the log text', () => {
    expect(
      patternText({
        message: 'checkout failed',
        errType: 'TypeError',
        errMessage: "Cannot read properties of undefined (reading 'percent')\n    at x",
      }),
    ).toBe("checkout failed: TypeError: Cannot read properties of undefined (reading 'percent')");
    expect(patternText({ message: 'checkout failed', errType: 'RangeError' })).toBe('checkout failed: RangeError');
  });

  it('does not repeat what the log text already says', () => {
    expect(
      patternText({
        message: 'TypeError: x is not a function',
        errType: 'TypeError',
        errMessage: 'x is not a function',
      }),
    ).toBe('TypeError: x is not a function');
    // pino's `log.error(err)`: the message is the error's own.
    expect(patternText({ message: 'boom', errType: 'Error', errMessage: 'boom' })).toBe('Error: boom');
    expect(patternText({ message: '', errType: 'Error', errMessage: 'boom' })).toBe('Error: boom');
    expect(patternText({ message: 'plain line' })).toBe('plain line');
    expect(patternText({ message: 'stored row', errType: null, errMessage: null })).toBe('stored row');
  });

  it('is what a stored record is matched against to read its parameters (the consultation brief)', () => {
    const row = { message: 'checkout failed', errType: 'RangeError', errMessage: 'Invalid count value: -7' };
    expect(templateParams('checkout failed: RangeError: Invalid count value: <*>', patternText(row))).toEqual(['-7']);
  });
});

describe('the demo class: one log text, three different errors, three patterns with telling names', () => {
  it('stores three templates whose text names each error, and keeps their ids across a reload', () => {
    const path = `${tempDir()}/p.db`;
    const db = openStore(path);
    const store = new TemplateStore(db);
    const writer = new LogWriter(db, { plugins: [minerPlugin(store, store.loadMiner())] });
    const errors = [
      ['TypeError', "Cannot read properties of undefined (reading 'percent')"],
      ['Error', 'unsupported currency EUR'],
      ['RangeError', 'Invalid count value: -'],
      ['RangeError', 'Invalid count value: -'],
    ] as const;
    for (let i = 0; i < 40; i++) {
      const [errType, text] = errors[i % errors.length] as readonly [string, string];
      const errMessage = text.endsWith('-') ? `${text}${i}` : text;
      writer.write({
        ts: i,
        level: 50,
        message: 'checkout failed',
        errType,
        errMessage,
        stack: `${errType}: ${errMessage}\n    at handler (/srv/app/src/server.ts:40:11)`,
      });
    }
    writer.close();
    const rows = db
      .prepare('SELECT id, text, count FROM templates WHERE merged_into IS NULL ORDER BY id')
      .all() as Array<{ id: number; text: string; count: number }>;
    expect(rows.map((r) => [r.text, r.count])).toEqual([
      ["checkout failed: TypeError: Cannot read properties of undefined (reading 'percent')", 10],
      ['checkout failed: Error: unsupported currency EUR', 10],
      ['checkout failed: RangeError: Invalid count value: <*>', 20],
    ]);
    db.close();
    // Ids survive a restart: the reloaded miner puts the same errors on the same templates.
    const again = new Database(path);
    const reopened = openStore(path);
    const store2 = new TemplateStore(reopened);
    const writer2 = new LogWriter(reopened, { plugins: [minerPlugin(store2, store2.loadMiner())] });
    writer2.write({
      ts: 99,
      level: 50,
      message: 'checkout failed',
      errType: 'RangeError',
      errMessage: 'Invalid count value: -7',
      stack: 'RangeError: Invalid count value: -7\n    at handler (/srv/app/src/server.ts:40:11)',
    });
    writer2.close();
    const count = again.prepare('SELECT count FROM templates WHERE id = ?').pluck().get(rows[2]?.id);
    expect(count).toBe(21);
    again.close();
    reopened.close();
  });
});
