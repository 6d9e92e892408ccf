import { afterEach, describe, expect, it } from 'vitest';
import { TemplateMiner } from '../../src/patterns/miner.js';
import type { Cluster } from '../../src/patterns/miner-types.js';
import { TemplateIndex } from '../../src/patterns/template-index.js';
import { minerEvictions, minerPlugin, TemplateStore } from '../../src/patterns/template-store.js';
import { LogWriter } from '../../src/store/log-writer.js';
import { tempStore } from './helpers.js';
import { rng } from './rng.js';

/** A word of letters only (nothing masked), random. */
function word(r: () => number): string {
  const n = 3 + Math.floor(r() * 6);
  let w = '';
  for (let i = 0; i < n; i++) w += String.fromCharCode(97 + Math.floor(r() * 26));
  return w;
}

/** Hostile lines: unique shapes of 1-12 random words, some with control bytes and ANSI left in. */
function hostile(r: () => number): string {
  const n = 1 + Math.floor(r() * 12);
  const words = Array.from({ length: n }, () => word(r));
  if (r() < 0.1) words.push('\u001b[31m\u0000');
  return words.join(' ');
}

const ORDINARY = [
  'user logged in from web console',
  'cache miss for key catalog',
  'request failed after retries',
  'connection pool exhausted waiting',
  'session closed by peer',
];

/** The index stats a fresh index of the miner's live templates has (probes are a cache: left out). */
function freshStats(miner: TemplateMiner) {
  const idx = new TemplateIndex(2, 1_000_000);
  for (const t of miner.templates()) {
    if (t.mergedInto !== undefined) continue;
    const c: Cluster = {
      id: t.id,
      tokens: [...t.tokens],
      tokenCount: t.tokenCount,
      fingerprint: t.fingerprint,
      count: 1,
    };
    idx.index(c);
  }
  const { probes: _, ...rest } = idx.stats();
  return rest;
}

function minerIndexStats(miner: TemplateMiner) {
  const { probes: _, ...rest } = miner.stats().index;
  return rest;
}

describe('the miner template cap', () => {
  it('a hostile stream of unique lines holds the live count at the cap and the index at its size', () => {
    const r = rng(11);
    const cap = 200;
    const miner = new TemplateMiner({ maxTemplates: cap });
    const sizes: number[] = [];
    for (let i = 1; i <= 20_000; i++) {
      miner.addId(hostile(r));
      if (i % 50 === 0) miner.takeDirty(); // a save, as the store's plugin does per batch
      if (i % 5000 === 0) {
        const s = miner.stats();
        // At most one batch of unsaved templates over the cap.
        expect(s.live).toBeLessThanOrEqual(cap + 50);
        // Nothing left behind by evicted templates: the index is the one its live templates make.
        expect(minerIndexStats(miner)).toEqual(freshStats(miner));
        const entries = Object.values(s.index).reduce((a, b) => a + b, 0) + s.live + s.merged;
        sizes.push(entries);
      }
    }
    const s = miner.stats();
    expect(s.evicted).toBeGreaterThan(15_000);
    expect(s.merged).toBeLessThan(cap);
    // The structures stay the size the cap allows: the last quarter no bigger than 1.25x the first.
    expect(Math.max(...sizes)).toBeLessThan((sizes[0] as number) * 1.25);
    // After the last save, the next new template brings the count back to the cap.
    miner.takeDirty();
    miner.addId('one more brand new shape of line');
    expect(miner.stats().live).toBe(cap);
    expect(miner.size).toBe(cap);
  });

  it('recurring templates survive a flood of unique lines, even ones seen twice long ago', () => {
    const r = rng(5);
    const miner = new TemplateMiner({ maxTemplates: 100 });
    const rare = miner.addId('nightly backup finished successfully');
    miner.addId('nightly backup finished successfully');
    const ids = ORDINARY.map((m) => miner.addId(m));
    for (let i = 1; i <= 10_000; i++) {
      miner.addId(hostile(r));
      if (i % 40 === 0) for (const m of ORDINARY) miner.addId(m);
      if (i % 20 === 0) miner.takeDirty();
    }
    expect(miner.stats().evicted).toBeGreaterThan(9000);
    for (const [k, m] of ORDINARY.entries()) {
      const again = miner.add(m);
      expect(again.created).toBe(false);
      expect(again.templateId).toBe(ids[k]);
    }
    const back = miner.add('nightly backup finished successfully');
    expect(back.created).toBe(false);
    expect(back.templateId).toBe(rare);
  });

  it('never evicts a template with unsaved changes: its row must be written first', () => {
    const r = rng(3);
    const miner = new TemplateMiner({ maxTemplates: 10 });
    const first = miner.addId(hostile(r));
    for (let i = 0; i < 100; i++) miner.addId(hostile(r));
    expect(miner.stats().evicted).toBe(0);
    expect(miner.get(first)).toBeDefined();
    const dirty = miner.takeDirty();
    expect(dirty).toContain(first);
    miner.addId('a new line after the save');
    expect(miner.stats().live).toBe(10);
    expect(miner.get(first)).toBeUndefined();
  });

  it('never evicts a template mustKeep pins, and counts it', () => {
    const r = rng(4);
    const kept = new Set<number>();
    const miner = new TemplateMiner({ maxTemplates: 20, mustKeep: (id) => kept.has(id) });
    const fired = miner.addId('payment provider answered 503 unavailable');
    kept.add(fired);
    for (let i = 1; i <= 2000; i++) {
      miner.addId(hostile(r));
      if (i % 10 === 0) miner.takeDirty();
    }
    expect(miner.get(fired)).toBeDefined();
    expect(miner.stats().pinned).toBe(1);
    expect(miner.add('payment provider answered 503 unavailable').templateId).toBe(fired);
  });

  it('maxTemplates 0 is no cap', () => {
    const r = rng(9);
    const miner = new TemplateMiner({ maxTemplates: 0 });
    for (let i = 1; i <= 500; i++) {
      miner.addId(`${hostile(r)} ${word(r)} ${word(r)}`);
      if (i % 10 === 0) miner.takeDirty();
    }
    expect(miner.stats().evicted).toBe(0);
    expect(miner.stats().live).toBeGreaterThan(100);
  });
});

