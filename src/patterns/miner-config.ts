import type { DancerConfig } from '../config/index.js';
import type { MinerOptions } from './miner.js';

/** Miner options from a validated `dancer.yaml` (`patterns.masks` and `patterns.miner`). */
export function minerOptionsFromConfig(config: Pick<DancerConfig, 'patterns'>): MinerOptions {
  const { masks, miner } = config.patterns;
  return {
    similarityThreshold: miner.similarityThreshold,
    depth: miner.depth,
    maxChildren: miner.maxChildren,
    maxFrames: miner.maxFrames,
    maxTemplates: miner.maxTemplates,
    masks: { disable: masks.disable, custom: masks.custom },
  };
}
