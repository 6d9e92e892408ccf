/**
 * The verdict of an observation window after a deploy. Pure: the numbers of the baseline and
 * of the window so far, thresholds and elapsed time in; a verdict with its reasons out.
 */

/** Figures of one period (the pre-deploy baseline or the window after the deploy). */
export interface PeriodStats {
  /** Length of the period in ms (for rates). */
  durationMs: number;
  /** Log records in the period (traffic proxy). */
  records: number;
  /** Records at level error or above. */
  errors: number;
  /** Records of the target pattern (the one a fix is meant to remove), when there is one. */
  targetCount?: number | undefined;
  /** The part of the period in which the target pattern existed (from its onset), ms. Default durationMs. */
  targetDurationMs?: number | undefined;
  /** p95 of `duration_ms` over records that have it; undefined when none. */
  p95LatencyMs?: number | undefined;
  /** Largest worker RSS sampled, bytes. */
  maxRssBytes?: number | undefined;
  /** Mean worker RSS sampled, bytes. */
  meanRssBytes?: number | undefined;
  /** Mean worker CPU, percent of one core. */
  meanCpuPercent?: number | undefined;
  /** Worker crashes in the period. */
  crashes: number;
}

/** Error patterns that were never seen before the deploy, with their counts in the window. */
export interface NewPattern {
  key: string;
  count: number;
  example?: string | undefined;
}

/** Thresholds (from `service.observe`). */
export interface VerdictThresholds {
  errorRateIncrease: number;
  minErrors: number;
  rssIncrease: number;
  rssLimitBytes?: number | undefined;
  newPatternMin: number;
  latencyIncrease: number;
  /** The p95 must also grow by at least this many ms (sub-millisecond noise is no regression). */
  latencyMinMs?: number | undefined;
  minRecords: number;
  maxExtensions: number;
  /** Crashes in the window that count as a crash loop. */
  crashLoop?: number | undefined;
  /** Significance of the rate tests (default {@link RATE_ALPHA}). */
  alpha?: number | undefined;
}

/** How unlikely a rate increase must be under noise before it rolls back. */
export const RATE_ALPHA = 0.01;

/** ln(n!) by summation with a cache (n stays small: counts of errors in minutes). */
const lnFact: number[] = [0];
function logFactorial(n: number): number {
  for (let i = lnFact.length; i <= n; i++) lnFact[i] = (lnFact[i - 1] as number) + Math.log(i);
  return lnFact[n] as number;
}

/** P(X >= k) for X ~ Binomial(n, p). */
export function binomialTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let sum = 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  for (let i = k; i <= n; i++) {
    sum += Math.exp(logFactorial(n) - logFactorial(i) - logFactorial(n - i) + i * lp + (n - i) * lq);
  }
  return Math.min(1, sum);
}

/**
 * Is the window's count significantly above `(1 + increase)` times the baseline rate? The
 * conditional test of two Poisson rates: given both counts, under the null the window's share
 * is binomial with p = w(1+increase) / (b + w(1+increase)), b and w the two durations. Small
 * numbers and short baselines are tolerated; no baseline time means no evidence.
 */
export function rateIncrease(
  base: { count: number; ms: number },
  win: { count: number; ms: number },
  increase: number,
  alpha = RATE_ALPHA,
): { significant: boolean; pValue: number } {
  if (base.ms <= 0 || win.ms <= 0) return { significant: false, pValue: 1 };
  const n = base.count + win.count;
  const scaled = win.ms * (1 + increase);
  const pValue = binomialTail(win.count, n, scaled / (base.ms + scaled));
  return { significant: pValue < alpha, pValue };
}

const perMinute = (count: number, durationMs: number): number => (durationMs > 0 ? (count * 60_000) / durationMs : 0);

/** P(X >= k) for X ~ Poisson(mean), summed over the upper tail (accurate for small tails). */
export function poissonTail(k: number, mean: number): number {
  if (k <= 0) return 1;
  if (mean <= 0) return 0;
  const lm = Math.log(mean);
  let sum = 0;
  for (let i = k; ; i++) {
    const term = Math.exp(-mean + i * lm - logFactorial(i));
    sum += term;
    if (i > mean && term <= sum * 1e-15) break;
    if (i > k + 50 && term === 0) break;
  }
  return Math.min(1, sum);
}

