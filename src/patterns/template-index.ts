/**
 * The miner's incremental index (see miner.ts): where a template is found from a message's tokens.
 * Every structure is updated in place when one template is added, changed or removed, never
 * rebuilt: a fixed-depth lookup tree keyed by the leading tokens (`*` for wildcards), a probe index
 * for crowded leaves, sibling keys (templates that differ in one word, for the evidence rule) and
 * anchors (constant tokens, for matching across token counts).
 */
import {
  codeLength,
  constantWord,
  differInWord,
  type EvidenceRule,
  isKeyword,
  isVariablePosition,
} from './evidence.js';
import { groupOfRoot, plantLeaf, releaseChildren, removeFromSets, SEP, STAR, uprootLeaf } from './index-upkeep.js';
import { WILDCARD } from './masks.js';
import type { Cluster } from './miner-types.js';
import {
  type IndexParts,
  type IndexSnapshot,
  type IndexStats,
  indexSnapshot,
  indexStats,
} from './template-index-stats.js';
import { allWild, anchorsOf, firstAnchor, flexCovers, tokenCovers } from './template-match.js';

/** Leaves with more templates than this are searched through a probe index first. */
const PROBE_MIN = 16;

interface Best {
  c: Cluster | undefined;
  sim: number;
  eq: number;
  /** The similarity threshold. */
  st: number;
}

export interface Probe {
  /** position → token → templates whose first constant token outside the keys is there. */
  byPosition: Map<number, Map<string, Cluster[]>>;
  rest: Cluster[];
}

/** A leaf of the lookup tree: its key in `leaves` and its templates (the same array). */
export interface LeafEntry {
  key: string;
  list: Cluster[];
}
/** One level of the lookup tree: index key (a token or `*`) → next level, or the leaf at the last. */
export type TreeNode = Map<string, TreeNode | LeafEntry>;

/** The lookup structures of a {@link TemplateMiner}'s live templates. */
export class TemplateIndex {
  /** leaf key → clusters (live ones only). */
  private readonly leaves = new Map<string, Cluster[]>();
  /**
   * The same leaves as a tree: group + offset → first key → second key ... → leaf. search() walks
   * it with the message's own token strings (their hashes are computed once), instead of building
   * and hashing a long key string per candidate leaf; a missing branch prunes its whole subtree.
   */
  private readonly tree = new Map<string, TreeNode>();
  /**
   * The roots of `tree` by fingerprint, then `token count * 2 + offset`: search() finds its roots
   * without building a key string per message.
   */
  private readonly roots = new Map<string, Map<number, TreeNode>>();
  /** Scratch of search() (one search at a time): the leaves found, the crowded ones, the best. */
  private readonly found: LeafEntry[] = [];
  private readonly crowded: Cluster[][] = [];
  private readonly best: Best = { c: undefined, sim: -1, eq: -1, st: 0 };
  /** Scratch of leavesFor(): the index key of each leading position. */
  private readonly walkKeys: string[] = [];
  /** Scratch of siblingKeysOf() and searchSiblings(). */
  private readonly suffixes: string[] = [];
  private readonly positions: number[] = [];
  /** leaf key → probe index of a crowded leaf (see probeOf). */
  private readonly probes = new Map<string, Probe>();
  /** group key (fingerprint + length) → leaf keys in it. */
  private readonly groups = new Map<string, Set<string>>();
  /**
   * group key + position → distinct keys there (for maxChildren), each with the number of live
   * templates whose path holds it, so a key goes when its last template does.
   */
  private readonly children = new Map<string, Map<string, number>>();
  /** group + leading keys with one position left out → live clusters (variable leading words). */
  private readonly siblings = new Map<string, Set<Cluster>>();
  /** fingerprint + anchor token → live clusters, for matching across token counts. */
  private readonly anchors = new Map<string, Set<Cluster>>();

  /**
   * @param depth leading tokens used as index keys
   * @param maxChildren distinct keys per index position before new ones go under `*`
   */
  constructor(
    readonly depth: number,
    private readonly maxChildren: number,
  ) {}

  key(token: string | undefined): string {
    if (token === undefined) return '';
    return token.includes(WILDCARD) ? STAR : token;
  }

  groupKey(fp: string, len: number): string {
    return `${fp}${SEP}${len}`;
  }

