/**
 * The consultation as the fix pipeline's `RunAgent` (src/fixes/types.ts): run in the fix
 * worktree, return the outcome, throw a DancerError with the reason when there is none. The agent's
 * contract (brief, repair context, outcome) is declared here, the stage that speaks to the agent;
 * the fix pipeline imports it.
 */
import type { ConsultConfig, SandboxConfig } from '../config/index.js';
import { DancerError } from '../errors.js';
import type { Db } from '../store/index.js';
import { type ConsultationResult, runConsultation } from './consultation.js';
import { newBoundary, quoteUntrusted } from './redact.js';
import type { ConsultPolicy, ConsultReads, ConsultTrigger } from './types.js';

/** How a consultation ended, as the fix pipeline records it (fixes re-exports it as `AgentOutcome`). */
export interface FixAgentOutcome {
  kind: 'fix' | 'ignore' | 'escalate' | 'improve_logging';
  summary?: string | undefined;
  analysis?: string | undefined;
  rootCause?: string | undefined;
  filesChanged?: string[] | undefined;
  /** Repository-relative path of the test that fails before the fix and passes after it. */
  regressionTest?: string | undefined;
  risk?: 'low' | 'medium' | 'high' | undefined;
  confidence?: number | undefined;
  /** What this agent run cost. */
  costUsd?: number | undefined;
  consultationId?: string | undefined;
  /** ignore / escalate: why. */
  why?: string | undefined;
  /** escalate: where a human should look. */
  where?: string | undefined;
  /** improve_logging: what was missing. */
  missing?: string | undefined;
}

/** What the agent is told about the fix it works on (fixes' `FixBrief` extends it). */
export interface AgentBrief {
  fixId: number;
  patternId: string;
  patternText?: string | undefined;
  consultationId?: string | undefined;
  /** The policy in force, in words, so the agent does not waste a round on it. */
  policySummary: string;
  /** Set on a retry: what happened to the previous attempt. */
  previousAttempt?:
    | {
        fixId: number;
        state: string;
        failedStep?: string | undefined;
        reason: string;
        retryReason?: string | undefined;
      }
    | undefined;
  /** Every earlier attempt at the pattern: its change (diff summary) and why it ended (rolled back because...). */
  earlierAttempts?:
    | Array<{
        fixId: number;
        state: string;
        summary?: string | undefined;
        diffSummary?: string | undefined;
        why?: string | undefined;
      }>
    | undefined;
  /** Set when a run was interrupted (a restart) and this is a second try in the same worktree. */
  resumed?: boolean | undefined;
}

/** Why the gate sent the fix back, for a repair round (fixes re-exports it as `RepairContext`). */
export interface AgentRepair {
  /** 1 for the first repair round. */
  round: number;
  failedStep: string;
  reason: string;
  outputTail: string;
}

/** Options of {@link createFixAgent}. */
export interface FixAgentOptions {
  db: Db;
  config: ConsultConfig;
  policy: ConsultPolicy;
  signal?: AbortSignal | undefined;
  /** Absolute database path (manual bundles). */
  dbPath?: string | undefined;
  /** Absolute bundle folder. */
  bundleDir?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  now?: (() => number) | undefined;
  /** The trigger behind a fix (default: a routine `new_pattern` trigger for the brief's pattern). */
  triggerFor?: ((brief: AgentBrief) => ConsultTrigger) | undefined;
  /** Called with every consultation result (ledger views, notifications). */
  onResult?: ((result: ConsultationResult) => void) | undefined;
  /** `fixes.sandbox`: where the agent's Bash commands run. */
  sandboxConfig?: SandboxConfig | undefined;
  /** Dancer's own paths hidden from Bash commands (state folder, worktree base). */
  hide?: readonly string[] | undefined;
  /** Earlier fixes and metrics for the brief and the tools (heal's `consultReads()`). */
  reads?: ConsultReads | undefined;
}

/**
 * The pipeline's context for the agent. Only Dancer's own words are outside the fence: reasons,
 * gate output and a human's retry note may echo logs or model-written code, so they are fenced
 * with the consultation's boundary, every time they appear.
 */