/** What one rate (all errors, or the target pattern) says about the window so far. */
export interface RateEvidence {
  /** Measured rates, per minute. */
  basePerMinute: number;
  winPerMinute: number;
  /** The conditional test of {@link rateIncrease}. */
  pValue: number;
  significant: boolean;
  /**
   * The point estimate is above the threshold: the window's rate over the baseline's is more than
   * `1 + increase`, each count read with half a count added (so an empty baseline is not a rate of 0).
   */
  above: boolean;
  /**
   * Waiting cannot decide it: the window alone is significantly above `1 + increase` times the
   * baseline's measured rate (a longer window will not bring the estimate under the threshold),
   * yet even a window known exactly would leave the test short of significance, because the
   * baseline holds too few counts (the previous release served that long, the pattern began then).
   */
  windowSettled: boolean;
}

/** Weigh one rate of the window against its baseline (see {@link RateEvidence}). */
export function rateEvidence(
  base: { count: number; ms: number },
  win: { count: number; ms: number },
  increase: number,
  alpha = RATE_ALPHA,
): RateEvidence {
  const test = rateIncrease(base, win, increase, alpha);
  const basePerMinute = perMinute(base.count, base.ms);
  const winPerMinute = perMinute(win.count, win.ms);
  if (base.ms <= 0 || win.ms <= 0) {
    return { basePerMinute, winPerMinute, ...test, above: false, windowSettled: false };
  }
  const baseRate = (base.count + 0.5) / base.ms;
  const above = (win.count + 0.5) / win.ms > baseRate * (1 + increase);
  const windowSettled =
    above &&
    !test.significant &&
    poissonTail(win.count, baseRate * (1 + increase) * win.ms) < alpha &&
    // P(baseline count <= its value) with the window's rate taken as exact: the test's limit
    1 - poissonTail(base.count + 1, (base.ms * (win.count / win.ms)) / (1 + increase)) >= alpha;
  return { basePerMinute, winPerMinute, pValue: test.pValue, significant: test.significant, above, windowSettled };
}

/** Everything {@link judgeWindow} looks at. */
export interface VerdictInput {
  baseline: PeriodStats;
  window: PeriodStats;
  newPatterns: readonly NewPattern[];
  /** Time since the new worker became ready, ms. */
  elapsedMs: number;
  /** Planned window length, ms (per extension). */
  windowMs: number;
  /** Extensions already granted. */
  extensions: number;
  thresholds: VerdictThresholds;
  /** The supervisor gave up restarting (intensity limit) during the window. */
  crashLoop?: boolean | undefined;
}

/** Why a window rolled back. Stable strings, stored with the deploy. */
export type RollbackReason =
  | 'crash_loop'
  | 'error_rate'
  | 'memory_spike'
  | 'memory_limit'
  | 'new_error_pattern'
  | 'latency'
  | 'target_pattern_worse'
  /** The error rate (or the target's) is above the threshold but the window cannot tell it from noise. */
  | 'inconclusive';

/** The outcome of one evaluation. */
export type Verdict =
  /** Keep observing. */
  | { verdict: 'continue'; reasons: string[]; efficacy: Efficacy | undefined }
  /** Window over, nothing wrong, enough traffic. */
  | { verdict: 'pass'; reasons: string[]; efficacy: Efficacy | undefined }
  /** A trigger fired: roll back. */
  | { verdict: 'rollback'; reasons: string[]; triggers: RollbackReason[]; efficacy: Efficacy | undefined }
  /** Window over with too little traffic: extend the window. */
  | { verdict: 'extend'; reasons: string[]; efficacy: Efficacy | undefined }
  /** Too little traffic even after every extension: a human decides. */
  | { verdict: 'inconclusive'; reasons: string[]; efficacy: Efficacy | undefined };

