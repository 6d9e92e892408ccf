/**
 * One consultation, end to end: budget check, brief, then either a Claude Code run in the
 * worktree (transcript and ledger stored as it goes) or a manual bundle. The fix pipeline calls
 * {@link runConsultation}; it resolves with one {@link ConsultationResult} shape whatever happened.
 */
import path from 'node:path';
import type { ConsultConfig } from '../config/index.js';
import { fixesSchema, type SandboxConfig } from '../config/index.js';
import type { DancerErrorCode } from '../errors.js';
import { git } from '../process/index.js';
import { resolveSandbox, type Sandbox } from '../sandbox/index.js';
import type { Db } from '../store/index.js';
import { type AgentRunResult, runAgent } from './agent-runner.js';
import { type Brief, buildBrief } from './brief.js';
import { decideMode, type ManualReason, runLimits } from './budget.js';
import { writeBundle } from './bundle.js';
import type { Outcome } from './outcome.js';
import { systemPrompt } from './prompts.js';
import { createRedactor, newBoundary, type Redactor } from './redact.js';
import {
  finishConsultation,
  insertConsultation,
  insertLedger,
  type LedgerEntry,
  setBundleDir,
  spendSince,
  transcriptWriter,
} from './store.js';
import { estimateTokens } from './tokens.js';
import { STORE_TOOL_NAMES, sdkStoreTools } from './tools/sdk.js';
import type { ConsultPolicy, ConsultReads, ConsultTrigger } from './types.js';

/** Options of {@link runConsultation}. */
export interface RunConsultationOptions {
  /** The store (read for the brief and tools; consultations, transcript and ledger written). */
  db: Db;
  /** What fired. Needed unless `brief` is given. */
  trigger?: ConsultTrigger | undefined;
  /** A brief built elsewhere (text used as-is after redaction). */
  brief?: string | undefined;
  /** The git worktree the agent works in. */
  worktree: string;
  policy: ConsultPolicy;
  /** The `consult:` section of dancer.yaml. */
  config: ConsultConfig;
  /** Emergency stop or shutdown. */
  signal?: AbortSignal | undefined;
  /** Appended to the brief (e.g. the gate failure a repair round must address). */
  extraContext?: string | undefined;
  /** The fence boundary, when `extraContext` fences text with it (default: a fresh CSPRNG one). */
  boundary?: string | undefined;
  /** Absolute bundle folder (default: `config.bundleDir` against the cwd). */
  bundleDir?: string | undefined;
  /** Absolute path of the database, for the bundle's `dancer mcp` config. */
  dbPath?: string | undefined;
  /** Where to read `config.apiKeyEnv` (default `process.env`). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Clock (default `Date.now`). */
  now?: (() => number) | undefined;
  /** Earlier fixes and metrics for the brief and the tools (heal's `consultReads()`). */
  reads?: ConsultReads | undefined;
  /** Extra variables for Claude Code (tests: `CLAUDE_CODE_MAX_RETRIES`). */
  extraEnv?: Record<string, string> | undefined;
  /** Force manual mode (e.g. `dancer consult --manual`). */
  forceManual?: boolean | undefined;
  /** Where Bash commands run (default: `sandboxConfig` resolved when Bash is allowed). */
  sandbox?: Sandbox | undefined;
  /** `fixes.sandbox` from dancer.yaml (default: the schema's default, bubblewrap). */
  sandboxConfig?: SandboxConfig | undefined;
  /** Dancer's own paths hidden from Bash commands (state folder, worktree base); the store and the repository's .git always are. */
  hide?: readonly string[] | undefined;
}

/** Dancer's paths hidden from the agent's Bash commands: `options.hide`, the store's files, the repository's .git. */
async function hiddenPaths(options: RunConsultationOptions): Promise<string[]> {
  const dbFile = options.dbPath ?? (options.db.name && options.db.name !== ':memory:' ? options.db.name : undefined);
  const gitDir = await git(options.worktree, ['rev-parse', '--path-format=absolute', '--git-common-dir'], {
    allowFail: true,
  });
  const hide = [
    ...(options.hide ?? []),
    ...(dbFile ? [dbFile, `${dbFile}-wal`, `${dbFile}-shm`, `${dbFile}-journal`].map((f) => path.resolve(f)) : []),
    ...(gitDir.exitCode === 0 && gitDir.stdout ? [gitDir.stdout.trim()] : []),
  ];
  return hide;
}

