/**
 * Minute buckets and windows over them: plain data, no I/O. A window of `w` minutes at time `now`
 * is the `w` minute buckets ending with the one that holds `now` (so it spans between `w - 1` and
 * `w` minutes of wall time: never longer than asked).
 */
import { LEVELS, type LevelName, levelName } from '../store/index.js';

/** Milliseconds in a minute. */
export const MINUTE_MS = 60_000;

/** The minute bucket (`floor(ts / 60000)`) that holds `ts`. */
export function minuteOf(ts: number): number {
  return Math.floor(ts / MINUTE_MS);
}

/** First and last minute (inclusive) of the `windowMinutes`-minute window that ends at `now`. */
export function windowRange(now: number, windowMinutes: number): { from: number; to: number } {
  const to = minuteOf(now);
  return { from: to - Math.max(1, Math.floor(windowMinutes)) + 1, to };
}

/** Counts of one bucket (or a sum of buckets): records, per level, slow requests and durations. */
export interface BucketCounts {
  count: number;
  trace: number;
  debug: number;
  info: number;
  warn: number;
  error: number;
  fatal: number;
  /** Records whose `durationMs` reached the slow threshold. */
  slow: number;
  /** Records that had a duration, their sum and maximum. */
  durN: number;
  durSum: number;
  durMax: number | null;
}

/** An all-zero {@link BucketCounts}. */
export function emptyCounts(): BucketCounts {
  return {
    count: 0,
    trace: 0,
    debug: 0,
    info: 0,
    warn: 0,
    error: 0,
    fatal: 0,
    slow: 0,
    durN: 0,
    durSum: 0,
    durMax: null,
  };
}

/** Add `b` into `a` (mutates and returns `a`). */
export function addCounts(a: BucketCounts, b: BucketCounts): BucketCounts {
  a.count += b.count;
  a.trace += b.trace;
  a.debug += b.debug;
  a.info += b.info;
  a.warn += b.warn;
  a.error += b.error;
  a.fatal += b.fatal;
  a.slow += b.slow;
  a.durN += b.durN;
  a.durSum += b.durSum;
  if (b.durMax !== null) a.durMax = a.durMax === null ? b.durMax : Math.max(a.durMax, b.durMax);
  return a;
}

const ORDER: readonly LevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Records at `level` or above in `counts` (e.g. errors and fatals for `'error'`). */
export function countAtLeast(counts: BucketCounts, level: LevelName | number): number {
  const min = typeof level === 'number' ? level : LEVELS[level];
  let n = 0;
  for (const name of ORDER) if (LEVELS[name] >= min) n += counts[name];
  return n;
}

/** The level field of {@link BucketCounts} a numeric pino level falls in. */
export const levelKey: (level: number) => LevelName = levelName;