/** Did the fix work: the target pattern's rate (per minute) before and after. */
export interface Efficacy {
  beforePerMinute: number;
  afterPerMinute: number;
  /** 1 = pattern gone, 0 = unchanged, negative = worse. */
  reduction: number;
}

/** The target pattern's efficacy, when the deploy has a target. */
export function efficacyOf(baseline: PeriodStats, window: PeriodStats): Efficacy | undefined {
  if (baseline.targetCount === undefined || window.targetCount === undefined) return undefined;
  const beforePerMinute = perMinute(baseline.targetCount, baseline.targetDurationMs ?? baseline.durationMs);
  const afterPerMinute = perMinute(window.targetCount, window.durationMs);
  const reduction = beforePerMinute > 0 ? 1 - afterPerMinute / beforePerMinute : afterPerMinute > 0 ? -1 : 0;
  return { beforePerMinute, afterPerMinute, reduction };
}

/**
 * Judge the window so far. Rollback triggers are checked at every evaluation (a memory spike
 * or crash loop need not wait for the end); rate triggers need `minErrors` errors in the window
 * so a single early error does not roll back. A rate above the threshold that the test cannot
 * yet tell from noise does not pass: the window is extended (up to `maxExtensions`), and a rate
 * still undecided then, or one that only a longer baseline could decide, rolls back as
 * `inconclusive` (the safe default). At the end of the window: `pass` with enough traffic,
 * otherwise `extend` until `maxExtensions`, then `inconclusive` (a human decides). Never passes
 * silently without traffic.
 */
