/**
 * The eviction order of the miner's live templates (see the cap in miner.ts): two intrusive
 * least-recently-seen lists, O(1) per message. A new template starts in `probation`; a template
 * seen a second time moves to `main`. Eviction takes the oldest of probation first (a flood of
 * unique lines evicts its own kind), then the oldest of main, so a template that recurs outlives
 * any number of one-off shapes.
 */
import type { Cluster } from './miner-types.js';

const PROBATION = 1;
const MAIN = 2;

interface List {
  head: Cluster | undefined;
  tail: Cluster | undefined;
  size: number;
}

/** Least-recently-seen order of live templates, in two lists (see the module comment). */
export class TemplateLru {
  private readonly probation: List = { head: undefined, tail: undefined, size: 0 };
  private readonly main: List = { head: undefined, tail: undefined, size: 0 };

  /** Templates listed (every live template but the pinned ones). */
  get size(): number {
    return this.probation.size + this.main.size;
  }

  /** List a template as the most recently seen of its kind (seen once, or more). */
  add(c: Cluster): void {
    this.push(c, c.count >= 2 ? MAIN : PROBATION);
  }

  /** A template was seen (or changed): it becomes the most recent; a second sighting promotes it. */
  touch(c: Cluster): void {
    if (c.lru === undefined) return; // pinned or not live
    const to = c.lru === PROBATION && c.count >= 2 ? MAIN : c.lru;
    if (c.lru === to && this.list(to).head === c) return;
    this.remove(c);
    this.push(c, to);
  }

  /** Unlist a template (evicted, merged into another, or pinned). */
  remove(c: Cluster): void {
    if (c.lru === undefined) return;
    const list = this.list(c.lru);
    if (c.lruPrev) c.lruPrev.lruNext = c.lruNext;
    else list.head = c.lruNext;
    if (c.lruNext) c.lruNext.lruPrev = c.lruPrev;
    else list.tail = c.lruPrev;
    c.lruPrev = undefined;
    c.lruNext = undefined;
    c.lru = undefined;
    list.size--;
  }

  /**
   * The least valuable template that may go, or undefined: the oldest of probation, else the
   * oldest of main. A template with unsaved changes (`unsaved`) may not go; since every template
   * touched since the last save is ahead of every other in its list, an unsaved oldest means the
   * whole list is unsaved.
   */
  victim(unsaved: (c: Cluster) => boolean): Cluster | undefined {
    for (const list of [this.probation, this.main]) {
      const c = list.tail;
      if (c !== undefined && !unsaved(c)) return c;
    }
    return undefined;
  }

  private list(which: typeof PROBATION | typeof MAIN): List {
    return which === PROBATION ? this.probation : this.main;
  }

  private push(c: Cluster, to: typeof PROBATION | typeof MAIN): void {
    const list = this.list(to);
    c.lru = to;
    c.lruPrev = undefined;
    c.lruNext = list.head;
    if (list.head) list.head.lruPrev = c;
    list.head = c;
    list.tail ??= c;
    list.size++;
  }
}
