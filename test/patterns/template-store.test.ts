import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TemplateMiner } from '../../src/patterns/miner.js';
import { minerPlugin, TemplateStore } from '../../src/patterns/template-store.js';
import { LogWriter } from '../../src/store/log-writer.js';
import { type Db, openStore } from '../../src/store/open.js';

const dirs: string[] = [];
const dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) if (db.open) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dbPath(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-templates-'));
  dirs.push(dir);
  return path.join(dir, 'dancer.db');
}

function open(file: string): Db {
  const db = openStore(file);
  dbs.push(db);
  return db;
}

const MESSAGES = [
  'user alice logged in from web',
  'request 17 failed after 3 retries',
  'user bob logged in from web',
  'session closed, lifetime <1 sec',
  'request 18 failed after 5 retries',
  'user carol logged in from web',
  'session closed, lifetime 00:02',
  'cache miss for key alpha',
  'cache miss for key beta',
  'disk /var/data is 91% full',
];

describe('TemplateStore', () => {
  it('round-trips every template exactly (ids, tokens, merges, counts)', () => {
    const file = dbPath();
    const db = open(file);
    const store = new TemplateStore(db);
    const miner = new TemplateMiner();
    for (const [i, m] of MESSAGES.entries()) miner.add(m, { ts: 1000 + i });
    store.save(miner);
    const loaded = new TemplateStore(db).loadMiner();
    expect(loaded.templates()).toEqual(miner.templates());
    const row = db.prepare('SELECT * FROM templates WHERE merged_into IS NOT NULL').get() as Record<string, unknown>;
    expect(row).toMatchObject({ status: 'new' });
    expect(typeof row.merged_into).toBe('number');
  });

  it('gives the same ids for the same messages after a restart', () => {
    const file = dbPath();
    const first = new TemplateMiner();
    const before = MESSAGES.map((m, i) => first.add(m, { ts: i }).templateId).map((id) => first.resolveId(id));
    const db = open(file);
    new TemplateStore(db).save(first);
    db.close();

    // A new process: a fresh handle on the same file, a fresh miner from it.
    const again = open(file);
    const second = new TemplateStore(again).loadMiner();
    const after = MESSAGES.map((m) => second.add(m).templateId);
    expect(after).toEqual(before);
    // New messages after the restart get new ids, never reused ones.
    const fresh = second.add('a brand new message about queues');
    expect(fresh.created).toBe(true);
    expect(fresh.templateId).toBeGreaterThan(Math.max(...first.templates().map((t) => t.id)));
  });

  it('saves only what changed, and updates rows in place', () => {
    const db = open(dbPath());
    const store = new TemplateStore(db);
    const miner = new TemplateMiner();
    miner.add('job 1 done');
    expect(store.save(miner, new Map(), 5000)).toBe(1);
    expect(store.save(miner)).toBe(0);
    miner.add('job 2 done');
    expect(store.save(miner, new Map(), 6000)).toBe(1);
    const rows = db.prepare('SELECT id, text, count, first_seen, last_seen FROM templates').all();
    expect(rows).toEqual([{ id: 1, text: 'job <*> done', count: 2, first_seen: 5000, last_seen: 6000 }]);
  });

  it('refuses a corrupt row with DANCER_MINER_STATE_INVALID', () => {
    const db = open(dbPath());
    db.prepare(
      "INSERT INTO templates (id, text, tokens, token_count, first_seen, last_seen) VALUES (1, 'x', 'not json', 1, 0, 0)",
    ).run();
    expect(() => new TemplateStore(db).loadMiner()).toThrowError(
      expect.objectContaining({ code: 'DANCER_MINER_STATE_INVALID' }),
    );
  });
});

describe('minerPlugin', () => {
  it('sets template ids at ingest and stores templates with level, times and examples', () => {
    const db = open(dbPath());
    const store = new TemplateStore(db);
    const miner = store.loadMiner();
    const writer = new LogWriter(db, { plugins: [minerPlugin(store, miner)] });
    const base = { pid: 1, stream: 'stdout' };
    writer.write({ ...base, ts: 1000, level: 30, message: 'payment 1 declined' });
    writer.write({ ...base, ts: 2000, level: 50, message: 'payment 2 declined' });
    writer.write({
      ...base,
      ts: 3000,
      level: 50,
      message: 'payment 3 declined',
      stack: 'Error: declined\n    at charge (/srv/app/src/billing.ts:10:3)',
    });
    writer.flush();
    const logs = db.prepare('SELECT id, template_id FROM logs ORDER BY id').all() as Array<{
      id: number;
      template_id: number;
    }>;
    expect(logs[0]?.template_id).toBe(logs[1]?.template_id);
    expect(logs[2]?.template_id).not.toBe(logs[0]?.template_id); // thrown from a code site
    const t = db.prepare('SELECT * FROM templates WHERE id = ?').get(logs[0]?.template_id) as Record<string, unknown>;
    expect(t).toMatchObject({
      text: 'payment <*> declined',
      count: 2,
      max_level: 50,
      first_seen: 1000,
      last_seen: 2000,
    });
    expect(JSON.parse(t.example_log_ids as string)).toEqual([logs[0]?.id, logs[1]?.id]);
    const withStack = db.prepare('SELECT fingerprint FROM templates WHERE id = ?').pluck().get(logs[2]?.template_id);
    expect(withStack).toMatch(/^[0-9a-f]{8}$/);
  });

  it('points log rows of a merged template at the template that absorbed it', () => {
    const db = open(dbPath());
    const store = new TemplateStore(db);
    const miner = store.loadMiner();
    const writer = new LogWriter(db, { plugins: [minerPlugin(store, miner)] });
    const base = { pid: 1, stream: 'stdout', level: 30 };
    writer.write({ ...base, ts: 1, message: 'user alice logged in from web' });
    writer.write({ ...base, ts: 2, message: 'user bob logged in from web' });
    writer.flush();
    const ids = db.prepare('SELECT DISTINCT template_id FROM logs').pluck().all();
    expect(ids).toHaveLength(2);
    writer.write({ ...base, ts: 3, message: 'user carol logged in from web' });
    writer.write({ ...base, ts: 4, message: 'user dave logged in from web' });
    writer.flush();
    const after = db.prepare('SELECT DISTINCT template_id FROM logs').pluck().all();
    expect(after).toHaveLength(1);
    const live = db.prepare('SELECT id, text, count FROM templates WHERE merged_into IS NULL').all();
    expect(live).toEqual([{ id: after[0], text: 'user <*> logged in from web', count: 4 }]);
  });
});
