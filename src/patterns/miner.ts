/**
 * The online template miner: a Drain-family parser (He et al., ICWS 2017) with the extensions
 * described in docs/patterns-miner.md. Pure and in-memory: persistence is template-store.ts.
 *
 * add(message) masks the message (masks.ts), tokenises it, and looks for the most similar template
 * with the same stack fingerprint and token count in a few leaves of a fixed-depth index keyed by
 * the leading tokens (a leading token that is a wildcard is looked up under `*` too, so a template
 * is never split by a variable first word). Above the similarity threshold the message joins the
 * template, and positions that differ become `<*>`; otherwise, before a new template is created,
 * templates of other lengths whose wildcards can absorb the extra tokens are tried (variable parts
 * that change the token count). Ids are stable: a template keeps its id as it generalises; when it
 * comes to cover another template, the other one is merged into it and records `mergedInto`.
 */
import {
  constantWord,
  DEFAULT_EVIDENCE,
  differInWord,
  type EvidenceRule,
  isKeyword,
  isVariablePosition,
} from './evidence.js';
import { fingerprintFrames } from './fingerprint.js';
import { createMasker, type MaskConfig, type Masker, WILDCARD } from './masks.js';
import {
  allWild,
  anchorsOf,
  covers,
  coversTemplate,
  flexCovers,
  generalize,
  templateRegex,
  tokenCovers,
} from './template-match.js';
import { joinTokens, tokenize } from './tokenize.js';

/** Options of a {@link TemplateMiner}; the `patterns.miner` section of `dancer.yaml`. */
export interface MinerOptions {
  /** Share of a template's constant tokens a message must match to join it. Default 0.7. */
  similarityThreshold?: number;
  /** Leading tokens used as index keys. Default 2. */
  depth?: number;
  /** Distinct values per index position before new ones go under `*`. Default 1,000,000 (no limit in practice: a leaf costs one map entry). */
  maxChildren?: number;
  /** Which masks run (see masks.ts). */
  masks?: MaskConfig;
  /** In-application stack frames that make up the fingerprint. Default 3. */
  maxFrames?: number;
  /**
   * Entries in each of the two answer caches (raw and masked message → template); 0 turns them
   * off. Answers only, never state: a cache is cleared whenever a template changes. Default 100000.
   */
  cacheSize?: number;
  /** When a word position becomes a variable (evidence.ts). Not a config key: fixed for every system. */
  evidence?: Partial<EvidenceRule>;
}

export { isKeyword } from './evidence.js';
export { covers, flexCovers, generalize, templateRegex } from './template-match.js';

/** Per-record options of {@link TemplateMiner.add}. */
export interface AddOptions {
  /** Stack frame lines (`at fn (file:1:2)`), top first; one string may hold several lines. */
  frames?: readonly string[];
  /** Time of the record (ms since epoch), for first/last seen. */
  ts?: number;
}

/** What {@link TemplateMiner.add} returns. */
export interface AddResult {
  /** The template the message now belongs to (never a merged one). */
  templateId: number;
  /** Its text, `<*>` for variable parts, tokens joined by single spaces. */
  template: string;
  /** The message's values for the template's `<*>` (computed on first read). */
  readonly parameters: string[];
  /** A new template was made for this message. */
  created: boolean;
  /** An existing template gained a `<*>` (its text changed) or absorbed another one. */
  changed: boolean;
}

/** What {@link TemplateMiner.match} returns. */
export interface MatchResult {
  templateId: number;
  template: string;
  readonly parameters: string[];
}

/** A template as the miner knows it (a snapshot; plain data). */
export interface TemplateInfo {
  id: number;
  /** Template text. */
  template: string;
  tokens: string[];
  /** Token count of the messages that created it. */
  tokenCount: number;
  /** Stack fingerprint ('' for messages without an in-application stack). */
  fingerprint: string;
  /** Messages assigned (including those of templates merged into this one). */
  count: number;
  firstSeen?: number;
  lastSeen?: number;
  /** Set when this template was merged into another one; look that one up instead. */
  mergedInto?: number;
}

interface Cluster {
  id: number;
  tokens: string[];
  tokenCount: number;
  fingerprint: string;
  count: number;
  firstSeen?: number;
  lastSeen?: number;
  mergedInto?: number;
  leaf?: string;
  anchors?: string[];
  siblingKeys?: string[];
  text?: string;
  paramRe?: RegExp;
  paramReText?: string;
}

