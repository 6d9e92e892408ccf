/**
 * The agent runner (shell): one Claude Code run through the Agent SDK in a worktree, guarded by
 * hooks, ended by the `submit_outcome` tool. It stores nothing itself: every SDK message goes to
 * `onMessage` as it arrives, and the run's facts come back as one {@link AgentRunResult}.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type {
  HookCallback,
  Options,
  PostToolUseHookInput,
  PreToolUseHookInput,
  SDKMessage,
  SDKResultMessage,
  SdkMcpToolDefinition,
  SpawnedProcess,
} from '@anthropic-ai/claude-agent-sdk';
import { killGroup } from '../process/index.js';
import { type AgentJail, jailAgent, killTagged, type Sandbox } from '../sandbox/index.js';
import { agentEnv } from './env.js';
import type { GuardPolicy } from './guard.js';
import { answerToolUse } from './guard-hook.js';
import { checkOutcome, type Outcome, submitOutcomeShape } from './outcome.js';
import type { Redactor } from './redact.js';
import { AGENT_TOOLS, DISALLOWED_TOOLS, MCP_SERVER_NAME } from './tool-names.js';

export { AGENT_TOOLS, DISALLOWED_TOOLS, MCP_SERVER_NAME };

/** Options of one agent run. */
export interface AgentRunOptions {
  /** The user message: the brief. */
  prompt: string;
  /** Appended to Claude Code's preset system prompt. */
  systemPrompt: string;
  /** The worktree the agent works in (cwd). */
  worktree: string;
  /** Model id or alias, e.g. `sonnet`. */
  model: string;
  maxTurns: number;
  maxBudgetUsd?: number | undefined;
  /** Wall-clock limit; the run is aborted after it. */
  timeoutMs: number;
  /** Abort from outside (emergency stop, shutdown). */
  signal?: AbortSignal | undefined;
  /** Globs the agent may not write. */
  protectedPaths: readonly string[];
  /** Commands Bash may run; empty = Bash not offered. */
  allowedCommands: readonly string[];
  /** Extra in-process MCP tools (the store tools), served next to `submit_outcome`. */
  // biome-ignore lint/suspicious/noExplicitAny: tool definitions with different shapes share one list.
  tools?: ReadonlyArray<SdkMcpToolDefinition<any>>;
  /** Applied to every built-in tool result before the model sees it. */
  redactor: Redactor;
  /** API credential (`ANTHROPIC_API_KEY`). */
  apiKey?: string | undefined;
  /** Messages API base URL (the scripted model server in tests). */
  baseUrl?: string | undefined;
  /** Parent folder of the per-run HOME and temp folders (default: the system temp folder). */
  runDir?: string | undefined;
  /** Claude Code executable (default: the SDK's). */
  claudePath?: string | undefined;
  /** Extra environment variables for Claude Code (e.g. `CLAUDE_CODE_MAX_RETRIES`). */
  extraEnv?: Record<string, string> | undefined;
  /** Called with every SDK message, in order, as it arrives. */
  onMessage?: ((message: SDKMessage) => void) | undefined;
  /**
   * Where the agent's Bash commands run: every allowed command is rewritten to run inside this
   * sandbox (worktree writable, no network, Dancer's files hidden). Without it Bash runs as
   * Claude Code does (tests of the guard only; the consultation always passes one).
   */
  sandbox?: Sandbox | undefined;
  /** Dancer's own paths hidden from Bash commands (store, state folder, the repository's .git). */
  hide?: readonly string[] | undefined;
  /**
   * Run Claude Code itself in a network namespace of its own (bubblewrap at `bwrap`) whose only
   * way out is the model endpoint (`baseUrl`, else the Anthropic API). The consultation always
   * passes one unless `fixes.sandbox: none`.
   */
  jail?: { bwrap: string } | undefined;
  /** Called with the run's egress once it is up (tests count what it forwarded and refused). */
  onJail?: ((jail: AgentJail) => void) | undefined;
}

/** How the run stopped. */
export type AgentStop = 'completed' | 'error' | 'timeout' | 'aborted' | 'no_result' | 'spawn_failed';

/** What one run produced, whatever happened. */
export interface AgentRunResult {
  stop: AgentStop;
  /** The accepted outcome, if the agent submitted a valid one. */
  outcome: Outcome | null;
  /** Problems of rejected submissions, for the transcript reader. */
  rejectedOutcomes: string[][];
  /** The last result message. */
  result: SDKResultMessage | null;
  /** Why the run failed (null when it completed). */
  error: string | null;
  sessionId: string | null;
  /** Wall-clock duration of the run. */
  durationMs: number;
  /** Tool calls the guard refused: tool, input and reason. */
  denials: Array<{ toolName: string; toolInput: unknown; reason: string }>;
  /** Number of SDK messages seen. */
  messageCount: number;
  /** Model replies on the main thread (distinct assistant message ids): the ledger's turns. */
  modelReplies: number;
}

/** Grace for Claude Code to exit by itself once the SDK is done with it. */
const EXIT_GRACE_MS = 5000;

