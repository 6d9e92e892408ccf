/**
 * Plain values that the config schema and the stages share, in a module with no dependencies, so
 * that a command that needs only them (`dancer mine` without a dancer.yaml) does not load zod and
 * the whole schema. src/config re-exports them; the schema builds its enums and defaults on them.
 */

/** The file names `dancer` looks for in the working directory when no `--config` is given. */
export const CONFIG_FILE_NAMES = ['dancer.yaml', 'dancer.yml'] as const;

/**
 * The names of the built-in masks, in the order they run (src/patterns/masks.ts implements one
 * mask per name). The one list: the schema's enum, the masker and docs/patterns-miner.md use it.
 */
export const BUILTIN_MASK_NAMES = [
  'quoted',
  'size',
  'timestamp',
  'url',
  'email',
  'uuid',
  'ipv6',
  'hostport',
  'ipv4',
  'path',
  'keyvalue',
  'hex',
  'bool',
  'numbers',
] as const;

/**
 * The defaults of `patterns.miner` (the miner's settings that `dancer.yaml` may change): the one
 * source for the schema's defaults and the miner's own (`DEFAULT_MINER_OPTIONS` in src/patterns).
 */
export const MINER_DEFAULTS = Object.freeze({
  similarityThreshold: 0.7,
  depth: 2,
  maxChildren: 1_000_000,
  maxFrames: 3,
  maxTemplates: 10_000,
});