  /**
   * Leaf keys a message may be found under. A template whose first token is a wildcard is keyed
   * by the tokens after it (offset 1), so values in the first position (an address, a time) do
   * not crowd every such template into one leaf. Each key position is exact or `*`.
   */
  leafKeysFor(tokens: readonly string[], fp: string): string[] {
    const group = this.groupKey(fp, tokens.length);
    const out: string[] = [];
    const first = tokens[0];
    if (first !== undefined && (!first.includes(WILDCARD) || tokens.length === 1))
      this.expandKeys(`${group}${SEP}0`, tokens, 0, out);
    if (tokens.length > 1) this.expandKeys(`${group}${SEP}1`, tokens, 1, out);
    else if (tokens.length === 0) out.push(`${group}${SEP}0`);
    return out;
  }

  private expandKeys(prefix: string, tokens: readonly string[], offset: number, out: string[]): void {
    let keys = [prefix];
    for (let i = offset; i < offset + this.depth; i++) {
      const k = this.key(tokens[i]);
      const next: string[] = [];
      for (const p of keys) {
        next.push(`${p}${SEP}${k}`);
        if (k !== STAR && k !== '') next.push(`${p}${SEP}${STAR}`);
      }
      keys = next;
    }
    for (const k of keys) out.push(k);
  }

  /** Offset of a template's index key: 1 when its first token is a wildcard. */
  private offsetOf(tokens: readonly string[]): number {
    return tokens.length > 1 && (tokens[0] as string).includes(WILDCARD) ? 1 : 0;
  }

  /** The leaf a template lives in: its leading tokens, `*` for wildcards or crowded positions. */
  private leafKeyOf(c: Cluster, path?: string[]): string {
    const group = this.groupKey(c.fingerprint, c.tokens.length);
    const offset = this.offsetOf(c.tokens);
    let key = `${group}${SEP}${offset}`;
    path?.push(key);
    for (let i = offset; i < offset + this.depth; i++) {
      let k = this.key(c.tokens[i]);
      if (k !== STAR && k !== '') {
        const slot = `${key}${SEP}#${i}`;
        let seen = this.children.get(slot);
        if (!seen) {
          seen = new Map();
          this.children.set(slot, seen);
        }
        const refs = seen.get(k);
        if (refs !== undefined) seen.set(k, refs + 1);
        else if (seen.size >= this.maxChildren) k = STAR;
        else seen.set(k, 1);
      }
      path?.push(k);
      key = `${key}${SEP}${k}`;
    }
    return key;
  }

  /**
   * The leaves `tokens` may be found under: the same set as {@link leafKeysFor}, found by walking
   * the lookup tree (each key position exact or `*`).
   */
  private leavesFor(tokens: readonly string[], fp: string, out: LeafEntry[]): void {
    if (this.depth <= 0) {
      for (const key of this.leafKeysFor(tokens, fp)) {
        const list = this.leaves.get(key);
        if (list) out.push({ key, list });
      }
      return;
    }
    if (tokens.length === 0) return; // leafKeysFor gives a key no template is stored under
    const byLength = this.roots.get(fp);
    if (!byLength) return;
    // The index key of each position the walk reads (0 to depth), worked out once.
    const keys = this.walkKeys;
    for (let i = 0; i <= this.depth; i++) keys[i] = this.key(tokens[i]);
    // A one-token template is keyed at offset 0 even when that token is variable.
    if (keys[0] !== STAR || tokens.length === 1) {
      const root = byLength.get(tokens.length * 2);
      if (root) this.walk(root, keys, 0, 0, out);
    }
    if (tokens.length > 1) {
      const root = byLength.get(tokens.length * 2 + 1);
      if (root) this.walk(root, keys, 1, 1, out);
    }
  }

  private walk(node: TreeNode, keys: readonly string[], offset: number, i: number, out: LeafEntry[]): void {
    const k = keys[i] as string;
    const last = i === offset + this.depth - 1;
    const exact = node.get(k);
    if (exact) {
      if (last) out.push(exact as LeafEntry);
      else this.walk(exact as TreeNode, keys, offset, i + 1, out);
      // Its only branch: there is no `*` one to look up.
      if (node.size === 1) return;
    }
    if (k !== STAR && k !== '') {
      const star = node.get(STAR);
      if (star) {
        if (last) out.push(star as LeafEntry);
        else this.walk(star as TreeNode, keys, offset, i + 1, out);
      }
    }
  }