/**
 * Make sure the Claude Code process and its process group are gone: wait for the process to exit
 * (the SDK closes its stdin and, on abort, signals it), SIGKILL it after {@link EXIT_GRACE_MS},
 * then SIGKILL whatever is left in its group (commands it started).
 */
async function reap(child: ChildProcess | undefined, graceMs = EXIT_GRACE_MS): Promise<void> {
  if (!child?.pid) return;
  const running = () => child.exitCode === null && child.signalCode === null;
  if (running()) {
    const exited = once(child, 'exit');
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already empty.
  }
}

/** The result text of an error result: `errors[0]`, else `result`, else the subtype. */
export function resultError(result: SDKResultMessage): string {
  const r = result as { errors?: string[]; result?: string; subtype: string; terminal_reason?: string };
  const text = r.errors?.[0] ?? r.result ?? r.subtype;
  return r.terminal_reason ? `${text} (${r.subtype}, ${r.terminal_reason})` : `${text} (${r.subtype})`;
}

/**
 * Load the Agent SDK now. Its first import evaluates a large bundle in one synchronous piece
 * (measured 0.5–1.5 s of blocked event loop on a loaded 2-core machine); a fleet host does it at
 * start, before it can hold a pattern's lease, so its first consultation does not stall the
 * heartbeat that renews the lease. Later imports hit the module cache. Resolves with the time
 * the import took, ms.
 */
export async function preloadAgentSdk(): Promise<number> {
  const started = performance.now();
  await import('@anthropic-ai/claude-agent-sdk');
  return performance.now() - started;
}

/**
 * Run Claude Code once in `options.worktree`. Never throws for agent failures: a timeout, an
 * abort, an error result or a missing result are reported in {@link AgentRunResult.stop}.
 */
