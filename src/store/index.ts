/**
 * The store stage: the SQLite database (open + migrations), the single log writer, retention and
 * the log queries. Other stages import from here only.
 */
export { COLLAPSE_FIELDS, sameRun } from './collapse.js';
export {
  buildClaudeDigest,
  type DigestInput,
  estimateTokens,
  recordScore,
  renderDigestGroup,
  renderDigestRecord,
} from './digest.js';
export { readDropped, recordDropped } from './dropped.js';
export { ERROR_HASH_FRAMES, errorHash } from './error-hash.js';
export { CSV_COLUMNS, csvField, csvHeader, logToCsv, logToJson, redactedLog } from './log-export.js';
export {
  type ErrorGroup,
  type ErrorGroupOptions,
  errorGroups,
  type FollowOptions,
  followLogs,
  ftsPhrase,
  iterateLogs,
  type LenientSearch,
  type LogFilter,
  type LogStats,
  lastLogId,
  listLogs,
  logStats,
  logWhere,
  SEARCH_HINT,
  searchLogs,
  searchLogsLenient,
} from './log-queries.js';
export {
  durationsBetween,
  type ErrorKind,
  errorKindsBetween,
  firstLogTsBetween,
  type LoggedAnswer,
  type LoggedPattern,
  latestErrorOfTemplate,
  loggedAnswers,
  loggedPattern,
  loggedPatterns,
  logMinuteCounts,
  newestLogsOfTemplate,
  oldestLogsOfTemplate,
  periodLogCounts,
  prepareTemplateRelink,
  requestHasTemplate,
  requestRowCount,
  type TemplateLogRow,
  templateHasLogs,
} from './log-reads.js';
export { LOG_COLUMNS, LOG_SELECT, rowToStoredLog } from './log-rows.js';
export {
  type BatchPlugin,
  COLLAPSE_MAX_SPAN_MS,
  dropReason,
  type FlushResult,
  LogWriter,
  type LogWriterOptions,
  type LogWriterStats,
  type WrittenRow,
} from './log-writer.js';
export { applyMigrations, type Db, type OpenStoreOptions, openStore, toStoreError } from './open.js';
export { type PruneOptions, type PruneResult, pruneLogs } from './prune.js';
export {
  LEVELS,
  type LevelName,
  type LogRecord,
  levelName,
  RECORD_FLAGS,
  type StoredLog,
} from './records.js';
export {
  planRetention,
  type RetentionPlan,
  type RetentionPolicy,
  type RetentionState,
  type RetentionStepResult,
  readRetentionState,
  retentionPolicyFromConfig,
  runRetentionStep,
  type ScheduleRetentionOptions,
  scheduleRetention,
} from './retention.js';
export { tableExists } from './tables.js';
export { parseDuration, parseTimeArg } from './time.js';