/**
 * The sandbox and hidden paths for the agent's Bash commands (no sandbox when Bash is not
 * allowed), and Claude Code's own network namespace (none only with `fixes.sandbox: none`).
 */
async function bashSandbox(
  options: RunConsultationOptions,
): Promise<{ sandbox?: Sandbox | undefined; hide: string[]; jail?: { bwrap: string } | undefined }> {
  const hide = await hiddenPaths(options);
  const sandbox =
    options.sandbox ?? resolveSandbox({ config: options.sandboxConfig ?? fixesSchema.parse({}).sandbox, hide: [] });
  const jail = sandbox.bwrap ? { bwrap: sandbox.bwrap } : undefined;
  if (options.config.allowedCommands.length === 0) return { hide, jail };
  return { sandbox, hide, jail };
}

/** Token and cost figures of a consultation (zeros for manual ones). */
export interface ConsultationUsage {
  model: string | null;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
  costUsd: number;
  turns: number;
  durationMs: number;
}

/** The result of a consultation: one shape, whatever happened. */
export interface ConsultationResult {
  consultationId: number;
  /** `succeeded`: a valid outcome and a clean run; `failed`: see `error`; `manual`: see `bundle`. */
  status: 'succeeded' | 'failed' | 'manual';
  outcome: Outcome | null;
  error: { code: DancerErrorCode; message: string } | null;
  usage: ConsultationUsage;
  sessionId: string | null;
  /** Tool calls the guard refused. */
  denials: AgentRunResult['denials'];
  /** Manual mode: where the bundle is and why. */
  bundle: { dir: string; command: string; reason: ManualReason; detail: string } | null;
  /** One line for humans (the notify stage posts it). */
  notice: string;
  brief: { tokens: number; maxTokens: number };
}

const DAY = 24 * 3_600_000;
const HOUR = 3_600_000;

function zeroUsage(model: string | null): ConsultationUsage {
  return {
    model,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheCreationTokens: 0,
    costUsd: 0,
    turns: 0,
    durationMs: 0,
  };
}

/** Token and cost figures from the run's last result (tokens from `modelUsage`, which error results keep). */
export function usageFromRun(run: AgentRunResult, model: string): ConsultationUsage {
  const result = run.result as {
    total_cost_usd?: number;
    num_turns?: number;
    modelUsage?: Record<
      string,
      { inputTokens?: number; outputTokens?: number; cacheReadInputTokens?: number; cacheCreationInputTokens?: number }
    >;
  } | null;
  const usage = zeroUsage(model);
  usage.durationMs = run.durationMs;
  usage.turns = run.modelReplies;
  if (!result) return usage;
  for (const [name, m] of Object.entries(result.modelUsage ?? {})) {
    usage.model = name;
    usage.inputTokens += m.inputTokens ?? 0;
    usage.outputTokens += m.outputTokens ?? 0;
    usage.cacheReadTokens += m.cacheReadInputTokens ?? 0;
    usage.cacheCreationTokens += m.cacheCreationInputTokens ?? 0;
  }
  usage.costUsd = result.total_cost_usd ?? 0;
  // Claude Code's num_turns counts differently across releases; count the model's replies.
  usage.turns = run.modelReplies;
  return usage;
}

function failure(run: AgentRunResult): { code: DancerErrorCode; message: string } | null {
  switch (run.stop) {
    case 'timeout':
      return { code: 'DANCER_CONSULT_TIMEOUT', message: run.error ?? 'Timed out.' };
    case 'aborted':
      return { code: 'DANCER_CONSULT_ABORTED', message: run.error ?? 'Aborted.' };
    case 'spawn_failed':
      return { code: 'DANCER_AGENT_UNAVAILABLE', message: run.error ?? 'Claude Code could not start.' };
    case 'error':
    case 'no_result':
      return { code: 'DANCER_CONSULT_FAILED', message: run.error ?? 'The agent failed.' };
    case 'completed':
      if (run.outcome) return null;
      return {
        code: 'DANCER_CONSULT_FAILED',
        message:
          run.rejectedOutcomes.length > 0
            ? `No valid outcome: ${run.rejectedOutcomes.length} submission(s) rejected (${run.rejectedOutcomes.at(-1)?.join('; ')}).`
            : 'No outcome: the agent ended without calling submit_outcome.',
      };
  }
}

