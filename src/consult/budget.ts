/**
 * Budgets (pure): whether a consultation may call a model or must become a manual bundle, and
 * which per-run limits apply.
 */

/** Why a consultation became a manual bundle. */
export type ManualReason = 'config' | 'no_api_key' | 'daily_budget' | 'hourly_limit';

/** Inputs of {@link decideMode}. */
export interface ModeInput {
  configMode: 'auto' | 'manual';
  hasApiKey: boolean;
  /** Ledger spend over the last 24 hours. */
  spentLastDayUsd: number;
  /** Model consultations started in the last hour. */
  startedLastHour: number;
  perDayUsd: number;
  perHour: number;
}

/** The decision. */
export type ModeDecision = { mode: 'auto' } | { mode: 'manual'; reason: ManualReason; detail: string };

/** Decide between calling a model and writing a bundle. */
export function decideMode(input: ModeInput): ModeDecision {
  if (input.configMode === 'manual') return { mode: 'manual', reason: 'config', detail: 'consult.mode is manual' };
  if (!input.hasApiKey) return { mode: 'manual', reason: 'no_api_key', detail: 'no API key in the environment' };
  if (input.spentLastDayUsd >= input.perDayUsd) {
    return {
      mode: 'manual',
      reason: 'daily_budget',
      detail: `spent $${input.spentLastDayUsd.toFixed(4)} in the last 24 h (budget $${input.perDayUsd})`,
    };
  }
  if (input.startedLastHour >= input.perHour) {
    return {
      mode: 'manual',
      reason: 'hourly_limit',
      detail: `${input.startedLastHour} consultations in the last hour (limit ${input.perHour})`,
    };
  }
  return { mode: 'auto' };
}

/** Per-run limits. */
export interface RunLimits {
  maxTurns: number;
  maxBudgetUsd: number;
  timeoutMs: number;
}

/** The limits of one run: urgent or routine budget, capped by what is left of the daily budget. */
export function runLimits(
  budgets: {
    urgent: { maxTurns: number; maxBudgetUsd: number; timeoutSeconds: number };
    routine: { maxTurns: number; maxBudgetUsd: number; timeoutSeconds: number };
    perDayUsd: number;
  },
  urgent: boolean,
  spentLastDayUsd: number,
): RunLimits {
  const b = urgent ? budgets.urgent : budgets.routine;
  const left = Math.max(0, budgets.perDayUsd - spentLastDayUsd);
  return {
    maxTurns: b.maxTurns,
    maxBudgetUsd: Math.min(b.maxBudgetUsd, left),
    timeoutMs: Math.round(b.timeoutSeconds * 1000),
  };
}
