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
 *
 * Memory is bounded by `maxTemplates` live templates: past it, the least valuable template goes
 * (template-lru.ts: least recently seen, one seen once before one seen again), with every entry
 * it had in the index and the templates merged into it. Never one with unsaved changes (its row
 * must be written first: ids handed out stay valid in the store), nor one `mustKeep` pins (a
 * pattern that triggered or has a fix). A message of an evicted shape later makes a new template.
 * Evictions are counted ({@link TemplateMiner.stats}, {@link TemplateMiner.takeEvicted}).
 */
import { DEFAULT_EVIDENCE, type EvidenceRule } from './evidence.js';
import { fingerprintFrames } from './fingerprint.js';
import { createMasker, type Masker, WILDCARD } from './masks.js';
import {
  type AddOptions,
  type AddResult,
  type Cluster,
  DEFAULT_MINER_OPTIONS,
  type MatchResult,
  type MinerOptions,
  type TemplateInfo,
} from './miner-types.js';
import { TemplateIndex } from './template-index.js';
import type { IndexStats } from './template-index-stats.js';
import { TemplateLru } from './template-lru.js';
import { covers, coversTemplate, generalize, templateParameters, tokenCovers, unionOf } from './template-match.js';
import { joinTokens } from './tokenize.js';

export { isKeyword } from './evidence.js';
export type { AddOptions, AddResult, MatchResult, MinerOptions, TemplateInfo } from './miner-types.js';
export { DEFAULT_MINER_OPTIONS } from './miner-types.js';
export { covers, flexCovers, generalize, templateRegex } from './template-match.js';

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

const SEP = '\u0001';

/** The miner's memory figures (see {@link TemplateMiner.stats}). */
export interface MinerStats {
  /** Live templates (not merged) in memory. */
  live: number;
  /** Merged templates still in memory (they leave with the template that absorbed them). */
  merged: number;
  /** Live templates that are never evicted (see `mustKeep`). */
  pinned: number;
  /** Templates evicted by this miner (since it was made). */
  evicted: number;
  /** The cap (0: none). */
  maxTemplates: number;
  /** Entries of the index's structures. */
  index: IndexStats;
}

/** The online template miner. See the module comment. */
export class TemplateMiner {
  private readonly masker: Masker;
  private readonly st: number;
  private readonly maxFrames: number;
  private readonly cacheSize: number;
  private readonly evidence: EvidenceRule;
  private readonly clusters = new Map<number, Cluster>();
  /** Where templates are found (updated in place as templates change). */
  private readonly idx: TemplateIndex;
  private nextId = 1;
  private readonly dirty = new Set<number>();
  private readonly rawCache = new Map<string, Cluster>();
  private readonly maskedCache = new Map<string, Cluster>();
  private readonly scratch: string[] = [];
  private readonly maxTemplates: number;
  private readonly mustKeep: ((id: number) => boolean) | undefined;
  private readonly lru = new TemplateLru();
  private live = 0;
  private pinned = 0;
  private evicted = 0;
  private evictedUntaken = 0;
  /** Restored merged templates whose target is not restored yet: target id → their ids. */
  private readonly orphans = new Map<number, number[]>();

  constructor(options: MinerOptions = {}) {
    this.maxTemplates = options.maxTemplates ?? DEFAULT_MINER_OPTIONS.maxTemplates;
    this.mustKeep = options.mustKeep;
    this.masker = createMasker(options.masks);
    this.st = options.similarityThreshold ?? DEFAULT_MINER_OPTIONS.similarityThreshold;
    this.idx = new TemplateIndex(
      options.depth ?? DEFAULT_MINER_OPTIONS.depth,
      options.maxChildren ?? DEFAULT_MINER_OPTIONS.maxChildren,
    );
    this.maxFrames = options.maxFrames ?? DEFAULT_MINER_OPTIONS.maxFrames;
    this.cacheSize = options.cacheSize ?? DEFAULT_MINER_OPTIONS.cacheSize;
    this.evidence = { ...DEFAULT_EVIDENCE, ...options.evidence };
  }

