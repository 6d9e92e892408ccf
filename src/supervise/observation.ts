/**
 * The observation window as a pure next-step function: given the deploy, the figures measured
 * so far and the clock, what the observer does next (keep watching, extend, pass, ask a human,
 * roll back). The deployer does the I/O around it.
 */
import type { ServiceConfig } from './paths.js';
import { judgeWindow, type NewPattern, type PeriodStats, type Verdict, type VerdictThresholds } from './verdict.js';

/** `service.observe`. */
export type ObserveConfig = ServiceConfig['observe'];

/** A period to measure: [from, to) and the crashes counted in it. */
export interface Period {
  from: number;
  to: number;
}

/** The deploy as the observer sees it. */
export interface ObservedDeploy {
  startedAt: number;
  readyAt: number;
  extensions: number;
}

/** The verdict thresholds from `service.observe`. */
export function thresholdsOf(o: ObserveConfig): VerdictThresholds {
  return {
    errorRateIncrease: o.errorRateIncrease,
    minErrors: o.minErrors,
    rssIncrease: o.rssIncrease,
    rssLimitBytes: o.rssLimitMb !== undefined ? o.rssLimitMb * 1024 * 1024 : undefined,
    newPatternMin: o.newPatternMin,
    latencyIncrease: o.latencyIncrease,
    latencyMinMs: o.latencyMinMs,
    minRecords: o.minRecords,
    maxExtensions: o.maxExtensions,
  };
}

/** What bounds the baseline besides `baselineSeconds`. */
export interface BaselineBounds {
  /** When the release before the deploy started serving (time not served is not baseline). */
  servedSince?: number | undefined;
  /** When the target pattern first appeared (its rate counts from its onset). */
  targetOnset?: number | undefined;
}

/**
 * The baseline (time actually served by the previous release before the deploy started, at
 * most `baselineSeconds`), the window (since the new worker served) at `now`, and where the
 * target pattern's baseline starts (its onset, when later).
 */
export function observationPeriods(
  deploy: ObservedDeploy,
  o: ObserveConfig,
  now: number,
  bounds: BaselineBounds = {},
): { baseline: Period; window: Period; targetFrom: number } {
  const from = Math.max(deploy.startedAt - o.baselineSeconds * 1000, bounds.servedSince ?? Number.NEGATIVE_INFINITY);
  const baselineFrom = Math.min(from, deploy.startedAt);
  return {
    baseline: { from: baselineFrom, to: deploy.startedAt },
    window: { from: deploy.readyAt, to: now + 1 },
    targetFrom: Math.min(deploy.startedAt, Math.max(baselineFrom, bounds.targetOnset ?? Number.NEGATIVE_INFINITY)),
  };
}

/** Crashes in `period` among the supervisor's crash times. */
export function crashesIn(times: readonly number[], period: Period): number {
  return times.filter((t) => t >= period.from && t < period.to).length;
}

/** What the observer measured at one check. */
export interface ObservationInput {
  deploy: ObservedDeploy;
  observe: ObserveConfig;
  now: number;
  baseline: PeriodStats;
  window: PeriodStats;
  newPatterns: readonly NewPattern[];
  /** The supervisor gave up restarting during the window. */
  crashLoop: boolean;
}

/** The observer's next step. */
export type ObservationStep =
  | { kind: 'continue'; verdict: Verdict }
  | { kind: 'extend'; verdict: Verdict; extensions: number; windowEndsAt: number }
  | { kind: 'pass'; verdict: Verdict }
  | { kind: 'inconclusive'; verdict: Verdict }
  | { kind: 'rollback'; verdict: Extract<Verdict, { verdict: 'rollback' }>; reason: string };

/** Decide the next step of an observation window. Pure. */
export function nextObservationStep(input: ObservationInput): ObservationStep {
  const { deploy, observe: o, now } = input;
  const windowMs = o.windowSeconds * 1000;
  const verdict = judgeWindow({
    baseline: input.baseline,
    window: input.window,
    newPatterns: input.newPatterns,
    elapsedMs: now - deploy.readyAt,
    windowMs,
    extensions: deploy.extensions,
    thresholds: thresholdsOf(o),
    crashLoop: input.crashLoop,
  });
  switch (verdict.verdict) {
    case 'continue':
      return { kind: 'continue', verdict };
    case 'extend': {
      const extensions = deploy.extensions + 1;
      return { kind: 'extend', verdict, extensions, windowEndsAt: deploy.readyAt + windowMs * (1 + extensions) };
    }
    case 'pass':
      return { kind: 'pass', verdict };
    case 'inconclusive':
      return { kind: 'inconclusive', verdict };
    case 'rollback':
      return { kind: 'rollback', verdict, reason: verdict.triggers.join(',') };
  }
}