/** The outcome's one-line description. */
function outcomeLine(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'fix':
      return `fix (${outcome.risk} risk, confidence ${outcome.confidence}): ${outcome.summary}`;
    case 'improve_logging':
      return `improve logging: ${outcome.summary}`;
    case 'ignore':
      return `ignore: ${outcome.why}`;
    case 'escalate':
      return `escalate: ${outcome.why} (look at ${outcome.where})`;
  }
}

/** Shared setup for a run or a dry run: redactor, boundary, tools, prompts. */
export interface ConsultSetup {
  redactor: Redactor;
  boundary: string;
  toolNames: readonly string[];
  systemPrompt: string;
}

/** Build the redactor, the fence boundary and the system prompt for a consultation. */
export function consultSetup(
  config: ConsultConfig,
  policy: ConsultPolicy,
  urgent: boolean,
  boundary: string = newBoundary(),
): ConsultSetup {
  const redactor = createRedactor({
    ips: config.redact.ips,
    emails: config.redact.emails,
    patterns: config.redact.patterns,
  });
  return {
    redactor,
    boundary,
    toolNames: STORE_TOOL_NAMES,
    systemPrompt: systemPrompt({
      protectedPaths: policy.protectedPaths,
      allowedCommands: config.allowedCommands,
      storeTools: STORE_TOOL_NAMES,
      urgent,
    }),
  };
}

/** Build the brief for a consultation (used by runs, dry runs and bundles alike). */
export async function briefFor(
  options: Pick<
    RunConsultationOptions,
    'db' | 'trigger' | 'brief' | 'worktree' | 'policy' | 'config' | 'extraContext' | 'reads'
  >,
  setup: ConsultSetup,
): Promise<Brief> {
  if (options.brief !== undefined) {
    const text = setup.redactor.redact(
      options.extraContext ? `${options.brief}\n\n${options.extraContext}` : options.brief,
    );
    return {
      text,
      tokens: estimateTokens(text),
      sections: [],
      maxTokens: options.config.maxContextTokens,
      boundary: setup.boundary,
      templateId: options.trigger?.templateId ?? null,
    };
  }
  if (!options.trigger) throw new TypeError('runConsultation needs a trigger or a brief');
  return buildBrief({
    db: options.db,
    trigger: options.trigger,
    worktree: options.worktree,
    policy: options.policy,
    maxTokens: options.config.maxContextTokens,
    redactor: setup.redactor,
    boundary: setup.boundary,
    toolNames: setup.toolNames,
    allowedCommands: options.config.allowedCommands,
    extraContext: options.extraContext,
    reads: options.reads,
  });
}

/**
 * Run one consultation. Resolves with a {@link ConsultationResult} for every agent outcome
 * (failures included); rejects only on store errors or programming errors.
 */
