import { describe, expect, it } from 'vitest';
import { WILDCARD } from '../../src/patterns/masks.js';
import type { Cluster } from '../../src/patterns/miner-types.js';
import { TemplateIndex } from '../../src/patterns/template-index.js';
import type { IndexStats } from '../../src/patterns/template-index-stats.js';
import { rng } from './rng.js';

// Words (sibling keys, anchors), keys with values, shapes, wildcards in and around tokens, one
// hostile token with the index's own separator in it.
const VOCAB = [
  'user',
  'login',
  'failed',
  'from',
  'GET',
  'POST',
  'alice',
  'bob',
  'carol',
  'shard3x',
  'id=<*>',
  'user=root',
  'user=bob',
  'status=500',
  '<*>.',
  '(<*>)',
  WILDCARD,
  WILDCARD,
  'a',
  'x\u0001y',
];

function randomTokens(r: () => number): string[] {
  const n = 1 + Math.floor(r() * 7);
  return Array.from({ length: n }, () => VOCAB[Math.floor(r() * VOCAB.length)] as string);
}

function cluster(id: number, tokens: string[], fingerprint: string): Cluster {
  return { id, tokens, tokenCount: tokens.length, fingerprint, count: 1 };
}

const EMPTY: IndexStats = {
  leaves: 0,
  leafTemplates: 0,
  treeNodes: 0,
  roots: 0,
  groups: 0,
  groupLeaves: 0,
  childSlots: 0,
  childKeys: 0,
  siblingKeys: 0,
  siblingEntries: 0,
  anchorKeys: 0,
  anchorEntries: 0,
  probes: 0,
};

/** An index of the same live templates built afresh (copies: indexing writes to a template). */
function fresh(depth: number, maxChildren: number, live: Iterable<Cluster>): TemplateIndex {
  const idx = new TemplateIndex(depth, maxChildren);
  for (const c of [...live].sort((a, b) => a.id - b.id)) idx.index(cluster(c.id, [...c.tokens], c.fingerprint));
  return idx;
}

describe('TemplateIndex pruning', () => {
  for (const depth of [1, 2, 3]) {
    it(`depth ${depth}: unindexing every template leaves every structure empty`, () => {
      const r = rng(depth);
      const idx = new TemplateIndex(depth, 1_000_000);
      const all: Cluster[] = [];
      for (let id = 1; id <= 2000; id++) {
        const c = cluster(id, randomTokens(r), ['', 'fpA', 'fp\u0001B'][id % 3] as string);
        idx.index(c);
        all.push(c);
      }
      const full = idx.stats();
      expect(full.leafTemplates).toBe(2000);
      expect(full.childKeys).toBeGreaterThan(0);
      expect(full.siblingEntries).toBeGreaterThan(0);
      expect(full.anchorEntries).toBeGreaterThan(0);
      // Crowded leaves get probe indexes on search: those go too.
      for (let i = 0; i < 200; i++) idx.search(randomTokens(r), '', 0.5);
      for (const c of all.reverse()) idx.unindex(c);
      expect(idx.stats()).toEqual(EMPTY);
      for (const c of all) {
        expect(c.leaf).toBeUndefined();
        expect(c.path).toBeUndefined();
      }
    });
  }

  it('a children key counted for maxChildren is given back with its last template', () => {
    const idx = new TemplateIndex(2, 2);
    const a = cluster(1, ['alpha', 'x', 'y'], '');
    const b = cluster(2, ['beta', 'x', 'y'], '');
    const c = cluster(3, ['gamma', 'x', 'y'], '');
    idx.index(a);
    idx.index(b);
    idx.index(c); // the third distinct first key goes under `*`
    expect(c.path?.[1]).toBe('*');
    idx.unindex(a);
    idx.unindex(c);
    const d = cluster(4, ['delta', 'x', 'y'], '');
    idx.index(d); // alpha's slot is free again
    expect(d.path?.[1]).toBe('delta');
    idx.unindex(b);
    idx.unindex(d);
    expect(idx.stats()).toEqual(EMPTY);
  });

  it('unindex works from what was indexed, after the tokens changed length and first-token kind', () => {
    const idx = new TemplateIndex(2, 1_000_000);
    const c = cluster(1, ['connect', 'to', 'db', 'failed'], 'fp');
    idx.index(c);
    // What mergeCovered does to a kept template: new tokens (another length, a wildcard first).
    c.tokens = [WILDCARD, 'failed'];
    idx.unindex(c);
    expect(idx.stats()).toEqual(EMPTY);
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`random adds, changes and removes (seed ${seed}) leave the index a fresh build would have`, () => {
      const r = rng(seed * 7919);
      const depth = 1 + (seed % 3);
      const idx = new TemplateIndex(depth, 1_000_000);
      const live = new Map<number, Cluster>();
      let nextId = 1;
      for (let step = 0; step < 3000; step++) {
        const op = r();
        const ids = [...live.keys()];
        const pick = () => live.get(ids[Math.floor(r() * ids.length)] as number) as Cluster;
        if (op < 0.45 || live.size === 0) {
          const c = cluster(nextId++, randomTokens(r), r() < 0.2 ? 'fp' : '');
          idx.index(c);
          live.set(c.id, c);
        } else if (op < 0.8) {
          const c = pick();
          idx.unindex(c);
          live.delete(c.id);
        } else if (op < 0.9) {
          // Generalise one position, as absorb does; `lead` when it is a key position.
          const c = pick();
          const at = Math.floor(r() * c.tokens.length);
          c.tokens[at] = WILDCARD;
          idx.update(c, at <= depth);
        } else {
          // Re-index with other tokens (a merge's kept template).
          const c = pick();
          c.tokens = randomTokens(r);
          idx.unindex(c);
          idx.index(c);
        }
        if (step % 500 === 0) for (let i = 0; i < 20; i++) idx.search(randomTokens(r), '', 0.5);
      }
      expect(idx.snapshot()).toEqual(fresh(depth, 1_000_000, live.values()).snapshot());
      // And the same answers.
      const other = fresh(depth, 1_000_000, live.values());
      for (let i = 0; i < 300; i++) {
        const tokens = randomTokens(r);
        const fp = r() < 0.2 ? 'fp' : '';
        expect(idx.search(tokens, fp, 0.5)?.id).toBe(other.search(tokens, fp, 0.5)?.id);
      }
      for (const c of live.values()) idx.unindex(c);
      expect(idx.stats()).toEqual(EMPTY);
    });
  }
});
