/**
 * The trigger rules: pure functions over plain data with the clock (`now`) passed in. Each rule
 * returns a {@link Signal} when its condition holds, or null. Whether a signal actually fires is
 * decided afterwards by the gates in decisions.ts (dedupe, ignore, cooldown, concurrency).
 */
import type { TriggersConfig } from '../config/index.js';
import { LEVELS, type LevelName } from '../store/index.js';
import { type BaselineState, expectation, isWarm } from './baselines.js';
import { type BucketCounts, countAtLeast, MINUTE_MS } from './windows.js';

export type { TriggersConfig } from '../config/index.js';

/** The four kinds of trigger. */
export type TriggerKind = 'new_pattern' | 'spike' | 'crash' | 'review';

/** Template statuses (the `templates.status` column). */
export type TemplateStatus = 'new' | 'known' | 'fixing' | 'fixed' | 'ignored';

/** A rule whose condition holds: a candidate for a trigger, before the gates. */
export interface Signal {
  kind: TriggerKind;
  /** What the rule watched: `template:<id>`, `errors`, `crash`, `crash:template:<id>` or `review`. */
  key: string;
  templateId?: number | undefined;
  urgent: boolean;
  /** The numbers the rule saw (stored with the decision). */
  numbers: Record<string, unknown>;
  /** Why the rule holds, in plain words. */
  reason: string;
  /** Current rate (events per minute) of what was watched, for the ignore gate. */
  ratePerMinute?: number | undefined;
  /** How far over its threshold the signal is (>= 1), to rank signals competing for a slot. */
  magnitude: number;
  /** For the overall error rate: the templates that contributed most of the errors. */
  contributors?: ReadonlyArray<{ templateId: number; count: number }> | undefined;
}

/** What a rule knows about one template. */
export interface TemplateView {
  id: number;
  text?: string | undefined;
  status: TemplateStatus;
  /** ms since epoch. */
  firstSeen: number;
  /** Highest pino level seen for the template. */
  maxLevel: number;
  /** Bucket sums over the new-pattern window. */
  newWindow: BucketCounts;
  /** Bucket sums over the spike window. */
  spikeWindow: BucketCounts;
  baseline?: BaselineState | undefined;
}

function levelNumber(level: LevelName | number): number {
  return typeof level === 'number' ? level : LEVELS[level];
}

/**
 * New pattern: the template was first seen within `firstSeenWithinMinutes` at a level of at
 * least `minLevel`, and recurred more than `minCount` times (at that level) in the window.
 */
export function newPatternRule(t: TemplateView, now: number, config: TriggersConfig): Signal | null {
  const c = config.newPattern;
  if (!c.enabled) return null;
  const ageMinutes = (now - t.firstSeen) / MINUTE_MS;
  if (ageMinutes > c.firstSeenWithinMinutes) return null;
  if (t.maxLevel < levelNumber(c.minLevel)) return null;
  const count = countAtLeast(t.newWindow, c.minLevel);
  if (count <= c.minCount) return null;
  return {
    kind: 'new_pattern',
    key: `template:${t.id}`,
    templateId: t.id,
    urgent: false,
    numbers: {
      count,
      windowMinutes: c.windowMinutes,
      minCount: c.minCount,
      minLevel: c.minLevel,
      firstSeen: t.firstSeen,
      ageMinutes: round(ageMinutes),
    },
    reason:
      `new pattern first seen ${round(ageMinutes)} min ago recurred ${count} times at ${c.minLevel} or above ` +
      `in ${c.windowMinutes} min (more than ${c.minCount})`,
    ratePerMinute: count / c.windowMinutes,
    magnitude: count / Math.max(c.minCount, 1),
  };
}

/** The numbers a spike check produced, whether or not it holds. */
export interface SpikeCheck {
  holds: boolean;
  count: number;
  expected: number;
  sd: number;
  threshold: number;
  warm: boolean;
  samples: number;
}

/**
 * Whether `count` events in the window is a spike over `baseline`: the baseline is warm, and the
 * count is at least `minEvents`, at least `factor` times the expected count, and at least
 * `sigmas` standard deviations above it.
 */
