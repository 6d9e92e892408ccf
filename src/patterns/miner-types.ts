/**
 * The miner's types: its options and answers (public), and a template's internal record
 * (`Cluster`, shared by the miner and its index). No logic.
 */
import { MINER_DEFAULTS } from '../defaults.js';
import type { EvidenceRule } from './evidence.js';
import type { MaskConfig } from './masks.js';

export interface MinerOptions {
  /** Share of a template's constant tokens a message must match to join it. Default in {@link DEFAULT_MINER_OPTIONS}. */
  similarityThreshold?: number;
  /** Leading tokens used as index keys. Default in {@link DEFAULT_MINER_OPTIONS}. */
  depth?: number;
  /** Distinct values per index position before new ones go under `*`. Default in {@link DEFAULT_MINER_OPTIONS} (no limit in practice: a leaf costs one map entry). */
  maxChildren?: number;
  /** Which masks run (see masks.ts). */
  masks?: MaskConfig;
  /** In-application stack frames that make up the fingerprint. Default in {@link DEFAULT_MINER_OPTIONS}. */
  maxFrames?: number;
  /**
   * Entries in each of the two answer caches (raw and masked message → template); 0 turns them
   * off. Answers only, never state: a cache is cleared whenever a template changes. Default 100000.
   */
  cacheSize?: number;
  /**
   * Live templates kept in memory; past it the least valuable saved template is evicted (see
   * miner.ts). 0: no limit. Default in {@link DEFAULT_MINER_OPTIONS}.
   */
  maxTemplates?: number;
  /**
   * Asked before a template is evicted; true keeps it for good (pinned): a template that
   * triggered, is being fixed, was fixed or ignored keeps its id. The store answers it
   * (template-store.ts).
   */
  mustKeep?: (templateId: number) => boolean;
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

/** A template as the miner and its index hold it (internal; see {@link TemplateInfo}). */
export interface Cluster {
  id: number;
  tokens: string[];
  tokenCount: number;
  fingerprint: string;
  count: number;
  firstSeen?: number;
  lastSeen?: number;
  mergedInto?: number;
  leaf?: string;
  /** The leaf's path in the index (root key, then one key per level), as indexed. */
  path?: string[];
  /** Eviction order (template-lru.ts): the list it is in (1 probation, 2 main), its neighbours. */
  lru?: 1 | 2;
  lruPrev?: Cluster;
  lruNext?: Cluster;
  /** Never evicted (see MinerOptions.mustKeep). */
  pinned?: boolean;
  /** Ids of the templates merged into this one (they leave memory with it). */
  absorbed?: number[];
  anchors?: string[];
  siblingKeys?: string[];
  text?: string;
  paramRe?: RegExp;
  paramReText?: string;
}

/** The defaults of {@link MinerOptions}. */
export const DEFAULT_MINER_OPTIONS = Object.freeze({
  // The settings dancer.yaml may change take their defaults from the one source, the config schema.
  ...MINER_DEFAULTS,
  cacheSize: 100_000,
});
