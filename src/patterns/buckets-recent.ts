/**
 * The recent minutes of `template_buckets`, kept in memory by the detector so that evaluating a
 * batch reads no rows. The detector is the only writer of the buckets: it applies each committed
 * batch's increments here, and loads a template's recent minutes from the store the first time it
 * sees the template (so a restart loses nothing). Memory holds only templates active in the span.
 */
import type { Db } from '../store/index.js';
import type { BucketDelta } from './buckets.js';
import { bucketRowsFor, minuteTotals } from './buckets-store.js';
import { addCounts, type BucketCounts, emptyCounts } from './windows.js';

/** In-memory recent bucket sums per template and overall. */
export class RecentBuckets {
  readonly #db: Db;
  readonly #span: number;
  readonly #byTemplate = new Map<number, Map<number, BucketCounts>>();
  #overall: Map<number, BucketCounts> | undefined;

  /** `spanMinutes`: the longest window that will be asked for. */
  constructor(db: Db, spanMinutes: number) {
    this.#db = db;
    this.#span = Math.max(1, spanMinutes);
  }

  /**
   * Apply committed increments to what is cached (templates not cached yet are loaded later from
   * the store, which already holds these increments). Call after the commit, before {@link ensure}.
   */
  apply(deltas: readonly BucketDelta[]): void {
    for (const d of deltas) {
      const t = this.#byTemplate.get(d.templateId);
      if (t !== undefined) add(t, d.minute, d.counts);
      if (this.#overall !== undefined) add(this.#overall, d.minute, d.counts);
    }
  }

  /** Load the templates not cached yet (and the overall sums) for the span ending at `nowMinute`. */
  ensure(ids: Iterable<number>, nowMinute: number): void {
    const from = nowMinute - this.#span + 1;
    const missing = [...ids].filter((id) => !this.#byTemplate.has(id));
    if (missing.length > 0) {
      for (const id of missing) this.#byTemplate.set(id, new Map());
      for (const row of bucketRowsFor(this.#db, missing, from)) {
        add(this.#byTemplate.get(row.templateId) as Map<number, BucketCounts>, row.minute, row.counts);
      }
    }
    if (this.#overall === undefined) {
      this.#overall = new Map();
      for (const row of minuteTotals(this.#db, from)) add(this.#overall, row.minute, row.counts);
    }
  }

  /** Sum of a template's buckets over minutes `from..to` (call {@link ensure} first). */
  template(id: number, from: number, to: number): BucketCounts {
    return sum(this.#byTemplate.get(id), from, to);
  }

  /** Sum of every template's buckets over minutes `from..to`. */
  overall(from: number, to: number): BucketCounts {
    return sum(this.#overall, from, to);
  }

  /** Forget minutes older than the span ending at `nowMinute`, and templates left with none. */
  prune(nowMinute: number): void {
    const from = nowMinute - this.#span + 1;
    for (const [id, minutes] of this.#byTemplate) {
      for (const m of minutes.keys()) if (m < from) minutes.delete(m);
      if (minutes.size === 0) this.#byTemplate.delete(id);
    }
    if (this.#overall) for (const m of this.#overall.keys()) if (m < from) this.#overall.delete(m);
  }

  /** Templates cached (for tests and stats). */
  get size(): number {
    return this.#byTemplate.size;
  }
}

function add(map: Map<number, BucketCounts>, minute: number, counts: BucketCounts): void {
  let c = map.get(minute);
  if (c === undefined) {
    c = emptyCounts();
    map.set(minute, c);
  }
  addCounts(c, counts);
}

function sum(map: Map<number, BucketCounts> | undefined, from: number, to: number): BucketCounts {
  const total = emptyCounts();
  if (map === undefined) return total;
  for (const [m, c] of map) if (m >= from && m <= to) addCounts(total, c);
  return total;
}
