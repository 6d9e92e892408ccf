import type { LogRecord } from '../store/index.js';

/** Default bound on queued records (`capture.queueMaxRecords`). */
export const DEFAULT_QUEUE_MAX_RECORDS = 50_000;
/** Default bound on the estimated bytes held by the queue. */
export const DEFAULT_QUEUE_MAX_BYTES = 64 * 1024 * 1024;

/** Options for {@link CaptureQueue}. */
export interface CaptureQueueOptions {
  /** At most this many records are held. Default 50 000. */
  maxRecords?: number | undefined;
  /** At most about this many bytes are held (see {@link estimateRecordBytes}). Default 64 MiB. */
  maxBytes?: number | undefined;
}

/** What {@link CaptureQueue.push} did with a record. */
export type PushResult = 'queued' | 'evicted' | 'dropped';

/** A rough size of a record in memory, for the byte bound. */
export function estimateRecordBytes(record: LogRecord): number {
  return 200 + record.message.length * 2 + (record.stack?.length ?? 0) * 2 + (record.errMessage?.length ?? 0) * 2;
}

/** Priority class of a level: 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 fatal. */
export function levelClass(level: number): number {
  if (level >= 60) return 5;
  if (level >= 50) return 4;
  if (level >= 40) return 3;
  if (level >= 30) return 2;
  if (level >= 20) return 1;
  return 0;
}

const CLASSES = 6;

interface Entry<T> {
  seq: number;
  item: T;
  bytes: number;
}

/** A FIFO with O(1) shift (an array with a moving head, compacted now and then). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  at(index: number): T | undefined {
    return this.items[this.head + index];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined as T;
    this.head++;
    if (this.head > 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/**
 * A bounded queue between a producer that must never wait (the app's log calls, a child's
 * output) and a consumer that may be slow (the store). When full, the least important record
 * goes: the oldest record of the lowest level class present, if it is below the incoming
 * record's class; otherwise the incoming record itself. So debug goes before info, info before
 * warn, and errors last. Every loss is counted under reason `overload`. Records come out in the
 * order they went in. Pure data structure: no I/O, no timers.
 */
export class CaptureQueue<T = LogRecord> {
  readonly maxRecords: number;
  readonly maxBytes: number;
  private readonly buckets: Fifo<Entry<T>>[] = [];
  private readonly levelOf: (item: T) => number;
  private readonly sizeOf: (item: T) => number;
  private seq = 0;
  private count = 0;
  private heldBytes = 0;
  private readonly droppedByClass: number[] = new Array<number>(CLASSES).fill(0);

  constructor(
    options: CaptureQueueOptions = {},
    levelOf: (item: T) => number = (item) => (item as unknown as LogRecord).level,
    sizeOf: (item: T) => number = (item) => estimateRecordBytes(item as unknown as LogRecord),
  ) {
    this.maxRecords = Math.max(1, options.maxRecords ?? DEFAULT_QUEUE_MAX_RECORDS);
    this.maxBytes = Math.max(1, options.maxBytes ?? DEFAULT_QUEUE_MAX_BYTES);
    this.levelOf = levelOf;
    this.sizeOf = sizeOf;
    for (let i = 0; i < CLASSES; i++) this.buckets.push(new Fifo());
  }

  /** Records held. */
  get size(): number {
    return this.count;
  }

  /** Estimated bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Records dropped so far (all classes). */
  get droppedTotal(): number {
    return this.droppedByClass.reduce((a, b) => a + b, 0);
  }

  /** Records dropped so far, by level class (0 trace .. 5 fatal). */
  droppedByLevelClass(): readonly number[] {
    return [...this.droppedByClass];
  }

  /** Drop counts by reason, for the store's `dropped` table. */
  dropped(): Record<string, number> {
    const total = this.droppedTotal;
    return total === 0 ? {} : { overload: total };
  }

  /**
   * Whether a record of `level` would be accepted right now (without evicting anything of its
   * own class or above). Lets a producer skip parsing a line that would be dropped anyway.
   */
  wouldAccept(level: number, bytes = 0): boolean {
    if (this.count < this.maxRecords && this.heldBytes + bytes <= this.maxBytes) return true;
    const cls = levelClass(level);
    for (let c = 0; c < cls; c++) if ((this.buckets[c] as Fifo<Entry<T>>).length > 0) return true;
    return false;
  }

  /** Count a record the producer dropped without pushing it (see {@link wouldAccept}). */
  countDropped(level: number, n = 1): void {
    const cls = levelClass(level);
    this.droppedByClass[cls] = (this.droppedByClass[cls] ?? 0) + n;
  }

  /** Add a record; never blocks. Returns what happened to make room, if anything. */
  push(item: T): PushResult {
    const cls = levelClass(this.levelOf(item));
    const bytes = this.sizeOf(item);
    const victims = this.victimsFor(cls, bytes);
    if (victims === -1) {
      this.countDropped(this.levelOf(item));
      return 'dropped';
    }
    for (let n = 0; n < victims; n++) {
      const victim = this.lowestBelow(cls);
      const entry = (this.buckets[victim] as Fifo<Entry<T>>).shift() as Entry<T>;
      this.count--;
      this.heldBytes -= entry.bytes;
      this.droppedByClass[victim] = (this.droppedByClass[victim] ?? 0) + 1;
    }
    (this.buckets[cls] as Fifo<Entry<T>>).push({ seq: this.seq++, item, bytes });
    this.count++;
    this.heldBytes += bytes;
    return victims > 0 ? 'evicted' : 'queued';
  }

  /**
   * How many records (the oldest of the lowest classes below `cls`) must go to make room for a
   * record of class `cls` and size `bytes`; -1 when even that would not make room.
   */
  private victimsFor(cls: number, bytes: number): number {
    let count = this.count;
    let held = this.heldBytes;
    const fits = () => count === 0 || (count < this.maxRecords && held + bytes <= this.maxBytes);
    if (fits()) return 0;
    let n = 0;
    for (let c = 0; c < cls; c++) {
      const bucket = this.buckets[c] as Fifo<Entry<T>>;
      for (let i = 0; i < bucket.length; i++) {
        const entry = bucket.at(i) as Entry<T>;
        count--;
        held -= entry.bytes;
        n++;
        if (fits()) return n;
      }
    }
    return -1;
  }

  /** Take up to `max` records, oldest first. */
  drain(max = Number.POSITIVE_INFINITY): T[] {
    const out: T[] = [];
    while (out.length < max && this.count > 0) {
      let best = -1;
      let bestSeq = Number.POSITIVE_INFINITY;
      for (let c = 0; c < CLASSES; c++) {
        const head = (this.buckets[c] as Fifo<Entry<T>>).peek();
        if (head !== undefined && head.seq < bestSeq) {
          best = c;
          bestSeq = head.seq;
        }
      }
      const entry = (this.buckets[best] as Fifo<Entry<T>>).shift() as Entry<T>;
      this.count--;
      this.heldBytes -= entry.bytes;
      out.push(entry.item);
    }
    return out;
  }

  private lowestBelow(cls: number): number {
    for (let c = 0; c < cls; c++) if ((this.buckets[c] as Fifo<Entry<T>>).length > 0) return c;
    return -1;
  }
}