/** An {@link AddResult} whose parameters are computed on first read. */
class Assignment implements AddResult {
  #params: string[] | undefined;
  constructor(
    private readonly miner: TemplateMiner,
    readonly templateId: number,
    readonly template: string,
    private readonly message: string,
    readonly created: boolean,
    readonly changed: boolean,
  ) {}

  get parameters(): string[] {
    this.#params ??= this.miner.parametersOf(this.message, this.templateId) ?? [];
    return this.#params;
  }

  toJSON() {
    return {
      templateId: this.templateId,
      template: this.template,
      parameters: this.parameters,
      created: this.created,
      changed: this.changed,
    };
  }
}

const STAR = '*';
/** Leaves with more templates than this are searched through a probe index first. */
const PROBE_MIN = 16;

interface Best {
  c: Cluster | undefined;
  sim: number;
  eq: number;
}

interface Probe {
  /** position → token → templates whose first constant token outside the keys is there. */
  byPosition: Map<number, Map<string, Cluster[]>>;
  rest: Cluster[];
}
const SEP = '\u0001';

/** A leaf of the lookup tree: its key in `leaves` and its templates (the same array). */
interface LeafEntry {
  key: string;
  list: Cluster[];
}
/** One level of the lookup tree: index key (a token or `*`) → next level, or the leaf at the last. */
type TreeNode = Map<string, TreeNode | LeafEntry>;

/** The defaults of {@link MinerOptions}. */
export const DEFAULT_MINER_OPTIONS = Object.freeze({
  similarityThreshold: 0.7,
  depth: 2,
  maxChildren: 1_000_000,
  maxFrames: 3,
  cacheSize: 100_000,
});

/** The online template miner. See the module comment. */
export class TemplateMiner {
  private readonly masker: Masker;
  private readonly st: number;
  private readonly depth: number;
  private readonly maxChildren: number;
  private readonly maxFrames: number;
  private readonly cacheSize: number;
  private readonly evidence: EvidenceRule;
  private readonly clusters = new Map<number, Cluster>();
  /** leaf key → clusters (live ones only). */
  private readonly leaves = new Map<string, Cluster[]>();
  /**
   * The same leaves as a tree: group + offset → first key → second key ... → leaf. search() walks
   * it with the message's own token strings (their hashes are computed once), instead of building
   * and hashing a long key string per candidate leaf; a missing branch prunes its whole subtree.
   */
  private readonly tree = new Map<string, TreeNode>();
  /** leaf key → probe index of a crowded leaf (see probeOf). */
  private readonly probes = new Map<string, Probe>();
  /** group key (fingerprint + length) → leaf keys in it. */
  private readonly groups = new Map<string, Set<string>>();
  /** group key + position → distinct keys seen there (for maxChildren). */
  private readonly children = new Map<string, Set<string>>();
  /** group + leading keys with one position left out → live clusters (variable leading words). */
  private readonly siblings = new Map<string, Set<Cluster>>();
  /** fingerprint + anchor token → live clusters, for matching across token counts. */
  private readonly anchors = new Map<string, Set<Cluster>>();
  private nextId = 1;
  private readonly dirty = new Set<number>();
  private readonly rawCache = new Map<string, Cluster>();
  private readonly maskedCache = new Map<string, Cluster>();

  constructor(options: MinerOptions = {}) {
    this.masker = createMasker(options.masks);
    this.st = options.similarityThreshold ?? DEFAULT_MINER_OPTIONS.similarityThreshold;
    this.depth = options.depth ?? DEFAULT_MINER_OPTIONS.depth;
    this.maxChildren = options.maxChildren ?? DEFAULT_MINER_OPTIONS.maxChildren;
    this.maxFrames = options.maxFrames ?? DEFAULT_MINER_OPTIONS.maxFrames;
    this.cacheSize = options.cacheSize ?? DEFAULT_MINER_OPTIONS.cacheSize;
    this.evidence = { ...DEFAULT_EVIDENCE, ...options.evidence };
  }

  /** Mask and tokenise a message as the miner sees it. */
  tokens(message: string): string[] {
    return tokenize(this.masker.mask(message));
  }

