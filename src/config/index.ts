export {
  CONFIG_FILE_NAMES,
  type ConfigProblem,
  type LoadConfigOptions,
  type LoadedConfig,
  loadConfig,
  parseConfigText,
  readSecretFromEnv,
} from './load.js';
export { configSchema, type DancerConfig, type DancerConfigInput } from './schema/index.js';