export async function runAgent(options: AgentRunOptions): Promise<AgentRunResult> {
  // Loaded here, not at the top: importing the consult face must not load the Agent SDK.
  const { AbortError, createSdkMcpServer, query, tool } = await import('@anthropic-ai/claude-agent-sdk');
  const started = Date.now();
  const worktree = realpathSync(options.worktree);
  const runParent = options.runDir ?? tmpdir();
  mkdirSync(runParent, { recursive: true });
  const runDir = mkdtempSync(path.join(runParent, 'dancer-run-'));
  const runTag = path.basename(runDir);
  const home = path.join(runDir, 'home');
  const tmp = path.join(runDir, 'tmp');
  mkdirSync(home);
  mkdirSync(tmp);

  let jail: AgentJail | undefined;
  if (options.jail) {
    try {
      jail = await jailAgent({ bwrap: options.jail.bwrap, baseUrl: options.baseUrl });
    } catch (error) {
      rmSync(runDir, { recursive: true, force: true });
      throw error;
    }
    options.onJail?.(jail);
  }
  // Bash commands run as the sandbox user, which must be able to write the worktree.
  const giveBack = options.sandbox?.lend([worktree]) ?? (() => {});
  let outcome: Outcome | null = null;
  const rejectedOutcomes: string[][] = [];
  const denials: AgentRunResult['denials'] = [];

  const submitOutcome = tool(
    'submit_outcome',
    'End the consultation: submit exactly one outcome (fix, ignore, escalate or improve_logging) with the fields its kind needs. Call it once, last.',
    submitOutcomeShape,
    async (args) => {
      if (outcome !== null) {
        return {
          isError: true,
          content: [
            {
              type: 'text',
              text: `An outcome (${outcome.kind}) was already accepted; it cannot be changed. Stop now.`,
            },
          ],
        };
      }
      const checked = checkOutcome(args);
      if (!checked.ok) {
        rejectedOutcomes.push(checked.problems);
        return {
          isError: true,
          content: [
            {
              type: 'text',
              text: `Outcome rejected:\n- ${checked.problems.join('\n- ')}\nFix these fields and call submit_outcome again.`,
            },
          ],
        };
      }
      outcome = checked.outcome;
      return {
        content: [
          {
            type: 'text',
            text: `Outcome accepted (${checked.outcome.kind}). Stop now: end your turn without further tool calls.`,
          },
        ],
      };
    },
  );
  const mcpTools = [submitOutcome, ...(options.tools ?? [])];
  const mcpNames = mcpTools.map((t) => `mcp__${MCP_SERVER_NAME}__${t.name}`);
  const server = createSdkMcpServer({ name: MCP_SERVER_NAME, version: '1.0.0', tools: mcpTools, alwaysLoad: true });

  const guard: GuardPolicy = {
    worktree,
    protectedPaths: options.protectedPaths,
    allowedCommands: options.allowedCommands,
    mcpTools: mcpNames,
  };
  const preToolUse: HookCallback = async (input) => {
    const pre = input as PreToolUseHookInput;
    return answerToolUse(
      { tool_name: pre.tool_name, tool_input: pre.tool_input, cwd: pre.cwd },
      guard,
      { sandbox: options.sandbox, hide: options.hide ?? [], tag: runTag },
      (toolName, toolInput, decision) => denials.push({ toolName, toolInput, reason: decision.reason }),
    );
  };
  const postToolUse: HookCallback = async (input) => {
    const post = input as PostToolUseHookInput;
    if (post.tool_name.startsWith(`mcp__${MCP_SERVER_NAME}__`)) return { continue: true };
    const redacted = options.redactor.redactDeep(post.tool_response);
    if (JSON.stringify(redacted) === JSON.stringify(post.tool_response)) return { continue: true };
    return { hookSpecificOutput: { hookEventName: 'PostToolUse', updatedToolOutput: redacted } };
  };

  const controller = new AbortController();
  let child: ChildProcess | undefined;
  let why: 'timeout' | 'aborted' | null = null;
  const timer = setTimeout(() => {
    why ??= 'timeout';
    controller.abort();
  }, options.timeoutMs);
  const onAbort = () => {
    why ??= 'aborted';
    controller.abort();
    // A stop ends everything now: Claude Code's group and the sandboxes of its Bash commands
    // (started by Claude Code in groups of their own).
    if (child?.pid) killGroup(child.pid, 'SIGKILL');
    killTagged(runTag);
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const builtins = AGENT_TOOLS.filter((t) => t !== 'Bash' || options.allowedCommands.length > 0);
  const stderrTail: string[] = [];
  const sdkOptions: Options = {
    cwd: worktree,
    model: options.model,
    tools: [...builtins],
    allowedTools: [...builtins, ...mcpNames],
    disallowedTools: [...DISALLOWED_TOOLS, ...(builtins.includes('Bash') ? [] : ['Bash'])],
    permissionMode: 'acceptEdits',
    settingSources: [],
    strictMcpConfig: true,
    persistSession: false,
    maxTurns: options.maxTurns,
    ...(options.maxBudgetUsd !== undefined ? { maxBudgetUsd: options.maxBudgetUsd } : {}),
    systemPrompt: { type: 'preset', preset: 'claude_code', append: options.systemPrompt },
    mcpServers: { [MCP_SERVER_NAME]: server },
    hooks: {
      PreToolUse: [{ hooks: [preToolUse] }],
      PostToolUse: [{ hooks: [postToolUse] }],
    },
    abortController: controller,
    env: agentEnv({
      home,
      tmpDir: tmp,
      apiKey: options.apiKey,
      baseUrl: options.baseUrl,
      extra: options.extraEnv,
    }),
    // Our own spawn: Claude Code gets its own process group, and we know its pid, so nothing of
    // the run (Claude Code or a command it started) outlives runAgent.
    spawnClaudeCodeProcess: (o) => {
      const p = jail ? jail.wrap({ command: o.command, args: o.args, env: o.env }) : o;
      const c = spawn(p.command, p.args, {
        cwd: o.cwd,
        env: p.env as NodeJS.ProcessEnv,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        ...(o.signal ? { signal: o.signal } : {}),
      });
      c.stderr?.on('data', (data: Buffer) => {
        stderrTail.push(data.toString());
        if (stderrTail.length > 50) stderrTail.shift();
      });
      c.on('error', () => {});
      child = c;
      return c as unknown as SpawnedProcess;
    },
    ...(options.claudePath ? { pathToClaudeCodeExecutable: options.claudePath } : {}),
  };

  let result: SDKResultMessage | null = null;
  let sessionId: string | null = null;
  let messageCount = 0;
  const replies = new Set<string>();
  let thrown: unknown = null;
  try {
    const q = query({ prompt: options.prompt, options: sdkOptions });
    for await (const message of q) {
      messageCount++;
      if ('session_id' in message && typeof message.session_id === 'string') sessionId = message.session_id;
      options.onMessage?.(message);
      if (message.type === 'result') result = message;
      if (message.type === 'assistant' && message.parent_tool_use_id === null) replies.add(message.message.id);
    }
  } catch (error) {
    thrown = error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    // Stopped from outside: no grace, the run (and every command it started) goes now.
    await reap(child, why === 'aborted' ? 0 : EXIT_GRACE_MS);
    killTagged(runTag);
    giveBack();
    await jail?.close();
    if (existsSync(runDir)) rmSync(runDir, { recursive: true, force: true });
  }

  let stop: AgentStop;
  let error: string | null = null;
  if (why === 'timeout') {
    stop = 'timeout';
    error = `Timed out after ${options.timeoutMs} ms.`;
  } else if (why === 'aborted') {
    stop = 'aborted';
    error = 'Aborted.';
  } else if (result?.is_error) {
    stop = 'error';
    error = resultError(result);
  } else if (result) {
    stop = 'completed';
  } else if (thrown && messageCount === 0 && !(thrown instanceof AbortError)) {
    stop = 'spawn_failed';
    const tail = stderrTail.join('').trim().slice(-2000);
    error = `Claude Code could not start: ${(thrown as Error).message ?? String(thrown)}${tail ? `\n${tail}` : ''}`;
  } else {
    stop = 'no_result';
    error = thrown
      ? `Claude Code ended without a result: ${(thrown as Error).message ?? String(thrown)}`
      : 'Claude Code ended without a result.';
  }
  return {
    stop,
    outcome,
    rejectedOutcomes,
    result,
    error,
    sessionId,
    durationMs: Date.now() - started,
    denials,
    messageCount,
    modelReplies: replies.size,
  };
}
