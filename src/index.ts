/**
 * `dancer`: the entry points a user scripts. Load the config, open the store and query or search
 * the logs, mine templates, run retention, and start a supervisor (`dancer run` as a function).
 * The scripted model server and the Zulip test server live in `dancer/testing`; the app-side
 * helpers in `dancer/pino`, `dancer/context` and `dancer/listen`.
 *
 * Nothing here loads the Agent SDK, the MCP SDK or the CLI: `startHealing` imports the healing
 * loop only when called.
 */

// capture: parse a line as dancer ingest does
export { type ParsedLine, type ParseOptions, parseLine } from './capture/index.js';

// config
export {
  CONFIG_FILE_NAMES,
  configSchema,
  type DancerConfig,
  type DancerConfigInput,
  type LoadConfigOptions,
  type LoadedConfig,
  loadConfig,
  parseConfigText,
} from './config/index.js';
// errors
export { DancerError, type DancerErrorCode, ERROR_CODES, errorMessage, isDancerError } from './errors.js';
// supervise: `dancer run` as a function, the supervisor, status
export { type CrashReport, type RunningService, type RunServiceOptions, runService } from './heal/index.js';
// patterns: mining templates, reading them back
export {
  type AddResult,
  createMasker,
  DEFAULT_MINER_OPTIONS,
  Detector,
  type DetectorOptions,
  listTemplates,
  type MinerOptions,
  minerOptionsFromConfig,
  minerPlugin,
  type TemplateInfo,
  TemplateMiner,
  type TemplateRow,
  TemplateStore,
  type TriggerEvent,
  templateById,
} from './patterns/index.js';
// store: open, query, search, write, retention
export {
  type Db,
  type ErrorGroup,
  errorGroups,
  type FollowOptions,
  followLogs,
  iterateLogs,
  LEVELS,
  type LenientSearch,
  type LevelName,
  type LogFilter,
  type LogRecord,
  type LogStats,
  LogWriter,
  type LogWriterOptions,
  levelName,
  listLogs,
  logStats,
  logToJson,
  type OpenStoreOptions,
  openStore,
  type PruneOptions,
  type PruneResult,
  parseTimeArg,
  pruneLogs,
  type RetentionPolicy,
  retentionPolicyFromConfig,
  type StoredLog,
  searchLogs,
  searchLogsLenient,
} from './store/index.js';
export {
  type Alert,
  type StatusReport,
  Supervisor,
  type SupervisorOptions,
  statusFromStore,
} from './supervise/index.js';

import type { LoadedConfig } from './config/index.js';
import type { Healing, RunningService } from './heal/index.js';

/**
 * What `dancer run` adds to a running service: the healing loop (consultations, fixes, deploys)
 * and the Zulip bot when configured. Loads the heavy parts (Agent SDK) on first call.
 */
export async function startHealing(options: {
  running: RunningService;
  loaded: LoadedConfig;
  log?: (message: string) => void;
}): Promise<Healing> {
  const heal = await import('./heal/index.js');
  return heal.startHealing(options);
}

export type { Healing };