  index(c: Cluster): void {
    const path: string[] = [];
    const leaf = this.leafKeyOf(c, path);
    c.leaf = leaf;
    c.path = path;
    let list = this.leaves.get(leaf);
    if (!list) {
      list = [];
      this.leaves.set(leaf, list);
      plantLeaf(
        this.tree,
        this.roots,
        path,
        { key: leaf, list },
        c.fingerprint,
        c.tokens.length * 2 + this.offsetOf(c.tokens),
      );
      const group = this.groupKey(c.fingerprint, c.tokens.length);
      let set = this.groups.get(group);
      if (!set) {
        set = new Set();
        this.groups.set(group, set);
      }
      set.add(leaf);
    }
    list.push(c);
    this.probes.delete(leaf);
    this.addSiblings(c);
    this.addAnchors(c);
  }

  private addSiblings(c: Cluster): void {
    c.siblingKeys = this.siblingKeysOf(c.tokens, c.fingerprint);
    for (const k of c.siblingKeys) {
      let set = this.siblings.get(k);
      if (!set) {
        set = new Set();
        this.siblings.set(k, set);
      }
      set.add(c);
    }
  }

  private addAnchors(c: Cluster): void {
    c.anchors = anchorsOf(c.tokens);
    for (const a of c.anchors) {
      const k = `${c.fingerprint}${SEP}${a}`;
      let set = this.anchors.get(k);
      if (!set) {
        set = new Set();
        this.anchors.set(k, set);
      }
      set.add(c);
    }
  }

  /**
   * Remove a template from every structure, and every entry that only it kept there (an emptied
   * leaf, its branch of the lookup tree, its group entry, its `children` keys, emptied sibling and
   * anchor sets): an index holds nothing of a template it no longer has. Works from what
   * {@link index} recorded on the template (`leaf`, `path`, keys), not from its current tokens,
   * which may have changed since.
   */
  unindex(c: Cluster): void {
    if (c.leaf !== undefined) {
      const leaf = c.leaf;
      const list = this.leaves.get(leaf);
      if (list) {
        const i = list.indexOf(c);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.dropLeaf(leaf, c.path);
      }
      this.probes.delete(leaf);
      if (c.path) releaseChildren(this.children, c.path);
      c.leaf = undefined;
      c.path = undefined;
    }
    this.dropSiblings(c);
    c.siblingKeys = undefined;
    this.dropAnchors(c);
    c.anchors = undefined;
  }

  /** Forget an emptied leaf: its entry, its group's entry and its branch of the lookup tree. */
  private dropLeaf(leaf: string, path: readonly string[] | undefined): void {
    this.leaves.delete(leaf);
    if (!path) return;
    const group = groupOfRoot(path[0] as string);
    const set = this.groups.get(group);
    if (set) {
      set.delete(leaf);
      if (set.size === 0) this.groups.delete(group);
    }
    uprootLeaf(this.tree, this.roots, path);
  }

  private dropSiblings(c: Cluster): void {
    removeFromSets(this.siblings, c.siblingKeys ?? [], c);
  }

  private dropAnchors(c: Cluster): void {
    const fp = c.fingerprint;
    removeFromSets(
      this.anchors,
      (c.anchors ?? []).map((a) => `${fp}${SEP}${a}`),
      c,
    );
  }

