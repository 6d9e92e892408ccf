/**
 * The patterns stage: template mining, windows, baselines, triggers and the detector. Other
 * stages import from here only.
 */

export {
  advanceBaselines,
  type BaselineConfig,
  type BaselineState,
  ERRORS_KEY,
  type MinuteSummary,
  templateKey,
} from './baselines.js';
export { aggregateRecords, type BucketDelta, type BucketInput } from './buckets.js';
export { bucketRows, templateSeries, templateWindow } from './buckets-store.js';
export { type ActiveConsultation, type Decision, decide, explainDecision, type ReasonCode } from './decisions.js';
export {
  clearIgnore,
  decisionsForTemplate,
  ignoredRates,
  listDecisions,
  recordIgnore,
  type StoredDecision,
} from './decisions-store.js';
export {
  Detector,
  type DetectorEvents,
  type DetectorOptions,
  type RemoteCounts,
  type TriggerEvent,
} from './detector.js';
export { createPatternsPipeline, ingestPatternsStages, type PatternsPipeline } from './detector-pipeline.js';
export { loadBaselines } from './detector-store.js';
export {
  addCodeRoots,
  type CodeRoots,
  fingerprintFrames,
  parseFrame,
  type StackFrame,
  siteFrames,
} from './fingerprint.js';
export { BUILTIN_MASK_NAMES, type CustomMask, createMasker, type MaskConfig, type Masker, WILDCARD } from './masks.js';
export {
  type AddOptions,
  type AddResult,
  DEFAULT_MINER_OPTIONS,
  type MatchResult,
  type MinerOptions,
  type MinerStats,
  type TemplateInfo,
  TemplateMiner,
} from './miner.js';
export { minerOptionsFromConfig } from './miner-config.js';
export {
  decisionsForKey,
  hasTemplatesTable,
  listTemplates,
  setTemplateStatus,
  type TemplateRow,
  templateById,
  templateCountsByStatus,
  templateExamples,
  templatesById,
  withMergedIds,
} from './pattern-queries.js';
export { type PatternTextInput, patternText } from './pattern-text.js';
export {
  type DecisionHead,
  decisionsAfter,
  lastDecisionId,
  type TemplateMinute,
  type TemplatesSeenFilter,
  templateCountBetween,
  templateExists,
  templateIdentity,
  templateMinuteCounts,
  templateMinutesSince,
  templatesSeenSince,
} from './reads.js';
export { minerEvictions, minerPlugin, recordFrames, TemplateStore, type TemplateTouch } from './template-store.js';
export { tokenize } from './tokenize.js';
export {
  type CrashInput,
  type CrashRecord,
  crashTrigger,
  type Signal,
  type TemplateStatus,
  type TriggerKind,
} from './triggers.js';
export { addCounts, type BucketCounts, emptyCounts, MINUTE_MS, minuteOf } from './windows.js';