describe('the template cap with the store', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('evicted ids stay valid in SQLite, evictions are counted, a restart loads the cap and reuses no id', async () => {
    const { db, file, cleanup } = tempStore();
    cleanups.push(cleanup);
    const store = new TemplateStore(db);
    const miner = store.loadMiner({ maxTemplates: 30 });
    const writer = new LogWriter(db, { plugins: [minerPlugin(store, miner)], maxBatchRecords: 25 });
    const r = rng(21);
    const now = Date.now();
    // A pattern that triggered: a fired decision names it, so it is never evicted.
    writer.write({ ts: now, level: 50, message: 'payment provider answered 503 unavailable' });
    await writer.flush();
    const fired = db.prepare('SELECT template_id FROM logs').pluck().get() as number;
    db.prepare(
      `INSERT INTO decisions (at, rule, key, template_id, outcome, reason_code, reason, numbers, trigger_id)
       VALUES (?, 'new_pattern', ?, ?, 'fire', 'fired', 'test', '{}', 't1')`,
    ).run(now, `template:${fired}`, fired);
    for (let i = 0; i < 1000; i++) writer.write({ ts: now + i, level: 30, message: hostile(r) });
    await writer.flush();
    await writer.close();

    const evicted = miner.stats().evicted;
    expect(evicted).toBeGreaterThan(500);
    expect(minerEvictions(db)).toBe(evicted);
    // Every stored record's template has its row, evicted or not.
    const dangling = db
      .prepare(
        'SELECT COUNT(*) FROM logs WHERE template_id IS NOT NULL AND template_id NOT IN (SELECT id FROM templates)',
      )
      .pluck()
      .get();
    expect(dangling).toBe(0);
    expect(miner.get(fired)).toBeDefined();
    expect(store.mustKeep(fired)).toBe(true);

    // A restart loads at most the cap (plus the pinned one), and new ids start above every stored one.
    const again = new TemplateStore(db).loadMiner({ maxTemplates: 30 });
    expect(again.stats().live).toBeLessThanOrEqual(31);
    expect(again.get(fired)).toBeDefined();
    const maxId = db.prepare('SELECT MAX(id) FROM templates').pluck().get() as number;
    const created = again.add('a shape never seen by this store before');
    expect(created.created).toBe(true);
    expect(created.templateId).toBeGreaterThan(maxId);
    expect(file).toBeTruthy();
  });
});

describe('parametersOf on very long templates', () => {
  it('reads a 50,000-character template word by word instead of throwing', () => {
    const miner = new TemplateMiner();
    const body = Array.from({ length: 10_000 }, (_, i) => `w${String.fromCharCode(97 + (i % 26))}x`).join(' ');
    // The number is masked: the template is `start <*> w.. (10,000 words) end`.
    const a = miner.add(`start 17 ${body} end`);
    expect(a.template.startsWith('start <*> wax')).toBe(true);
    expect(a.template.length).toBeGreaterThan(40_000);
    expect(miner.parametersOf(`start 42 ${body} end`, a.templateId)).toEqual(['42']);
    expect(a.parameters).toEqual(['17']);
    // A message that does not fit (another word count, another constant) gives undefined, never a throw.
    expect(miner.parametersOf(`start 42 ${body} end extra`, a.templateId)).toBeUndefined();
    expect(miner.parametersOf(`start 42 ${body} fin`, a.templateId)).toBeUndefined();
  });

  it('reads values inside tokens (`id=<*>,`) word by word too, as the regex would', () => {
    const pad = Array.from({ length: 6000 }, () => 'pad');
    const tokens = ['op', 'id=<*>,', ...pad, 'user=<*>', '(<*>:<*>)'];
    const miner = new TemplateMiner();
    miner.restore({ id: 1, template: tokens.join(' '), tokens, tokenCount: tokens.length, fingerprint: '', count: 1 });
    const body = pad.join(' ');
    expect(miner.parametersOf(`op id=xyz, ${body} user=carol (a:b:c)`, 1)).toEqual(['xyz', 'carol', 'a', 'b:c']);
    expect(miner.parametersOf(`op id=, ${body} user= (:)`, 1)).toEqual(['', '', '', '']);
    expect(miner.parametersOf(`op idx=xyz, ${body} user=carol (a:b)`, 1)).toBeUndefined();
    expect(miner.parametersOf(`op id=xyz ${body} user=carol (a:b)`, 1)).toBeUndefined();
    expect(miner.parametersOf(`op id=xyz, ${body} user=carol (ab)`, 1)).toBeUndefined();
    // The same short template by its regex gives the same values.
    const short = ['op', 'id=<*>,', 'pad', 'user=<*>', '(<*>:<*>)'];
    miner.restore({ id: 2, template: short.join(' '), tokens: short, tokenCount: 5, fingerprint: '', count: 1 });
    expect(miner.parametersOf('op id=xyz, pad user=carol (a:b:c)', 2)).toEqual(['xyz', 'carol', 'a', 'b:c']);
  });
});
