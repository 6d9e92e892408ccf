/**
 * One call that wires the patterns stage into a {@link LogWriter}: the miner (loaded from the
 * store, so ids survive restarts) and the detector, as writer plugins in the right order.
 */
import type { DancerConfig } from '../config/index.js';
import type { DancerError } from '../errors.js';
import type { BatchPlugin, Db } from '../store/index.js';
import { Detector, type DetectorOptions } from './detector.js';
import type { TemplateMiner } from './miner.js';
import { minerOptionsFromConfig } from './miner-config.js';
import { minerPlugin, TemplateStore } from './template-store.js';

/** What {@link createPatternsPipeline} returns. */
export interface PatternsPipeline {
  /** Pass to `new LogWriter(db, { plugins })` (miner first, then the detector). */
  plugins: BatchPlugin[];
  detector: Detector;
  miner: TemplateMiner;
  templates: TemplateStore;
}

/**
 * Build the miner and the detector for `db` from the config. Call `detector.start()` for the
 * review timer and listen to `detector.on('trigger', ...)`.
 *
 * @throws {DancerError} `DANCER_MINER_STATE_INVALID` when the persisted templates cannot be loaded.
 */
export function createPatternsPipeline(
  db: Db,
  config: Pick<DancerConfig, 'patterns'>,
  options: Omit<DetectorOptions, 'db' | 'config'> = {},
): PatternsPipeline {
  const templates = new TemplateStore(db);
  const miner = templates.loadMiner(minerOptionsFromConfig(config));
  const detector = new Detector({ db, config: config.patterns.triggers, ...options });
  return { plugins: [minerPlugin(templates, miner), detector.plugin()], detector, miner, templates };
}

/**
 * The patterns stage for a store written without a supervisor (`dancer ingest`, the standalone
 * `dancer/pino` transport): templates are assigned at ingest exactly as under `dancer run`, and
 * the detector's decisions are stored. No consultation runs there, so none is ever active: a
 * fired decision does not hold the concurrency slot. The detector's timer (baselines, reviews)
 * runs until `close`.
 */
export function ingestPatternsStages(
  db: Db,
  config: Pick<DancerConfig, 'patterns'>,
  onError: (error: DancerError) => void,
): { plugins: BatchPlugin[]; close: () => void } {
  const pipeline = createPatternsPipeline(db, config, { activeConsultations: () => [], onError });
  pipeline.detector.start();
  return {
    plugins: pipeline.plugins,
    close: () => pipeline.detector.stop(),
  };
}
