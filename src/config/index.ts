export {
  CONFIG_FILE_NAMES,
  type ConfigProblem,
  type LoadConfigOptions,
  type LoadedConfig,
  loadConfig,
  parseConfigText,
  readSecretFromEnv,
} from './load.js';
export type { ConsultConfig } from './schema/consult.js';
export type { DashboardSettings } from './schema/dashboard.js';
export { type FixesConfig, fixesSchema, type PolicyConfig, type SandboxConfig } from './schema/fixes.js';
export type { FleetSettings } from './schema/fleet.js';
export { configSchema, type DancerConfig, type DancerConfigInput } from './schema/index.js';
export type { WebhookSettings, ZulipSettings } from './schema/notify.js';
export { BUILTIN_MASK_NAMES, MINER_DEFAULTS, patternsSchema, type TriggersConfig } from './schema/patterns.js';
export { serviceSchema } from './schema/service.js';
export { secretEnvNames, withheldFromService } from './secret-env.js';