  /** The stack fingerprint for `frames` under this miner's options. */
  fingerprint(frames: readonly string[] | undefined): string {
    return fingerprintFrames(frames, { maxFrames: this.maxFrames });
  }

  /** Assign `message` to a template, learning from it. */
  add(message: string, opts?: AddOptions): AddResult {
    const cluster = this.assign(message, opts);
    return new Assignment(this, cluster.id, this.text(cluster), message, this.lastCreated, this.lastChanged);
  }

  /**
   * {@link add} for the hot path: the template id only, nothing allocated for the answer (a
   * message whose raw text was seen before costs one map lookup).
   */
  addId(message: string, opts?: AddOptions): number {
    return this.assign(message, opts).id;
  }

  private lastCreated = false;
  private lastChanged = false;

  private assign(message: string, opts: AddOptions | undefined): Cluster {
    const fp = opts?.frames ? this.fingerprint(opts?.frames) : '';
    const rawKey = fp === '' ? message : `${fp}${SEP}${message}`;
    let cluster = this.rawCache.get(rawKey);
    if (cluster) {
      this.seen(cluster, opts?.ts);
      this.lastCreated = false;
      this.lastChanged = false;
      return cluster;
    }
    const masked = this.masker.mask(message);
    const maskedKey = fp === '' ? masked : `${fp}${SEP}${masked}`;
    cluster = this.maskedCache.get(maskedKey);
    if (cluster) {
      this.remember(rawKey, maskedKey, cluster);
      this.seen(cluster, opts?.ts);
      this.lastCreated = false;
      this.lastChanged = false;
      return cluster;
    }
    const tokens = tokenize(masked);
    cluster = this.search(tokens, fp);
    let siblings: Cluster[] | undefined;
    if (!cluster) {
      siblings = this.searchSiblings(tokens, fp);
      cluster = siblings?.[0];
    }
    let created = false;
    let changed = false;
    if (cluster && !covers(cluster.tokens, tokens)) {
      // A template of another length that covers the message beats generalising this one.
      cluster = this.findAcrossLengths(tokens, fp) ?? cluster;
    }
    if (cluster) {
      changed = this.absorb(cluster, tokens);
      if (siblings) {
        // The word position became a variable: the other siblings are that template now.
        for (const other of siblings) {
          const keep = this.resolve(cluster.id) as Cluster;
          if (other === keep || other.mergedInto !== undefined || !covers(keep.tokens, other.tokens)) continue;
          const [k, gone] = other.id < keep.id ? [other, keep] : [keep, other];
          if (k !== keep) {
            k.tokens = [...keep.tokens];
            k.text = undefined;
            this.unindex(k);
            this.index(k);
          }
          this.mergeInto(gone, k);
        }
        changed = true;
      }
    } else {
      cluster = this.findAcrossLengths(tokens, fp);
      if (!cluster) {
        cluster = this.create(tokens, fp, opts?.ts);
        created = true;
        if (this.mergeCovered(cluster)) changed = true;
      }
    }
    const live = this.resolve(cluster.id) as Cluster;
    if (live !== cluster) {
      // The new or changed template was folded into an older one that now covers it.
      cluster = live;
      created = false;
      changed = true;
    }
    if (created || changed) {
      // The index changed: a cached answer may no longer be the one a search would give.
      this.rawCache.clear();
      this.maskedCache.clear();
    } else {
      this.remember(rawKey, maskedKey, cluster);
    }
    this.seen(cluster, opts?.ts);
    this.lastCreated = created;
    this.lastChanged = changed;
    return cluster;
  }

  private seen(cluster: Cluster, ts: number | undefined): void {
    cluster.count++;
    if (ts !== undefined) {
      if (cluster.firstSeen === undefined || ts < cluster.firstSeen) cluster.firstSeen = ts;
      if (cluster.lastSeen === undefined || ts > cluster.lastSeen) cluster.lastSeen = ts;
    }
    this.dirty.add(cluster.id);
  }

  /**
   * Cache an answer. Valid until the next template is created, generalised or merged: until then
   * the same (masked) message meets the same index and gets the same template from a search.
   */
  private remember(rawKey: string, maskedKey: string, cluster: Cluster): void {
    if (this.cacheSize === 0) return;
    if (this.rawCache.size >= this.cacheSize) this.rawCache.clear();
    if (this.maskedCache.size >= this.cacheSize) this.maskedCache.clear();
    this.rawCache.set(rawKey, cluster);
    this.maskedCache.set(maskedKey, cluster);
  }