export function checkSpike(count: number, baseline: BaselineState | undefined, config: TriggersConfig): SpikeCheck {
  const s = config.spike;
  const warm = isWarm(baseline, config.baseline);
  if (baseline === undefined) {
    return { holds: false, count, expected: 0, sd: 0, threshold: Number.POSITIVE_INFINITY, warm, samples: 0 };
  }
  const { expected, sd } = expectation(baseline, s.windowMinutes, config.baseline);
  const threshold = Math.max(s.minEvents, s.factor * expected, expected + s.sigmas * sd);
  return { holds: warm && count >= threshold, count, expected, sd, threshold, warm, samples: baseline.samples };
}

function spikeNumbers(check: SpikeCheck, config: TriggersConfig): Record<string, unknown> {
  return {
    count: check.count,
    windowMinutes: config.spike.windowMinutes,
    expected: round(check.expected),
    sd: round(check.sd),
    threshold: round(check.threshold),
    factor: config.spike.factor,
    minEvents: config.spike.minEvents,
    baselineSamples: check.samples,
  };
}

/**
 * Spike of a known template: its count over the spike window rose above its baseline (see
 * {@link checkSpike}). New templates (first seen within the new-pattern period) are left to the
 * new-pattern rule.
 */
export function templateSpikeRule(t: TemplateView, now: number, config: TriggersConfig): Signal | null {
  if (!config.spike.enabled || !config.spike.templates) return null;
  if ((now - t.firstSeen) / MINUTE_MS <= config.newPattern.firstSeenWithinMinutes && t.status === 'new') return null;
  const check = checkSpike(t.spikeWindow.count, t.baseline, config);
  if (!check.holds) return null;
  return {
    kind: 'spike',
    key: `template:${t.id}`,
    templateId: t.id,
    urgent: false,
    numbers: spikeNumbers(check, config),
    reason:
      `pattern rate rose to ${check.count} in ${config.spike.windowMinutes} min, ` +
      `${round(check.count / Math.max(check.expected, 1e-9))}x its baseline of ${round(check.expected)}`,
    ratePerMinute: check.count / config.spike.windowMinutes,
    magnitude: check.count / Math.max(check.threshold, 1e-9),
  };
}

/** Spike of the overall error rate: errors (at `spike.errorLevel` or above) over the window. */
export function errorRateSpikeRule(
  window: BucketCounts,
  baseline: BaselineState | undefined,
  config: TriggersConfig,
): Signal | null {
  if (!config.spike.enabled || !config.spike.errorRate) return null;
  const count = countAtLeast(window, config.spike.errorLevel);
  const check = checkSpike(count, baseline, config);
  if (!check.holds) return null;
  return {
    kind: 'spike',
    key: 'errors',
    urgent: false,
    numbers: { ...spikeNumbers(check, config), errorLevel: config.spike.errorLevel, total: window.count },
    reason:
      `overall error rate rose to ${count} in ${config.spike.windowMinutes} min, ` +
      `${round(count / Math.max(check.expected, 1e-9))}x its baseline of ${round(check.expected)}`,
    ratePerMinute: count / config.spike.windowMinutes,
    magnitude: count / Math.max(check.threshold, 1e-9),
  };
}

/** A record as the crash rule sees it. */
export interface CrashRecord {
  level: number;
  message: string;
  errType?: string | undefined;
  stack?: string | undefined;
  templateId?: number | undefined;
  ts?: number | undefined;
}

/** Input of {@link crashTrigger}: how the process ended (if it did) and its last records. */
export interface CrashInput {
  /** Exit code, or null when killed by a signal / still running. */
  exitCode?: number | null | undefined;
  /** Signal that ended the process (`SIGSEGV`, ...), or null. */
  signal?: string | null | undefined;
  /** The last records the process logged (newest last). */
  lastRecords?: readonly CrashRecord[] | undefined;
}

const UNCAUGHT = /\b(uncaught|unhandled)\b.*\b(exception|rejection|error)\b|\bpanic(ked)?\b|^fatal error:/i;

/** True when a record is fatal or reports an uncaught exception / unhandled rejection / panic. */
export function isCrashRecord(r: CrashRecord): boolean {
  if (r.level >= LEVELS.fatal) return true;
  return UNCAUGHT.test(r.message) || (r.errType !== undefined && UNCAUGHT.test(r.errType));
}