  /** Mask and tokenise a message as the miner sees it. */
  tokens(message: string): string[] {
    return this.masker.tokens(message);
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
    const caching = this.cacheSize > 0;
    const rawKey = !caching ? '' : fp === '' ? message : `${fp}${SEP}${message}`;
    let cluster = caching ? this.rawCache.get(rawKey) : undefined;
    if (cluster) {
      this.seen(cluster, opts?.ts);
      this.lastCreated = false;
      this.lastChanged = false;
      return cluster;
    }
    // One array for every message: the index and the answer caches read it, a new template copies it.
    const tokens = this.masker.tokensInto(message, this.scratch);
    // The search sees the tokens only, so they are the key: messages that differ in whitespace
    // alone share an answer.
    const maskedKey = !caching ? '' : fp === '' ? tokens.join(' ') : `${fp}${SEP}${tokens.join(' ')}`;
    cluster = caching ? this.maskedCache.get(maskedKey) : undefined;
    if (cluster) {
      this.remember(rawKey, maskedKey, cluster);
      this.seen(cluster, opts?.ts);
      this.lastCreated = false;
      this.lastChanged = false;
      return cluster;
    }
    cluster = this.idx.search(tokens, fp, this.st);
    let siblings: Cluster[] | undefined;
    if (!cluster) {
      siblings = this.idx.searchSiblings(tokens, fp, this.evidence);
      cluster = siblings?.[0];
    }
    let created = false;
    let changed = false;
    // Most messages fit their template as it is: then there is nothing to absorb.
    let fits = false;
    if (cluster) {
      fits = covers(cluster.tokens, tokens);
      // A template of another length that covers the message beats generalising this one.
      if (!fits) cluster = this.idx.findAcrossLengths(tokens, fp) ?? cluster;
    }
    if (cluster) {
      changed = fits ? false : this.absorb(cluster, tokens);
      if (siblings) {
        // The word position became a variable: the other siblings are that template now.
        for (const other of siblings) {
          const keep = this.resolve(cluster.id) as Cluster;
          if (other === keep || other.mergedInto !== undefined || !covers(keep.tokens, other.tokens)) continue;
          const [k, gone] = other.id < keep.id ? [other, keep] : [keep, other];
          if (k !== keep) {
            k.tokens = [...keep.tokens];
            k.text = undefined;
            this.idx.unindex(k);
            this.idx.index(k);
          }
          this.mergeInto(gone, k);
        }
        changed = true;
      }
    } else {
      cluster = this.idx.findAcrossLengths(tokens, fp);
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
    if (created) this.enforceCap();
    this.lastCreated = created;
    this.lastChanged = changed;
    return cluster;
  }

  private seen(cluster: Cluster, ts: number | undefined): void {
    cluster.count++;
    this.lru.touch(cluster);
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
    for (const leaf of this.idx.leafKeysFor(tokens, fp)) {
      for (const c of this.idx.leaf(leaf) ?? []) {
        if (covers(c.tokens, tokens) && (!best || c.id < best.id)) best = c;
      }
    }
    best ??= this.idx.findAcrossLengths(tokens, fp);
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
   * undefined when the message does not fit the template (or the template is not in memory).
   * A very long template is read word by word (see `templateParameters`), never by a regex too
   * large to build.
   */
  parametersOf(message: string, templateId: number): string[] | undefined {
    const c = this.resolve(templateId);
    if (!c) return undefined;
    const text = this.text(c);
    if (c.paramReText !== text) {
      c.paramRe = undefined;
      c.paramReText = text;
    }
    return templateParameters(c, message);
  }

  /** Memory figures: live, merged and pinned templates, evictions, the index's entries. */
  stats(): MinerStats {
    return {
      live: this.live,
      merged: this.clusters.size - this.live,
      pinned: this.pinned,
      evicted: this.evicted,
      maxTemplates: this.maxTemplates,
      index: this.idx.stats(),
    };
  }

  /** Templates evicted since the last call (the store adds them to its running total). */
  takeEvicted(): number {
    const n = this.evictedUntaken;
    this.evictedUntaken = 0;
    return n;
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
    if (c.mergedInto === undefined) {
      this.idx.index(c);
      this.live++;
      this.lru.add(c);
    } else {
      const into = this.clusters.get(c.mergedInto);
      if (into) addAbsorbed(into, [c.id]);
      else this.orphans.set(c.mergedInto, [...(this.orphans.get(c.mergedInto) ?? []), c.id]);
    }
    const orphans = this.orphans.get(c.id);
    if (orphans) {
      addAbsorbed(c, orphans);
      this.orphans.delete(c.id);
    }
    if (c.id >= this.nextId) this.nextId = c.id + 1;
    this.rawCache.clear();
    this.maskedCache.clear();
  }

  /**
   * New template ids start above `id` (a store that did not load every template it holds: an id
   * in the store is never given to another template).
   */
  reserveIds(id: number): void {
    if (id >= this.nextId) this.nextId = id + 1;
  }

  // ---- internals -------------------------------------------------------------------------

  /** Evict the least valuable templates while there are more live ones than the cap. */
  private enforceCap(): void {
    if (this.maxTemplates <= 0) return;
    while (this.live > this.maxTemplates) {
      const c = this.lru.victim((x) => this.dirty.has(x.id));
      if (!c) return; // every candidate has unsaved changes: after the next save
      if (this.mustKeep?.(c.id)) {
        this.pin(c);
        continue;
      }
      this.evict(c);
    }
  }

  private pin(c: Cluster): void {
    this.lru.remove(c);
    c.pinned = true;
    this.pinned++;
  }

  /** Forget a live template: its index entries and the templates merged into it. */
  private evict(c: Cluster): void {
    this.idx.unindex(c);
    this.lru.remove(c);
    this.live--;
    const stack = [c];
    for (let x = stack.pop(); x !== undefined; x = stack.pop()) {
      this.clusters.delete(x.id);
      for (const id of x.absorbed ?? []) {
        const y = this.clusters.get(id);
        if (y) stack.push(y);
      }
    }
    this.evicted++;
    this.evictedUntaken++;
  }

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
      if (i <= this.idx.depth) lead = true;
    }
    if (!changed) return false;
    c.text = undefined;
    this.idx.update(c, lead);
    this.mergeCovered(c);
    return true;
  }