export function fixContext(brief: AgentBrief, repair: AgentRepair | undefined, boundary: string): string {
  const lines = [`You work on Dancer fix #${brief.fixId}. Policy: ${brief.policySummary}`];
  if (brief.previousAttempt) {
    const p = brief.previousAttempt;
    lines.push(
      `A previous attempt (fix #${p.fixId}) ended ${p.state}${p.failedStep ? ` at ${p.failedStep}` : ''}. Do not repeat it. Why it ended there${p.retryReason ? ', and why a human asked for a retry' : ''}:`,
      quoteUntrusted(
        p.retryReason ? `${p.reason}\n\nretry asked because: ${p.retryReason}` : p.reason,
        boundary,
        'previous-attempt',
      ),
    );
  }
  if (brief.earlierAttempts?.length) {
    const text = brief.earlierAttempts
      .map(
        (a) =>
          `fix #${a.fixId} (${a.state}): ${a.summary ?? 'no summary'}\n  why it ended: ${a.why ?? 'unknown'}${a.diffSummary ? `\n  its diff:\n${a.diffSummary.replace(/^/gm, '    ')}` : ''}`,
      )
      .join('\n');
    lines.push(
      `Earlier attempts at this pattern (a diff identical to a rolled-back one is refused; find a different, correct change):`,
      quoteUntrusted(text, boundary, 'earlier-attempts'),
    );
  }
  if (brief.resumed)
    lines.push(
      'A previous run in this worktree was interrupted; its changes were stashed. Start from the committed state.',
    );
  if (repair) {
    lines.push(
      `Repair round ${repair.round}: the gate step "${repair.failedStep}" failed. Fix the cause in this worktree and submit the outcome again. Why it failed, and the end of its output:`,
      quoteUntrusted(`${repair.reason}\n\n${repair.outputTail}`, boundary, 'gate-output'),
    );
  }
  return lines.join('\n');
}

/** A `RunAgent` for the fix pipeline, backed by {@link runConsultation}. */
export function createFixAgent(
  options: FixAgentOptions,
): (worktreePath: string, brief: AgentBrief, repair?: AgentRepair) => Promise<FixAgentOutcome> {
  return async (worktreePath, brief, repair) => {
    const now = options.now ?? Date.now;
    const templateId = /^\d+$/.test(brief.patternId) ? Number(brief.patternId) : undefined;
    const trigger = options.triggerFor?.(brief) ?? {
      id: `fix-${brief.fixId}${repair ? `-repair-${repair.round}` : ''}`,
      kind: 'new_pattern' as const,
      templateId,
      urgent: false,
      numbers: {},
      reason: `fix #${brief.fixId} for pattern ${brief.patternId}`,
      at: now(),
    };
    const boundary = newBoundary();
    const result = await runConsultation({
      db: options.db,
      trigger,
      worktree: worktreePath,
      policy: options.policy,
      config: options.config,
      signal: options.signal,
      extraContext: fixContext(brief, repair, boundary),
      boundary,
      dbPath: options.dbPath,
      bundleDir: options.bundleDir,
      env: options.env,
      now: options.now,
      sandboxConfig: options.sandboxConfig,
      hide: options.hide,
      reads: options.reads,
    });
    options.onResult?.(result);
    const details = { consultationId: result.consultationId, costUsd: result.usage.costUsd };
    if (result.status === 'manual') {
      throw new DancerError(
        result.bundle?.reason === 'daily_budget' || result.bundle?.reason === 'hourly_limit'
          ? 'DANCER_BUDGET_EXCEEDED'
          : 'DANCER_AGENT_UNAVAILABLE',
        result.notice,
        { details: { ...details, bundle: result.bundle } },
      );
    }
    if (result.status === 'failed' || !result.outcome) {
      const error = result.error ?? { code: 'DANCER_CONSULT_FAILED' as const, message: 'No outcome.' };
      throw new DancerError(error.code, `Consultation ${result.consultationId}: ${error.message}`, { details });
    }
    return { ...result.outcome, costUsd: result.usage.costUsd, consultationId: String(result.consultationId) };
  };
}