export function judgeWindow(input: VerdictInput): Verdict {
  const { baseline, window, thresholds: t } = input;
  const efficacy = efficacyOf(baseline, window);
  const triggers: RollbackReason[] = [];
  const reasons: string[] = [];

  if (input.crashLoop || (t.crashLoop !== undefined && window.crashes >= t.crashLoop)) {
    triggers.push('crash_loop');
    reasons.push(`crash loop: ${window.crashes} crashes in the window`);
  }

  const served = `over ${Math.round(baseline.durationMs / 1000)} s served`;
  const errorEv = rateEvidence(
    { count: baseline.errors, ms: baseline.durationMs },
    { count: window.errors, ms: window.durationMs },
    t.errorRateIncrease,
    t.alpha,
  );
  const errorText = `error rate ${errorEv.winPerMinute.toFixed(2)}/min vs baseline ${errorEv.basePerMinute.toFixed(2)}/min ${served}`;
  if (window.errors >= t.minErrors && errorEv.significant) {
    triggers.push('error_rate');
    reasons.push(
      `${errorText} (more than +${Math.round(t.errorRateIncrease * 100)}%, p=${errorEv.pValue.toPrecision(2)})`,
    );
  }

  if (t.rssLimitBytes !== undefined && window.maxRssBytes !== undefined && window.maxRssBytes > t.rssLimitBytes) {
    triggers.push('memory_limit');
    reasons.push(`worker RSS ${mib(window.maxRssBytes)} over the limit ${mib(t.rssLimitBytes)}`);
  } else if (
    baseline.meanRssBytes !== undefined &&
    baseline.meanRssBytes > 0 &&
    window.maxRssBytes !== undefined &&
    window.maxRssBytes > baseline.meanRssBytes * (1 + t.rssIncrease)
  ) {
    triggers.push('memory_spike');
    reasons.push(
      `worker RSS ${mib(window.maxRssBytes)} vs baseline ${mib(baseline.meanRssBytes)} (limit +${Math.round(t.rssIncrease * 100)}%)`,
    );
  }

  const fresh = input.newPatterns.filter((p) => p.count >= t.newPatternMin);
  if (fresh.length > 0) {
    triggers.push('new_error_pattern');
    reasons.push(
      `new error pattern${fresh.length > 1 ? 's' : ''}: ${fresh.map((p) => `${p.key} x${p.count}`).join(', ')}`,
    );
  }

  if (
    baseline.p95LatencyMs !== undefined &&
    window.p95LatencyMs !== undefined &&
    baseline.p95LatencyMs > 0 &&
    window.records >= t.minRecords &&
    window.p95LatencyMs > baseline.p95LatencyMs * (1 + t.latencyIncrease) &&
    window.p95LatencyMs - baseline.p95LatencyMs >= (t.latencyMinMs ?? 0)
  ) {
    triggers.push('latency');
    reasons.push(`p95 latency ${window.p95LatencyMs.toFixed(1)} ms vs baseline ${baseline.p95LatencyMs.toFixed(1)} ms`);
  }

  // Rates the test cannot decide yet: above the threshold, not significantly.
  const undecided: Array<{ text: string; ev: RateEvidence }> = [];
  if (window.errors >= t.minErrors && !errorEv.significant && errorEv.above) {
    undecided.push({ text: errorText, ev: errorEv });
  }
  if (efficacy && baseline.targetCount !== undefined && window.targetCount !== undefined) {
    const targetMs = baseline.targetDurationMs ?? baseline.durationMs;
    const targetEv = rateEvidence(
      { count: baseline.targetCount, ms: targetMs },
      { count: window.targetCount, ms: window.durationMs },
      t.errorRateIncrease,
      t.alpha,
    );
    const targetText = `target pattern ${efficacy.afterPerMinute.toFixed(2)}/min vs ${efficacy.beforePerMinute.toFixed(2)}/min before (over ${Math.round(targetMs / 1000)} s)`;
    if (window.targetCount >= t.minErrors && targetEv.significant) {
      triggers.push('target_pattern_worse');
      reasons.push(targetText);
    } else if (window.targetCount >= t.minErrors && targetEv.above) {
      undecided.push({ text: targetText, ev: targetEv });
    }
  }

  if (triggers.length > 0) return { verdict: 'rollback', reasons, triggers, efficacy };

  const threshold = `+${Math.round(t.errorRateIncrease * 100)}%`;
  const describe = (u: { text: string; ev: RateEvidence }) =>
    `${u.text}, p=${u.ev.pValue.toPrecision(2)}, after ${input.extensions} extension${input.extensions === 1 ? '' : 's'}`;
  const settled = undecided.filter((u) => u.ev.windowSettled);
  if (settled.length > 0) {
    return {
      verdict: 'rollback',
      triggers: ['inconclusive'],
      reasons: settled.map(
        (u) =>
          `${describe(u)}: above the ${threshold} threshold, not significantly, and a longer window cannot tell (the baseline is too short); not passed`,
      ),
      efficacy,
    };
  }

  const windowOver = input.elapsedMs >= input.windowMs * (1 + input.extensions);
  if (!windowOver) return { verdict: 'continue', reasons: [], efficacy };
  if (undecided.length > 0) {
    if (input.extensions < t.maxExtensions) {
      return {
        verdict: 'extend',
        reasons: undecided.map((u) => `${describe(u)}: above the ${threshold} threshold, not yet significantly`),
        efficacy,
      };
    }
    return {
      verdict: 'rollback',
      triggers: ['inconclusive'],
      reasons: undecided.map((u) => `${describe(u)}: above the ${threshold} threshold, not significantly; not passed`),
      efficacy,
    };
  }
  if (window.records < t.minRecords) {
    const why = `too little traffic: ${window.records} records in the window (need ${t.minRecords})`;
    if (input.extensions < t.maxExtensions) return { verdict: 'extend', reasons: [why], efficacy };
    return {
      verdict: 'inconclusive',
      reasons: [why, 'a human must decide: `dancer rollback` or `dancer accept`'],
      efficacy,
    };
  }
  const summary = [
    `error rate ${errorEv.winPerMinute.toFixed(2)}/min vs baseline ${errorEv.basePerMinute.toFixed(2)}/min`,
  ];
  if (efficacy)
    summary.push(`target pattern ${efficacy.beforePerMinute.toFixed(2)} -> ${efficacy.afterPerMinute.toFixed(2)}/min`);
  return { verdict: 'pass', reasons: summary, efficacy };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** p95 of a list of numbers (nearest rank); undefined when empty. */
export function p95(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(0, Math.ceil(0.95 * sorted.length) - 1);
  return sorted[rank];
}
