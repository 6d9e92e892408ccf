/**
 * Every error Dancer raises is a {@link DancerError} with a stable string `code`.
 *
 * Users (and Dancer's own code) match on `code`, never on message text. Every code is declared
 * here, once, with a one-line description; `docs/errors.md` lists the same codes and a test keeps
 * the two in step. To add a code: add it here, add a row to `docs/errors.md`.
 */
export const ERROR_CODES = {
  // configuration
  DANCER_CONFIG_NOT_FOUND: 'No dancer.yaml in the working directory and none given with --config.',
  DANCER_CONFIG_INVALID: 'dancer.yaml is not valid YAML or does not match the schema.',
  DANCER_CONFIG_ENV_MISSING: 'An environment variable named in dancer.yaml (e.g. apiKeyEnv) is not set.',
  // store
  DANCER_STORE_OPEN_FAILED: 'The SQLite database could not be opened or created.',
  DANCER_STORE_LOCKED: 'The database is locked by another writer.',
  DANCER_STORE_MIGRATION_FAILED: 'A schema migration failed; the database was left at the previous version.',
  DANCER_STORE_NEWER_SCHEMA: 'The database was written by a newer Dancer (unknown schema version).',
  DANCER_STORE_WRITE_FAILED: 'Records could not be written (disk full, read-only, I/O error).',
  DANCER_STORE_PLUGIN_FAILED: 'A batch plugin of the log writer failed; the logs were still written.',
  DANCER_NOT_FOUND: 'The requested record (pattern, fix, consultation, ...) does not exist.',
  // capture
  DANCER_CAPTURE_INPUT_FAILED: 'A capture input (file, pipe, socket) could not be read.',
  DANCER_INGEST_WORKER_FAILED:
    "`dancer ingest`'s worker thread (parse, redact, mine) failed; what was stored before stays, the rest was not stored.",
  DANCER_QUERY_INVALID: 'A search query or filter is malformed.',
  // cli
  DANCER_USAGE: 'A command was called with invalid arguments.',
  DANCER_TIME_INVALID: 'A time or duration argument could not be parsed.',
  // patterns
  DANCER_MINER_STATE_INVALID: 'The persisted miner state could not be loaded.',
  DANCER_DETECTOR_FAILED: 'The pattern detector failed to evaluate a batch or a timer tick; ingest goes on.',
  // consult
  DANCER_CONSULT_FAILED: 'A consultation failed (agent error, no outcome, or an invalid outcome).',
  DANCER_CONSULT_TIMEOUT: 'A consultation ran past its wall-clock limit and was aborted.',
  DANCER_CONSULT_ABORTED: 'A consultation was aborted (emergency stop or shutdown).',
  DANCER_BUDGET_EXCEEDED: 'A consultation, daily or hourly budget would be exceeded.',
  DANCER_AGENT_UNAVAILABLE: 'Claude Code could not be started (binary missing, no credentials).',
  DANCER_TOOL_OUT_OF_SCOPE:
    "A store tool was asked about a pattern, fix or request outside the consultation's pattern.",
  // fixes
  DANCER_GIT_FAILED: 'A git command failed.',
  DANCER_GIT_DIRTY: 'The main working tree has uncommitted changes; Dancer will not touch it.',
  DANCER_GIT_STATE: 'The repository is in a state Dancer cannot work from (detached HEAD, missing branch, ...).',
  DANCER_WORKTREE_EXISTS: 'The worktree folder or branch for a fix already exists.',
  DANCER_GIT_CONFLICT: 'A fix branch does not merge (or a merge does not revert) cleanly; nothing was changed.',
  DANCER_GATE_FAILED: 'A gate step (install, build, test, regression check) failed.',
  DANCER_POLICY_VIOLATION: 'A fix breaks the policy (protected path, size, forbidden pattern, risk).',
  DANCER_ILLEGAL_TRANSITION: 'A fix state transition that the state machine does not allow.',
  // supervise
  DANCER_SPAWN_FAILED: 'The service process could not be started.',
  DANCER_NOT_READY: 'A new worker did not pass readiness in time.',
  DANCER_WORKER_PORT_CONFLICT:
    'In socket mode the worker bound the port itself (EADDRINUSE): use mode: port, or take the socket with dancer/listen.',
  DANCER_DEPLOY_FAILED: 'A deploy or release build failed.',
  DANCER_ROLLBACK_FAILED: 'A rollback could not be completed.',
  DANCER_SMOKE_FAILED: 'A new release failed readiness or its smoke checks on a private socket; no user saw it.',
  DANCER_SUPERVISOR_UNREACHABLE: 'No running supervisor answers on the control socket.',
  DANCER_SUPERVISOR_RUNNING: 'A supervisor is already running for this service.',
  DANCER_EMERGENCY_STOP: 'Refused: the emergency stop is engaged.',
  // sandbox
  DANCER_SANDBOX_UNAVAILABLE: 'Model-written code cannot be sandboxed (bubblewrap or the sandbox user is missing).',
  DANCER_INSTALL_NETWORK_OFF:
    "The gate's install step failed without network (fixes.sandbox.installNetwork is false); set it to let install reach the network.",
  // notify
  DANCER_ZULIP_REQUEST_FAILED: 'A Zulip API request failed.',
  DANCER_ZULIP_AUTH: 'Zulip rejected the bot credentials.',
  DANCER_ZULIPRC_INVALID: 'The .zuliprc file is missing or malformed.',
  DANCER_NOT_ALLOWED: 'The user is not on the allow-list for this command.',
  // dashboard, webhooks, remote backup
  DANCER_DASHBOARD_INSECURE:
    'The dashboard would listen on a non-loopback address without a token (dashboard.tokenEnv).',
  DANCER_DASHBOARD_LISTEN_FAILED: 'The dashboard could not listen on its host and port.',
  DANCER_UNAUTHORIZED: 'A dashboard action came without the right bearer token.',
  DANCER_READ_ONLY: 'The dashboard has no token configured, so it takes no actions.',
  DANCER_WEBHOOK_FAILED: 'A webhook delivery failed (network error or a non-2xx answer); it is retried.',
  DANCER_PUSH_FAILED:
    'Pushing the dancer/* branches and dancer-before-* tags to fixes.pushRemote failed; it is retried.',
  // general
  // fleet
  DANCER_FLEET_UNAVAILABLE: 'The fleet control plane (PostgreSQL) cannot be reached; the host keeps serving locally.',
  DANCER_FLEET_MIGRATION_FAILED: 'A fleet schema migration failed, or the fleet schema is newer than this Dancer.',
  DANCER_FLEET_LEASE_LOST: "This host no longer holds a pattern's lease (it expired and another host took it).",
  DANCER_INTERNAL: 'An invariant was broken: a bug in Dancer.',
} as const satisfies Record<string, string>;

/** A stable Dancer error code, e.g. `DANCER_CONFIG_INVALID`. */
export type DancerErrorCode = keyof typeof ERROR_CODES;

/** Options for {@link DancerError}. */
export interface DancerErrorOptions {
  /** The underlying error, kept for the stack and for logs. */
  cause?: unknown;
  /** Structured facts about the failure (file, line, key, path, exit code, ...). */
  details?: Record<string, unknown>;
}

/** The one error class Dancer throws. Match on {@link DancerError.code}. */
export class DancerError extends Error {
  override readonly name = 'DancerError';
  /** Stable code from {@link ERROR_CODES}. */
  readonly code: DancerErrorCode;
  /** Structured facts about the failure. */
  readonly details: Record<string, unknown>;

  constructor(code: DancerErrorCode, message?: string, options: DancerErrorOptions = {}) {
    super(message ?? ERROR_CODES[code], options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** A JSON-friendly view, for `--json` output and the audit log. */
  toJSON(): { code: DancerErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `error` is a {@link DancerError}, optionally with the given code. */
export function isDancerError(error: unknown, code?: DancerErrorCode): error is DancerError {
  return error instanceof DancerError && (code === undefined || error.code === code);
}

/** The message of any thrown value, for reports that must not throw themselves. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
