/**
 * Before/after figures of a deploy, from the verdict the supervisor stores with it (the
 * baseline period before the deploy and the observation window after). Pure: the Zulip
 * messages, the dashboard and `dancer top` show the same numbers.
 */
import type { MetricsSnapshot } from './events.js';

/** The part of a stored deploy verdict this module reads (see src/supervise/verdict.ts). */
interface PeriodLike {
  durationMs?: number;
  records?: number;
  errors?: number;
  targetCount?: number;
  p95LatencyMs?: number;
  maxRssBytes?: number;
  meanRssBytes?: number;
}

const MINUTE_MS = 60_000;

function isPeriod(value: unknown): value is PeriodLike {
  return typeof value === 'object' && value !== null && typeof (value as PeriodLike).durationMs === 'number';
}

/** One period's figures as a {@link MetricsSnapshot} (rates per minute, RSS in MiB). */
export function snapshotOf(period: PeriodLike, hasTarget: boolean): MetricsSnapshot {
  const minutes = (period.durationMs ?? 0) / MINUTE_MS;
  const per = (n: number | undefined) => (n === undefined || minutes <= 0 ? undefined : n / minutes);
  const out: MetricsSnapshot = {};
  const errorRate = per(period.errors);
  if (errorRate !== undefined) out.errorRate = errorRate;
  if (hasTarget) {
    const patternRate = per(period.targetCount ?? 0);
    if (patternRate !== undefined) out.patternRate = patternRate;
  }
  const rpm = per(period.records);
  if (rpm !== undefined) out.requestsPerMin = rpm;
  if (period.p95LatencyMs !== undefined) out.p95Ms = period.p95LatencyMs;
  const rss = period.maxRssBytes ?? period.meanRssBytes;
  if (rss !== undefined) out.memMb = rss / 1_048_576;
  return out;
}

/**
 * The before (baseline) and after (window) snapshots in a stored deploy verdict, or undefined
 * when the verdict has no numbers yet.
 */
export function beforeAfterOf(
  verdict: unknown,
): { before: MetricsSnapshot; after: MetricsSnapshot; verdict?: string; reasons?: string[] } | undefined {
  if (typeof verdict !== 'object' || verdict === null) return undefined;
  const v = verdict as { baseline?: unknown; window?: unknown; verdict?: unknown; reasons?: unknown };
  if (!isPeriod(v.baseline) || !isPeriod(v.window)) return undefined;
  const hasTarget = v.baseline.targetCount !== undefined || v.window.targetCount !== undefined;
  const out: { before: MetricsSnapshot; after: MetricsSnapshot; verdict?: string; reasons?: string[] } = {
    before: snapshotOf(v.baseline, hasTarget),
    after: snapshotOf(v.window, hasTarget),
  };
  if (typeof v.verdict === 'string') out.verdict = v.verdict;
  if (Array.isArray(v.reasons)) out.reasons = v.reasons.filter((r): r is string => typeof r === 'string');
  return out;
}

/** One row of a before/after table. */
export interface BeforeAfterRow {
  label: string;
  before: string;
  after: string;
  /** `after` relative to `before`, e.g. `-100%`, or `` when it cannot be said. */
  change: string;
}

const ROWS: Array<{ key: keyof MetricsSnapshot; label: string; unit: string; digits: number }> = [
  { key: 'errorRate', label: 'error rate', unit: '/min', digits: 2 },
  { key: 'patternRate', label: 'target pattern', unit: '/min', digits: 2 },
  { key: 'p95Ms', label: 'p95 latency', unit: ' ms', digits: 1 },
  { key: 'memMb', label: 'RSS', unit: ' MiB', digits: 1 },
];

/**
 * The rows of the before/after table: error rate, the target pattern's rate, p95 latency and
 * RSS (a row is left out when neither side has the figure).
 */
export function beforeAfterRows(before: MetricsSnapshot = {}, after: MetricsSnapshot = {}): BeforeAfterRow[] {
  const rows: BeforeAfterRow[] = [];
  for (const r of ROWS) {
    const b = before[r.key];
    const a = after[r.key];
    if (b === undefined && a === undefined) continue;
    const fmt = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(r.digits)}${r.unit}`);
    let change = '';
    if (a !== undefined && b !== undefined) {
      if (b === 0) change = a === 0 ? '0%' : 'new';
      else change = `${a >= b ? '+' : ''}${Math.round(((a - b) / b) * 100)}%`;
    }
    rows.push({ label: r.label, before: fmt(b), after: fmt(a), change });
  }
  return rows;
}