  /** Find the template `message` belongs to without learning: every constant token must match. */
  match(message: string, opts: { frames?: readonly string[] } = {}): MatchResult | undefined {
    const tokens = this.tokens(message);
    const fp = opts.frames ? this.fingerprint(opts.frames) : '';
    let best: Cluster | undefined;
    for (const leaf of this.leafKeysFor(tokens, fp)) {
      for (const c of this.leaves.get(leaf) ?? []) {
        if (covers(c.tokens, tokens) && (!best || c.id < best.id)) best = c;
      }
    }
    best ??= this.findAcrossLengths(tokens, fp, false);
    if (!best) return undefined;
    const found = best;
    const miner = this;
    return {
      templateId: found.id,
      template: this.text(found),
      get parameters() {
        return miner.parametersOf(message, found.id) ?? [];
      },
    };
  }

  /** A template by id, following merges to the template that absorbed it. */
  get(id: number): TemplateInfo | undefined {
    const c = this.resolve(id);
    return c ? this.info(c) : undefined;
  }

  /** A template by id as stored, without following merges (merged ones carry `mergedInto`). */
  raw(id: number): TemplateInfo | undefined {
    const c = this.clusters.get(id);
    return c ? this.info(c) : undefined;
  }

  /** The id a template id resolves to after merges (the id itself when not merged). */
  resolveId(id: number): number | undefined {
    return this.resolve(id)?.id;
  }

  /** Every template, merged ones included (they carry `mergedInto`), by id. */
  templates(): TemplateInfo[] {
    return [...this.clusters.values()].sort((a, b) => a.id - b.id).map((c) => this.info(c));
  }

  /** Number of live (not merged) templates. */
  get size(): number {
    let n = 0;
    for (const c of this.clusters.values()) if (c.mergedInto === undefined) n++;
    return n;
  }

  /**
   * The values of `message` for the `<*>` of template `templateId` (after merges), in order, or
   * undefined when the message does not fit the template.
   */
  parametersOf(message: string, templateId: number): string[] | undefined {
    const c = this.resolve(templateId);
    if (!c) return undefined;
    const text = this.text(c);
    if (!c.paramRe || c.paramReText !== text) {
      c.paramRe = templateRegex(c.tokens);
      c.paramReText = text;
    }
    const m = c.paramRe.exec(message);
    if (!m) return undefined;
    return m.slice(1).map((v) => v ?? '');
  }

  /** Ids changed since the last {@link takeDirty} (for incremental persistence). */
  takeDirty(): number[] {
    const ids = [...this.dirty];
    this.dirty.clear();
    return ids;
  }

  /**
   * Restore a template exactly as persisted (template-store.ts). Call for every template, in any
   * order, on a fresh miner; ids stay as they were.
   */
  restore(t: TemplateInfo): void {
    const c: Cluster = {
      id: t.id,
      tokens: [...t.tokens],
      tokenCount: t.tokenCount,
      fingerprint: t.fingerprint,
      count: t.count,
      firstSeen: t.firstSeen,
      lastSeen: t.lastSeen,
      mergedInto: t.mergedInto,
    };
    this.clusters.set(c.id, c);
    if (c.mergedInto === undefined) this.index(c);
    if (c.id >= this.nextId) this.nextId = c.id + 1;
    this.rawCache.clear();
    this.maskedCache.clear();
  }

  // ---- internals -------------------------------------------------------------------------

  private resolve(id: number): Cluster | undefined {
    let c = this.clusters.get(id);
    let hops = 0;
    while (c && c.mergedInto !== undefined && hops++ < 1000) c = this.clusters.get(c.mergedInto);
    return c;
  }

  private info(c: Cluster): TemplateInfo {
    const out: TemplateInfo = {
      id: c.id,
      template: this.text(c),
      tokens: [...c.tokens],
      tokenCount: c.tokenCount,
      fingerprint: c.fingerprint,
      count: c.count,
    };
    if (c.firstSeen !== undefined) out.firstSeen = c.firstSeen;
    if (c.lastSeen !== undefined) out.lastSeen = c.lastSeen;
    if (c.mergedInto !== undefined) out.mergedInto = c.mergedInto;
    return out;
  }