  /**
   * For each word position i (see evidence.ts), the key of the siblings with position i left out:
   * templates that differ from each other in that word only share it.
   */
  siblingKeysOf(tokens: readonly string[], fp: string, positions?: number[]): string[] {
    const out: string[] = [];
    if (positions) positions.length = 0;
    // Each key holds every other token, so a message of n tokens costs n keys of n tokens: past
    // MAX_SIBLING_TOKENS (log lines are untrusted; one of 70,000 words stalled the miner) a message
    // takes no part in one-word sibling merging.
    if (tokens.length < 2 || tokens.length > MAX_SIBLING_TOKENS) return out;
    let constants = 0;
    for (const t of tokens) if (!t.includes(WILDCARD)) constants++;
    // The word and at least one other constant token.
    if (constants < 2) return out;
    const group = this.groupKey(fp, tokens.length);
    // Every key is `group @i`, the tokens before i, i's `key=` part, the tokens after i (each
    // after a SEP): the parts before and after are built once for all keys (see siblingKey).
    const after = this.suffixes;
    after.length = tokens.length + 1;
    after[tokens.length] = '';
    for (let j = tokens.length - 1; j >= 0; j--) after[j] = `${SEP}${tokens[j] as string}${after[j + 1] as string}`;
    let before = '';
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i] as string;
      const prefix = before;
      before = `${before}${SEP}${t}`;
      if (t.includes(WILDCARD)) continue;
      const w = constantWord(t);
      // Keywords (upper-case identifiers) are constants whatever the evidence; codes (`EUR`) aside.
      if (w !== undefined && isKeyword(w) && codeLength(w) === 0) continue;
      // A word leaves its `key=` in the key; any other token (`shard3x`) is left out whole.
      const keep = w === undefined ? '' : t.slice(0, t.length - w.length);
      out.push(`${group}${SEP}@${i}${prefix}${SEP}${keep}${SEP}${after[i + 1] as string}`);
      positions?.push(i);
    }
    after.length = 0;
    return out;
  }

  /**
   * Siblings of a message that no template takes: templates that differ from it in one word
   * only. When the words seen in that position (the siblings' and the message's) are evidence of
   * a variable (evidence.ts: enough distinct words, spread thin), returns the siblings, oldest
   * first: the message joins the oldest, whose word becomes `<*>`, and the others merge into it.
   */
  searchSiblings(tokens: readonly string[], fp: string, evidence: EvidenceRule): Cluster[] | undefined {
    const positions = this.positions;
    const keys = this.siblingKeysOf(tokens, fp, positions);
    for (let k = 0; k < keys.length; k++) {
      const set = this.siblings.get(keys[k] as string);
      if (!set) continue;
      const at = positions[k] as number;
      const mine = tokens[at] as string;
      const word = constantWord(mine) !== undefined;
      // A code (`EUR`) has siblings only among codes of its length; a word never among codes.
      const code = word ? codeOf(mine) : 0;
      const counts: number[] = [1];
      const list: Cluster[] = [];
      for (const c of set) {
        if (c.mergedInto !== undefined) continue;
        const theirs = c.tokens[at] as string;
        // A token that is not a word (`shard3x`) is a value by its shape: one sibling of the same
        // kind is evidence enough. Words need the evidence rule.
        if ((constantWord(theirs) !== undefined) !== word) continue;
        if (word && codeOf(theirs) !== code) continue;
        counts.push(c.count);
        list.push(c);
      }
      if (list.length === 0) continue;
      if (word && !isVariablePosition(counts, evidence)) continue;
      return list.sort((a, b) => a.id - b.id);
    }
    return undefined;
  }

  /**
   * The most similar template at or above the threshold (ties: more equal tokens, then the lower
   * id). A crowded leaf is first searched through its probe index, which finds every template
   * that covers the message exactly; only when none does is the whole leaf scanned, so the
   * answer is always the one a full scan would give.
   */
  search(tokens: readonly string[], fp: string, threshold: number): Cluster | undefined {
    const best = this.best;
    best.c = undefined;
    best.sim = -1;
    best.eq = -1;
    best.st = threshold;
    const crowded = this.crowded;
    crowded.length = 0;
    const found = this.found;
    found.length = 0;
    this.leavesFor(tokens, fp, found);
    for (const { key: leaf, list } of found) {
      if (list.length <= PROBE_MIN) {
        for (const c of list) this.consider(c, tokens, best);
        continue;
      }
      crowded.push(list);
      const probe = this.probeOf(leaf, list);
      for (const [j, byToken] of probe.byPosition) {
        const hits = byToken.get(tokens[j] as string);
        if (hits) for (const c of hits) this.consider(c, tokens, best);
      }
      for (const c of probe.rest) this.consider(c, tokens, best);
    }
    if (best.sim < 1) for (const list of crowded) for (const c of list) this.consider(c, tokens, best);
    const answer = best.c;
    best.c = undefined;
    found.length = 0;
    crowded.length = 0;
    return answer;
  }

  private consider(c: Cluster, tokens: readonly string[], best: Best): void {
    const t = c.tokens;
    let lit = 0;
    let eq = 0;
    for (let i = 0; i < t.length; i++) {
      const tt = t[i] as string;
      if (tt === WILDCARD) continue;
      lit++;
      const mt = tokens[i] as string;
      if (tt === mt || tokenCovers(tt, mt)) eq++;
      // Two different words: a constant each, until the evidence says otherwise (evidence.ts).
      else if (differInWord(tt, mt)) return;
    }
    const sim = lit === 0 ? (allWild(tokens) ? 1 : 0) : eq / lit;
    if (sim < best.st) return;
    if (
      sim > best.sim ||
      (sim === best.sim && (eq > best.eq || (eq === best.eq && best.c !== undefined && c.id < best.c.id)))
    ) {
      best.c = c;
      best.sim = sim;
      best.eq = eq;
    }
  }

  /**
   * The probe index of a crowded leaf: each template under its first constant token outside the
   * key positions (`position + token`); templates with none are in `rest`. Built on demand and
   * dropped whenever the leaf or one of its templates changes.
   */
  private probeOf(leaf: string, list: readonly Cluster[]): Probe {
    let probe = this.probes.get(leaf);
    if (probe) return probe;
    probe = { byPosition: new Map(), rest: [] };
    for (const c of list) {
      const offset = this.offsetOf(c.tokens);
      let at = -1;
      for (let j = 0; j < c.tokens.length; j++) {
        if (j >= offset && j < offset + this.depth) continue;
        if (!(c.tokens[j] as string).includes(WILDCARD)) {
          at = j;
          break;
        }
      }
      if (at < 0) {
        probe.rest.push(c);
        continue;
      }
      let byToken = probe.byPosition.get(at);
      if (!byToken) {
        byToken = new Map();
        probe.byPosition.set(at, byToken);
      }
      const token = c.tokens[at] as string;
      const hits = byToken.get(token);
      if (hits) hits.push(c);
      else byToken.set(token, [c]);
    }
    this.probes.set(leaf, probe);
    return probe;
  }

  /** The templates of a leaf (live ones), by leaf key. */
  leaf(key: string): readonly Cluster[] | undefined {
    return this.leaves.get(key);
  }

  /** The leaf keys of the group of `c` (same fingerprint and token count). */
  groupOf(c: Cluster): ReadonlySet<string> | undefined {
    return this.groups.get(this.groupKey(c.fingerprint, c.tokens.length));
  }

  /**
   * A template's tokens changed after its leading key positions (`lead` false): only its probe,
   * sibling keys and anchors move. Otherwise it is re-indexed whole.
   */
  update(c: Cluster, lead: boolean): void {
    if (lead) {
      this.unindex(c);
      this.index(c);
      return;
    }
    if (c.leaf !== undefined) this.probes.delete(c.leaf);
    this.dropSiblings(c);
    this.addSiblings(c);
    this.dropAnchors(c);
    this.addAnchors(c);
  }

  /** Entries per structure: all zero once every template is unindexed (tests, miner status). */
  stats(): IndexStats {
    return indexStats(this.parts());
  }

  /**
   * The index's content as sorted plain data: two indexes of the same live templates give equal
   * snapshots whatever the order of adds and removes. For tests.
   */
  snapshot(): IndexSnapshot {
    return indexSnapshot(this.parts());
  }

  private parts(): IndexParts {
    return {
      depth: this.depth,
      leaves: this.leaves,
      tree: this.tree,
      roots: this.roots,
      groups: this.groups,
      children: this.children,
      siblings: this.siblings,
      anchors: this.anchors,
      probes: this.probes,
    };
  }

  candidatesSharingAnchors(c: Cluster): Cluster[] {
    const out = new Set<Cluster>();
    for (const a of c.anchors ?? []) {
      const set = this.anchors.get(`${c.fingerprint}${SEP}${a}`);
      if (!set) continue;
      let n = 0;
      for (const other of set) {
        if (n++ > 256) break;
        out.add(other);
      }
    }
    return [...out];
  }

  /**
   * A template of another token count whose wildcards absorb the message's extra tokens (or whose
   * extra tokens the message's wildcards cover), with every constant token equal.
   */
  findAcrossLengths(tokens: readonly string[], fp: string): Cluster | undefined {
    // One anchor (see anchorsOf), so no template is met twice.
    const a = firstAnchor(tokens);
    if (a === undefined) return undefined;
    const set = this.anchors.get(`${fp}${SEP}${a}`);
    if (!set) return undefined;
    let best: Cluster | undefined;
    let n = 0;
    for (const c of set) {
      if (n++ > 256) break;
      if (c.tokens.length >= tokens.length) continue;
      if (!flexCovers(c.tokens, tokens)) continue;
      if (!best || c.id < best.id) best = c;
    }
    return best;
  }
}

/** The code length of a word token's constant word (`EUR`, `cur=EUR`: 3), 0 for other words. */
function codeOf(token: string): number {
  const w = constantWord(token);
  return w !== undefined && isKeyword(w) ? codeLength(w) : 0;
}

/** Messages longer than this (in tokens) have no sibling keys: see `siblingKeysOf`. */
export const MAX_SIBLING_TOKENS = 256;
