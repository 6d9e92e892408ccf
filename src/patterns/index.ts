/**
 * The patterns stage: template mining, windows, baselines, triggers and the detector. Other
 * stages import from here only.
 */
export { fingerprintFrames, parseFrame, siteFrames, type StackFrame } from './fingerprint.js';
export { BUILTIN_MASK_NAMES, type CustomMask, createMasker, type Masker, type MaskConfig, WILDCARD } from './masks.js';
export {
  type AddOptions,
  type AddResult,
  DEFAULT_MINER_OPTIONS,
  type MatchResult,
  type MinerOptions,
  type TemplateInfo,
  TemplateMiner,
} from './miner.js';
export { minerOptionsFromConfig } from './miner-config.js';
export { minerPlugin, recordFrames, type TemplateTouch, TemplateStore } from './template-store.js';
export { tokenize } from './tokenize.js';
