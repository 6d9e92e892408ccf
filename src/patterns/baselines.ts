/**
 * EWMA baselines with variance over per-minute counts: pure functions over plain data.
 *
 * A baseline folds in one sample per *active* minute (a minute in which the service logged
 * anything at all). Minutes in which the service was stopped or idle are skipped, so a quiet
 * night does not drag every baseline to zero and make the morning look like a spike. Within an
 * active minute a template that did not occur counts as 0. A baseline may fire only once it is
 * warm (has seen `warmupMinutes` active minutes), so a service that just started does not fire
 * on its first minutes of traffic.
 */

/** The persisted state of one baseline. */
export interface BaselineState {
  /** EWMA of the per-minute count. */
  mean: number;
  /** EWMA variance of the per-minute count. */
  variance: number;
  /** Active minutes folded in. */
  samples: number;
  /** Minute of the first sample. */
  firstMinute: number;
  /** Minute of the last sample folded in. */
  lastMinute: number;
}

/** Baseline settings (`patterns.triggers.baseline`). */
export interface BaselineConfig {
  halfLifeMinutes: number;
  warmupMinutes: number;
  minRatePerMinute: number;
}

/** The EWMA smoothing factor for a half-life in samples: `1 - 2^(-1/halfLife)`. */
export function alphaFor(halfLifeMinutes: number): number {
  return 1 - 2 ** (-1 / Math.max(halfLifeMinutes, 1e-9));
}

/**
 * Fold one sample into a baseline (West's incremental EWMA mean and variance). The first
 * sample sets the mean and leaves the variance at 0.
 */
export function foldSample(
  state: BaselineState | undefined,
  value: number,
  minute: number,
  alpha: number,
): BaselineState {
  if (state === undefined || state.samples === 0) {
    return { mean: value, variance: 0, samples: 1, firstMinute: state?.firstMinute ?? minute, lastMinute: minute };
  }
  const diff = value - state.mean;
  const incr = alpha * diff;
  return {
    mean: state.mean + incr,
    variance: (1 - alpha) * (state.variance + diff * incr),
    samples: state.samples + 1,
    firstMinute: state.firstMinute,
    lastMinute: minute,
  };
}

/** True when the baseline has seen enough active minutes to be trusted. */
export function isWarm(state: BaselineState | undefined, config: BaselineConfig): state is BaselineState {
  return state !== undefined && state.samples >= config.warmupMinutes && state.samples > 0;
}

/** What a baseline expects over a window of `windowMinutes` active minutes. */
export interface Expectation {
  /** Expected count in the window (mean per minute, floored at `minRatePerMinute`, times the window). */
  expected: number;
  /** Standard deviation of the window count, assuming independent minutes. */
  sd: number;
}

/** The expected count and its spread over a window. */
export function expectation(state: BaselineState, windowMinutes: number, config: BaselineConfig): Expectation {
  const perMinute = Math.max(state.mean, config.minRatePerMinute);
  return { expected: perMinute * windowMinutes, sd: Math.sqrt(Math.max(state.variance, 0) * windowMinutes) };
}

/** The counts of one active minute: everything, errors, and each template. */
export interface MinuteSummary {
  minute: number;
  /** Records of any level in the minute (0 means idle: the minute is skipped). */
  total: number;
  /** Records at or above the error level. */
  errors: number;
  /** Records per template id. */
  byTemplate: ReadonlyMap<number, number>;
}

/** Key of the overall error-rate baseline. */
export const ERRORS_KEY = 'errors';
/** Key of a template's baseline. */
export function templateKey(templateId: number): string {
  return `template:${templateId}`;
}

/**
 * Fold minutes (in increasing order) into the baselines. Idle minutes (total 0) are skipped; a
 * template's baseline starts at the first minute it occurs; afterwards every active minute folds
 * a sample (0 when the template did not occur). Returns the baselines that changed; `states` is
 * not modified.
 */
export function advanceBaselines(
  states: ReadonlyMap<string, BaselineState>,
  minutes: readonly MinuteSummary[],
  config: BaselineConfig,
): Map<string, BaselineState> {
  const alpha = alphaFor(config.halfLifeMinutes);
  const changed = new Map<string, BaselineState>();
  const current = (key: string) => changed.get(key) ?? states.get(key);
  const templateKeys = new Set<string>();
  for (const key of states.keys()) if (key.startsWith('template:')) templateKeys.add(key);
  for (const m of [...minutes].sort((a, b) => a.minute - b.minute)) {
    if (m.total <= 0) continue;
    const errors = current(ERRORS_KEY);
    if (errors === undefined || m.minute > errors.lastMinute) {
      changed.set(ERRORS_KEY, foldSample(errors, m.errors, m.minute, alpha));
    }
    for (const id of m.byTemplate.keys()) templateKeys.add(templateKey(id));
    for (const key of templateKeys) {
      const state = current(key);
      if (state !== undefined && m.minute <= state.lastMinute) continue;
      const id = Number(key.slice('template:'.length));
      const value = m.byTemplate.get(id) ?? 0;
      if (state === undefined && value === 0) continue;
      changed.set(key, foldSample(state, value, m.minute, alpha));
    }
  }
  return changed;
}
