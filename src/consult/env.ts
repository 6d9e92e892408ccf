/**
 * The environment Claude Code runs with. The Agent SDK's `env` option replaces the child's
 * environment entirely, so this builds the whole thing: nothing from Dancer's own environment
 * leaks in except what is listed here.
 */

/** Inputs for {@link agentEnv}. */
export interface AgentEnvInput {
  /** Per-run HOME (Claude Code writes ~/.claude.json and ~/.claude/** there). */
  home: string;
  /** Per-run scratch folder (CLAUDE_CODE_TMPDIR and TMPDIR). */
  tmpDir: string;
  /** PATH for Bash commands. Default: the current process's PATH. */
  path?: string | undefined;
  /** API credential, sent as `x-api-key`. */
  apiKey?: string | undefined;
  /** Other Messages API endpoint (the scripted model server in tests). */
  baseUrl?: string | undefined;
  /** Needed as root only when a bypass permission mode is used. */
  isSandbox?: boolean;
  /** Claude Code's own retry count (0 in tests that fail fast). */
  maxRetries?: number | undefined;
  /** Extra variables (e.g. `ENABLE_TOOL_SEARCH`), applied last. */
  extra?: Record<string, string> | undefined;
}

/** Variables copied from the current environment when set (locale and proxy; never credentials). */
const PASS_THROUGH = [
  'LANG',
  'LC_ALL',
  'TZ',
  'HTTPS_PROXY',
  'HTTP_PROXY',
  'NO_PROXY',
  'https_proxy',
  'http_proxy',
  'no_proxy',
];

/**
 * A hermetic environment for one Claude Code run: its own HOME and temp folders, no nonessential
 * traffic (no telemetry, no title requests), and only the listed variables.
 */
export function agentEnv(input: AgentEnvInput, current: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASS_THROUGH) {
    const value = current[name];
    if (value !== undefined && value !== '') env[name] = value;
  }
  env.PATH = input.path ?? current.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  env.HOME = input.home;
  env.CLAUDE_CODE_TMPDIR = input.tmpDir;
  env.TMPDIR = input.tmpDir;
  env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = '1';
  env.DISABLE_AUTOUPDATER = '1';
  if (input.apiKey !== undefined) env.ANTHROPIC_API_KEY = input.apiKey;
  if (input.baseUrl !== undefined) env.ANTHROPIC_BASE_URL = input.baseUrl;
  if (input.isSandbox) env.IS_SANDBOX = '1';
  if (input.maxRetries !== undefined) env.CLAUDE_CODE_MAX_RETRIES = String(input.maxRetries);
  Object.assign(env, input.extra ?? {});
  return env;
}