/**
 * Crash: the supervised process exited abnormally (non-zero code or a signal), or logged a fatal
 * record or an uncaught exception. Always urgent. A clean exit (code 0, no signal) with no fatal
 * record returns null. The key is `crash:template:<id>` when the culprit record has a template
 * (so the same crash repeating is one pattern), else `crash`.
 */
export function crashTrigger(input: CrashInput): Signal | null {
  const records = input.lastRecords ?? [];
  const culprit = [...records].reverse().find(isCrashRecord);
  const exited = input.exitCode !== undefined || input.signal !== undefined;
  const abnormal =
    (input.exitCode !== undefined && input.exitCode !== null && input.exitCode !== 0) || Boolean(input.signal);
  if (!abnormal && culprit === undefined) return null;
  const how = abnormal
    ? input.signal
      ? `the process was killed by ${input.signal}`
      : `the process exited with code ${input.exitCode}`
    : exited
      ? 'the process exited'
      : 'the process';
  const what = culprit
    ? `${abnormal || exited ? ' after logging' : ' logged'} ${culprit.level >= LEVELS.fatal ? 'a fatal record' : 'an uncaught exception'}: ${clip(culprit.message)}`
    : '';
  const templateId = culprit?.templateId;
  return {
    kind: 'crash',
    key: templateId !== undefined ? `crash:template:${templateId}` : 'crash',
    templateId,
    urgent: true,
    numbers: {
      exitCode: input.exitCode ?? null,
      signal: input.signal ?? null,
      fatalRecords: records.filter(isCrashRecord).length,
      lastRecords: records.length,
    },
    reason: `crash: ${how}${what}`,
    magnitude: Number.POSITIVE_INFINITY,
  };
}

/** When the next scheduled review is due: `everyHours` after the last one (or after `anchor`). */
export function nextReviewAt(lastReviewAt: number | undefined, anchor: number, config: TriggersConfig): number {
  return (lastReviewAt ?? anchor) + config.review.everyHours * 3_600_000;
}

/** One pattern in a review. */
export interface ReviewEntry {
  templateId: number;
  text?: string | undefined;
  count: number;
  warn: number;
  error: number;
  fatal: number;
  slow: number;
  durMax: number | null;
}

/**
 * Scheduled review: the top patterns since the last review by errors, then warnings, then
 * count; and the patterns with the most slow requests. Fires even when nothing alarmed. Returns
 * null when it is not due yet or reviews are disabled.
 */
export function reviewRule(
  perTemplate: readonly ReviewEntry[],
  since: number,
  now: number,
  dueAt: number,
  config: TriggersConfig,
): Signal | null {
  if (!config.review.enabled || now < dueAt) return null;
  const n = config.review.topN;
  const top = [...perTemplate]
    .filter((e) => e.count > 0)
    .sort(
      (a, b) =>
        b.fatal + b.error - (a.fatal + a.error) || b.warn - a.warn || b.count - a.count || a.templateId - b.templateId,
    )
    .slice(0, n);
  const slow = [...perTemplate]
    .filter((e) => e.slow > 0)
    .sort((a, b) => b.slow - a.slow || (b.durMax ?? 0) - (a.durMax ?? 0) || a.templateId - b.templateId)
    .slice(0, n);
  const totals = perTemplate.reduce(
    (t, e) => ({
      records: t.records + e.count,
      warn: t.warn + e.warn,
      error: t.error + e.error + e.fatal,
      slow: t.slow + e.slow,
    }),
    { records: 0, warn: 0, error: 0, slow: 0 },
  );
  return {
    kind: 'review',
    key: 'review',
    urgent: false,
    numbers: {
      since,
      until: now,
      everyHours: config.review.everyHours,
      slowRequestMs: config.review.slowRequestMs,
      totals,
      top,
      slow,
    },
    reason:
      `scheduled review of the ${top.length} top patterns since ${new Date(since).toISOString()}: ` +
      `${totals.records} records, ${totals.error} errors, ${totals.warn} warnings, ${totals.slow} slow requests`,
    magnitude: 1,
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function clip(s: string, max = 160): string {
  const line = s.split('\n', 1)[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