export async function runConsultation(options: RunConsultationOptions): Promise<ConsultationResult> {
  const { db, config } = options;
  const now = options.now ?? Date.now;
  const env = options.env ?? process.env;
  const urgent = options.trigger?.urgent ?? false;
  const setup = consultSetup(config, options.policy, urgent, options.boundary);
  const brief = await briefFor(options, setup);
  const started = now();
  // Spend over the last day; model consultations started in the last hour.
  const recent = spendSince(db, started - DAY, started - HOUR);
  const apiKey = env[config.apiKeyEnv];
  const mode = options.forceManual
    ? ({ mode: 'manual', reason: 'config', detail: 'manual run requested' } as const)
    : decideMode({
        configMode: config.mode,
        hasApiKey: Boolean(apiKey),
        spentLastDayUsd: recent.costUsd,
        startedLastHour: recent.consultations,
        perDayUsd: config.budget.perDayUsd,
        perHour: config.budget.perHour,
      });
  const limits = runLimits(
    { urgent: config.urgent, routine: config.routine, perDayUsd: config.budget.perDayUsd },
    urgent,
    recent.costUsd,
  );
  const base = {
    createdAt: started,
    triggerId: options.trigger?.id,
    triggerKind: options.trigger?.kind,
    templateId: brief.templateId ?? undefined,
    urgent,
    worktree: options.worktree,
    model: config.model,
    brief: brief.text,
    briefTokens: brief.tokens,
  };

  if (mode.mode === 'manual') {
    const id = insertConsultation(db, { ...base, mode: 'manual', status: 'manual', manualReason: mode.reason });
    const bundle = writeBundle({
      dir: options.bundleDir ?? path.resolve(config.bundleDir),
      consultationId: id,
      brief: brief.text,
      systemPrompt: setup.systemPrompt,
      worktree: options.worktree,
      dbPath: options.dbPath ?? db.name,
      model: config.model,
      maxTurns: limits.maxTurns,
      maxBudgetUsd: urgent ? config.urgent.maxBudgetUsd : config.routine.maxBudgetUsd,
      allowedCommands: config.allowedCommands,
      toolNames: setup.toolNames,
      reason: mode.detail,
      protectedPaths: options.policy.protectedPaths,
      sandbox: options.sandboxConfig ?? fixesSchema.parse({}).sandbox,
      hide: await hiddenPaths(options),
    });
    setBundleDir(db, id, bundle.dir);
    insertLedger(db, { ...ledgerOf(id, now(), zeroUsage(config.model)), outcome: 'manual' });
    return {
      consultationId: id,
      status: 'manual',
      outcome: null,
      error: null,
      usage: zeroUsage(config.model),
      sessionId: null,
      denials: [],
      bundle: { dir: bundle.dir, command: `sh ${bundle.runScript}`, reason: mode.reason, detail: mode.detail },
      notice: `Consultation ${id} needs a human (${mode.detail}): run sh ${bundle.runScript}`,
      brief: { tokens: brief.tokens, maxTokens: brief.maxTokens },
    };
  }

  const bash = await bashSandbox(options);
  const id = insertConsultation(db, { ...base, mode: 'auto', status: 'running' });
  const store = transcriptWriter(db, id, now);
  const run = await runAgent({
    prompt: brief.text,
    systemPrompt: setup.systemPrompt,
    worktree: options.worktree,
    model: config.model,
    maxTurns: limits.maxTurns,
    maxBudgetUsd: limits.maxBudgetUsd > 0 ? limits.maxBudgetUsd : undefined,
    timeoutMs: limits.timeoutMs,
    signal: options.signal,
    protectedPaths: options.policy.protectedPaths,
    allowedCommands: config.allowedCommands,
    tools: await sdkStoreTools(db, setup.redactor, now, { templateId: brief.templateId }, options.reads),
    redactor: setup.redactor,
    apiKey,
    // Like Claude Code itself, Dancer honours ANTHROPIC_BASE_URL (a gateway, the model server).
    baseUrl: config.baseUrl ?? (env.ANTHROPIC_BASE_URL || undefined),
    runDir: config.runDir,
    claudePath: config.claudePath,
    extraEnv: options.extraEnv,
    sandbox: bash.sandbox,
    hide: bash.hide,
    jail: bash.jail,
    onMessage: store,
  });
  const error = failure(run);
  const usage = usageFromRun(run, config.model);
  const finishedAt = now();
  const status = error ? 'failed' : 'succeeded';
  db.transaction(() => {
    finishConsultation(db, id, {
      finishedAt,
      status,
      outcome: run.outcome,
      errorCode: error?.code ?? null,
      error: error?.message ?? null,
      sessionId: run.sessionId,
    });
    insertLedger(db, {
      ...ledgerOf(id, finishedAt, usage),
      durationApiMs: (run.result as { duration_api_ms?: number } | null)?.duration_api_ms ?? null,
      modelUsage: ((run.result as { modelUsage?: Record<string, unknown> } | null)?.modelUsage ?? null) as Record<
        string,
        unknown
      > | null,
      outcome: error ? 'failed' : (run.outcome?.kind ?? 'failed'),
    });
  })();
  return {
    consultationId: id,
    status,
    outcome: run.outcome,
    error,
    usage,
    sessionId: run.sessionId,
    denials: run.denials,
    bundle: null,
    notice: error
      ? `Consultation ${id} failed: ${error.message}`
      : `Consultation ${id}: ${outcomeLine(run.outcome as Outcome)} ($${usage.costUsd.toFixed(4)}, ${usage.turns} turns)`,
    brief: { tokens: brief.tokens, maxTokens: brief.maxTokens },
  };
}

function ledgerOf(id: number, ts: number, usage: ConsultationUsage): LedgerEntry {
  return {
    consultationId: id,
    ts,
    model: usage.model,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    cacheReadTokens: usage.cacheReadTokens,
    cacheCreationTokens: usage.cacheCreationTokens,
    costUsd: usage.costUsd,
    modelUsage: null,
    turns: usage.turns,
    durationMs: usage.durationMs,
    durationApiMs: null,
    outcome: 'failed',
  };
}