  private text(c: Cluster): string {
    c.text ??= joinTokens(c.tokens);
    return c.text;
  }

  private key(token: string | undefined): string {
    if (token === undefined) return '';
    return token.includes(WILDCARD) ? STAR : token;
  }

  private groupKey(fp: string, len: number): string {
    return `${fp}${SEP}${len}`;
  }

  /**
   * Leaf keys a message may be found under. A template whose first token is a wildcard is keyed
   * by the tokens after it (offset 1), so values in the first position (an address, a time) do
   * not crowd every such template into one leaf. Each key position is exact or `*`.
   */
  private leafKeysFor(tokens: readonly string[], fp: string): string[] {
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
          seen = new Set();
          this.children.set(slot, seen);
        }
        if (!seen.has(k)) {
          if (seen.size >= this.maxChildren) k = STAR;
          else seen.add(k);
        }
      }
      path?.push(k);
      key = `${key}${SEP}${k}`;
    }
    return key;
  }

  /** Add a new leaf to the lookup tree under `path` (root key, then one key per depth level). */
  private plant(path: readonly string[], entry: LeafEntry): void {
    if (path.length < 2) return; // depth 0: search looks leaves up by key
    const root = path[0] as string;
    let node = this.tree.get(root);
    if (!node) {
      node = new Map();
      this.tree.set(root, node);
    }
    for (let i = 1; i < path.length - 1; i++) {
      const k = path[i] as string;
      let next = node.get(k) as TreeNode | undefined;
      if (!next) {
        next = new Map();
        node.set(k, next);
      }
      node = next;
    }
    node.set(path[path.length - 1] as string, entry);
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
    const group = this.groupKey(fp, tokens.length);
    const first = tokens[0] as string;
    // A one-token template is keyed at offset 0 even when that token is variable.
    if (!first.includes(WILDCARD) || tokens.length === 1) {
      const root = this.tree.get(`${group}${SEP}0`);
      if (root) this.walk(root, tokens, 0, 0, out);
    }
    if (tokens.length > 1) {
      const root = this.tree.get(`${group}${SEP}1`);
      if (root) this.walk(root, tokens, 1, 1, out);
    }
  }

  private walk(node: TreeNode, tokens: readonly string[], offset: number, i: number, out: LeafEntry[]): void {
    const k = this.key(tokens[i]);
    const last = i === offset + this.depth - 1;
    const exact = node.get(k);
    if (exact) {
      if (last) out.push(exact as LeafEntry);
      else this.walk(exact as TreeNode, tokens, offset, i + 1, out);
    }
    if (k !== STAR && k !== '') {
      const star = node.get(STAR);
      if (star) {
        if (last) out.push(star as LeafEntry);
        else this.walk(star as TreeNode, tokens, offset, i + 1, out);
      }
    }
  }

  private index(c: Cluster): void {
    const path: string[] = [];
    const leaf = this.leafKeyOf(c, path);
    c.leaf = leaf;
    let list = this.leaves.get(leaf);
    if (!list) {
      list = [];
      this.leaves.set(leaf, list);
      this.plant(path, { key: leaf, list });
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
    c.siblingKeys = this.siblingKeysOf(c.tokens, c.fingerprint);
    for (const k of c.siblingKeys) {
      let set = this.siblings.get(k);
      if (!set) {
        set = new Set();
        this.siblings.set(k, set);
      }
      set.add(c);
    }
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

  private unindex(c: Cluster): void {
    if (c.leaf !== undefined) {
      const list = this.leaves.get(c.leaf);
      if (list) {
        const i = list.indexOf(c);
        if (i >= 0) list.splice(i, 1);
      }
      this.probes.delete(c.leaf);
      c.leaf = undefined;
    }
    for (const k of c.siblingKeys ?? []) this.siblings.get(k)?.delete(c);
    c.siblingKeys = undefined;
    for (const a of c.anchors ?? []) this.anchors.get(`${c.fingerprint}${SEP}${a}`)?.delete(c);
    c.anchors = undefined;
  }

  /**
   * For each word position i (see evidence.ts), the key of the siblings with position i left out:
   * templates that differ from each other in that word only share it.
   */
  private siblingKeysOf(tokens: readonly string[], fp: string): string[] {
    const out: string[] = [];
    if (tokens.length < 2) return out;
    let constants = 0;
    for (const t of tokens) if (!t.includes(WILDCARD)) constants++;
    // The word and at least one other constant token.
    if (constants < 2) return out;
    const group = this.groupKey(fp, tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i] as string;
      if (t.includes(WILDCARD)) continue;
      const w = constantWord(t);
      // Keywords (upper-case identifiers) are constants whatever the evidence.
      if (w !== undefined && isKeyword(w)) continue;
      // A word leaves its `key=` in the key; any other token (`shard3x`) is left out whole.
      out.push(siblingKey(group, tokens, i, w === undefined ? t.length : w.length));
    }
    return out;
  }

  /**
   * Siblings of a message that no template takes: templates that differ from it in one word
   * only. When the words seen in that position (the siblings' and the message's) are evidence of
   * a variable (evidence.ts: enough distinct words, spread thin), returns the siblings, oldest
   * first: the message joins the oldest, whose word becomes `<*>`, and the others merge into it.
   */
  private searchSiblings(tokens: readonly string[], fp: string): Cluster[] | undefined {
    const keys = this.siblingKeysOf(tokens, fp);
    for (const key of keys) {
      const set = this.siblings.get(key);
      if (!set) continue;
      const at = siblingPosition(key);
      const word = constantWord(tokens[at] as string) !== undefined;
      const counts: number[] = [1];
      const list: Cluster[] = [];
      for (const c of set) {
        if (c.mergedInto !== undefined) continue;
        // A token that is not a word (`shard3x`) is a value by its shape: one sibling of the same
        // kind is evidence enough. Words need the evidence rule.
        if ((constantWord(c.tokens[at] as string) !== undefined) !== word) continue;
        counts.push(c.count);
        list.push(c);
      }
      if (list.length === 0) continue;
      if (word && !isVariablePosition(counts, this.evidence)) continue;
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
  private search(tokens: readonly string[], fp: string): Cluster | undefined {
    const best: Best = { c: undefined, sim: -1, eq: -1 };
    const crowded: Cluster[][] = [];
    const found: LeafEntry[] = [];
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
    return best.c;
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
    if (sim < this.st) return;
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

  /** Merge a message into a template of the same length; true when the template text changed. */
  private absorb(c: Cluster, tokens: readonly string[]): boolean {
    let changed = false;
    let lead = false;
    const t = c.tokens;
    for (let i = 0; i < t.length; i++) {
      const tt = t[i] as string;
      const mt = tokens[i] as string;
      if (tt === mt || tt === WILDCARD || tokenCovers(tt, mt)) continue;
      t[i] = generalize(tt, mt);
      changed = true;
      if (i <= this.depth) lead = true;
    }
    if (!changed) return false;
    c.text = undefined;
    if (c.leaf !== undefined) this.probes.delete(c.leaf);
    this.reindex(c, lead);
    this.mergeCovered(c);
    return true;
  }

  private reindex(c: Cluster, lead: boolean): void {
    if (lead) {
      this.unindex(c);
      this.index(c);
      return;
    }
    for (const k of c.siblingKeys ?? []) this.siblings.get(k)?.delete(c);
    c.siblingKeys = this.siblingKeysOf(c.tokens, c.fingerprint);
    for (const k of c.siblingKeys) {
      let set = this.siblings.get(k);
      if (!set) {
        set = new Set();
        this.siblings.set(k, set);
      }
      set.add(c);
    }
    for (const a of c.anchors ?? []) this.anchors.get(`${c.fingerprint}${SEP}${a}`)?.delete(c);
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

  private create(tokens: readonly string[], fp: string, ts: number | undefined): Cluster {
    const c: Cluster = { id: this.nextId++, tokens: [...tokens], tokenCount: tokens.length, fingerprint: fp, count: 0 };
    if (ts !== undefined) {
      c.firstSeen = ts;
      c.lastSeen = ts;
    }
    this.clusters.set(c.id, c);
    this.index(c);
    return c;
  }

  /**
   * Merge into `c` every other live template it covers (same fingerprint; same length with every
   * constant token equal, or another length that `c`'s wildcards absorb). Returns true if any.
   */
  private mergeCovered(c: Cluster): boolean {
    let merged = false;
    for (const other of this.candidatesSharingAnchors(c)) {
      if (other === c || other.mergedInto !== undefined) continue;
      // Two templates that each have `<*>` where the other has a constant (`user carol from <*>`,
      // `user <*> from laptop`): the evidence made both positions variable, so they are one.
      const union = coversTemplate(c.tokens, other.tokens) ? c.tokens : unionOf(c.tokens, other.tokens);
      if (union === undefined) continue;
      // The older template keeps its id: merge the newer into the older, taking the general text.
      const [keep, gone] = other.id < c.id ? [other, c] : [c, other];
      if (union !== c.tokens) {
        c.tokens = union;
        c.text = undefined;
      }
      if (keep !== c) {
        keep.tokens = [...c.tokens];
        keep.text = undefined;
        this.unindex(keep);
        this.index(keep);
      }
      this.mergeInto(gone, keep);
      merged = true;
      if (keep !== c) return this.mergeCovered(keep) || merged;
    }
    // Same-length templates that c covers but that share no anchor (all-wildcard leading part).
    const group = this.groups.get(this.groupKey(c.fingerprint, c.tokens.length));
    if (group && this.key(c.tokens[0]) === STAR && group.size <= 64) {
      for (const leaf of group) {
        for (const other of [...(this.leaves.get(leaf) ?? [])]) {
          if (other === c || !covers(c.tokens, other.tokens)) continue;
          const [keep, gone] = other.id < c.id ? [other, c] : [c, other];
          if (keep !== c) {
            keep.tokens = [...c.tokens];
            keep.text = undefined;
            this.unindex(keep);
            this.index(keep);
          }
          this.mergeInto(gone, keep);
          if (keep !== c) return this.mergeCovered(keep) || true;
          merged = true;
        }
      }
    }
    return merged;
  }

  private mergeInto(gone: Cluster, keep: Cluster): void {
    this.unindex(gone);
    gone.mergedInto = keep.id;
    keep.count += gone.count;
    if (gone.firstSeen !== undefined && (keep.firstSeen === undefined || gone.firstSeen < keep.firstSeen)) {
      keep.firstSeen = gone.firstSeen;
    }
    if (gone.lastSeen !== undefined && (keep.lastSeen === undefined || gone.lastSeen > keep.lastSeen)) {
      keep.lastSeen = gone.lastSeen;
    }
    this.dirty.add(gone.id);
    this.dirty.add(keep.id);
  }

  private candidatesSharingAnchors(c: Cluster): Cluster[] {
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
  private findAcrossLengths(tokens: readonly string[], fp: string, _learn = true): Cluster | undefined {
    const seen = new Set<Cluster>();
    let best: Cluster | undefined;
    for (const a of anchorsOf(tokens)) {
      const set = this.anchors.get(`${fp}${SEP}${a}`);
      if (!set) continue;
      let n = 0;
      for (const c of set) {
        if (n++ > 256) break;
        if (seen.has(c)) continue;
        seen.add(c);
        if (c.tokens.length >= tokens.length) continue;
        if (!flexCovers(c.tokens, tokens)) continue;
        if (!best || c.id < best.id) best = c;
      }
    }
    return best;
  }
}

/** The position a sibling key leaves out. */
function siblingPosition(key: string): number {
  const at = key.indexOf(`${SEP}@`);
  return Number.parseInt(key.slice(at + 2), 10);
}

/** Sibling key: the group, the position left out, and every other token. */
function siblingKey(group: string, tokens: readonly string[], at: number, wordLength: number): string {
  let key = `${group}${SEP}@${at}`;
  for (let j = 0; j < tokens.length; j++) {
    const t = tokens[j] as string;
    // The word left out; a `key=` before it stays.
    key += j === at ? `${SEP}${t.slice(0, t.length - wordLength)}${SEP}` : `${SEP}${t}`;
  }
  return key;
}

/**
 * The union of two same-length templates that are compatible (every position equal, or `<*>` in
 * one of them) and each variable where the other is not; undefined otherwise.
 */
function unionOf(a: readonly string[], b: readonly string[]): string[] | undefined {
  if (a.length !== b.length) return undefined;
  let aWild = false;
  let bWild = false;
  const out: string[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x === y) out.push(x);
    else if (x === WILDCARD || tokenCovers(x, y)) {
      aWild = true;
      out.push(x);
    } else if (y === WILDCARD || tokenCovers(y, x)) {
      bWild = true;
      out.push(y);
    } else return undefined;
  }
  return aWild && bWild ? out : undefined;
}