  private create(tokens: readonly string[], fp: string, ts: number | undefined): Cluster {
    const c: Cluster = { id: this.nextId++, tokens: [...tokens], tokenCount: tokens.length, fingerprint: fp, count: 0 };
    if (ts !== undefined) {
      c.firstSeen = ts;
      c.lastSeen = ts;
    }
    this.clusters.set(c.id, c);
    this.idx.index(c);
    this.live++;
    this.lru.add(c);
    return c;
  }

  /**
   * Merge into `c` every other live template it covers (same fingerprint; same length with every
   * constant token equal, or another length that `c`'s wildcards absorb). Returns true if any.
   */
  private mergeCovered(c: Cluster): boolean {
    let merged = false;
    for (const other of this.idx.candidatesSharingAnchors(c)) {
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
        this.idx.unindex(keep);
        this.idx.index(keep);
      }
      this.mergeInto(gone, keep);
      merged = true;
      if (keep !== c) return this.mergeCovered(keep) || merged;
    }
    // Same-length templates that c covers but that share no anchor (all-wildcard leading part).
    const group = this.idx.groupOf(c);
    if (group && this.idx.key(c.tokens[0]) === '*' && group.size <= 64) {
      for (const leaf of group) {
        for (const other of [...(this.idx.leaf(leaf) ?? [])]) {
          if (other === c || !covers(c.tokens, other.tokens)) continue;
          const [keep, gone] = other.id < c.id ? [other, c] : [c, other];
          if (keep !== c) {
            keep.tokens = [...c.tokens];
            keep.text = undefined;
            this.idx.unindex(keep);
            this.idx.index(keep);
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
    this.idx.unindex(gone);
    this.lru.remove(gone);
    this.live--;
    addAbsorbed(keep, [gone.id]);
    if (gone.pinned) {
      // What the pinned template stood for is the kept one now.
      gone.pinned = undefined;
      this.pinned--;
      if (!keep.pinned) this.pin(keep);
    }
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
    this.lru.touch(keep);
  }
}

function addAbsorbed(c: Cluster, ids: readonly number[]): void {
  if (c.absorbed) c.absorbed.push(...ids);
  else c.absorbed = [...ids];
}
