/**
 * One log call, one record: a service that logs through `dancer/pino` AND prints the same calls
 * on stdout (pino-pretty, or pino's JSON on fd 1 beside the transport) would otherwise be stored
 * twice under `dancer run`. The transport announces itself on the capture socket; while one is
 * active, each captured output record whose first line is a transport record's message (as is,
 * or after a prefix such as `[12:00:00.000] INFO (42): `) is dropped, one for one. Output records
 * wait briefly for their transport twin, so the order in which the two arrive does not matter.
 *
 * Pure apart from the clock passed in: the caller feeds records and calls {@link tick}.
 */
import type { LogRecord } from '../store/index.js';

/** Options of {@link TransportDedupe}. */
export interface TransportDedupeOptions {
  /** How long an output record waits while no transport is known (the hello may be in flight). Default 150 ms. */
  holdMs?: number;
  /** How long an output record waits for its transport twin while a transport is active. Default 1000 ms. */
  matchHoldMs?: number;
  /** Transport records older than this no longer match. Default 10 s. */
  windowMs?: number;
  /** A transport counts as active this long after its last hello or record. Default 60 s. */
  activeMs?: number;
  /** Transport messages remembered at most. Default 10 000. */
  maxRemembered?: number;
  now?: () => number;
}

interface Pending {
  record: LogRecord;
  emit: (record: LogRecord) => void;
  until: number;
}

/** The first line of a message, trimmed: what both copies of one log call share. */
export function firstLine(message: string): string {
  const nl = message.indexOf('\n');
  return (nl === -1 ? message : message.slice(0, nl)).trim();
}

/** Keys under which an output line may match a transport message: the line, and what follows each `": "`. */
export function outputKeys(line: string): string[] {
  const keys = [line];
  let at = line.indexOf(': ');
  while (at !== -1 && keys.length < 8) {
    keys.push(line.slice(at + 2).trim());
    at = line.indexOf(': ', at + 2);
  }
  return keys;
}

/** See the module comment. */
export class TransportDedupe {
  private readonly holdMs: number;
  private readonly matchHoldMs: number;
  private readonly windowMs: number;
  private readonly activeMs: number;
  private readonly maxRemembered: number;
  private readonly now: () => number;
  /** Unmatched transport messages: first line -> arrival times (oldest first). */
  private readonly remembered = new Map<string, number[]>();
  private rememberedCount = 0;
  private readonly order: Array<{ key: string; at: number }> = [];
  private pending: Pending[] = [];
  private activeUntil = 0;
  /** Output records dropped as duplicates of transport records. */
  dropped = 0;

  constructor(options: TransportDedupeOptions = {}) {
    this.holdMs = options.holdMs ?? 150;
    this.matchHoldMs = options.matchHoldMs ?? 1000;
    this.windowMs = options.windowMs ?? 10_000;
    this.activeMs = options.activeMs ?? 60_000;
    this.maxRemembered = options.maxRemembered ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** A transport said hello on the capture socket. */
  hello(): void {
    this.activeUntil = this.now() + this.activeMs;
  }

  /** True while a transport is known to be sending. */
  get active(): boolean {
    return this.now() < this.activeUntil;
  }

  /** Records waiting for a twin or for their hold to pass. */
  get waiting(): number {
    return this.pending.length;
  }

  /** A record from a transport: stored by the caller; remembered here to drop its stdout twin. */
  transport(record: LogRecord): void {
    const now = this.now();
    this.activeUntil = now + this.activeMs;
    const key = firstLine(record.message);
    if (key === '') return;
    const i = this.pending.findIndex((p) => outputKeys(firstLine(p.record.message)).includes(key));
    if (i !== -1) {
      this.pending.splice(i, 1);
      this.dropped++;
      return;
    }
    this.expire(now);
    let times = this.remembered.get(key);
    if (!times) {
      times = [];
      this.remembered.set(key, times);
    }
    times.push(now);
    this.order.push({ key, at: now });
    this.rememberedCount++;
    while (this.rememberedCount > this.maxRemembered) this.forgetOldest();
  }

  /** A record captured from a worker's stdout or stderr: `emit` is called unless it is a duplicate. */
  output(record: LogRecord, emit: (record: LogRecord) => void): void {
    const now = this.now();
    this.expire(now);
    const line = firstLine(record.message);
    if (line !== '' && this.rememberedCount > 0) {
      for (const key of outputKeys(line)) {
        const times = this.remembered.get(key);
        if (times && times.length > 0) {
          times.shift();
          if (times.length === 0) this.remembered.delete(key);
          this.rememberedCount--;
          this.dropped++;
          return;
        }
      }
    }
    this.pending.push({ record, emit, until: now + (this.active ? this.matchHoldMs : this.holdMs) });
  }

  /** Emit the output records whose wait is over (oldest first, in arrival order). */
  tick(): void {
    const now = this.now();
    let n = 0;
    while (n < this.pending.length && (this.pending[n] as Pending).until <= now) n++;
    if (n === 0) return;
    const due = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    for (const p of due) p.emit(p.record);
  }

  /** Emit every waiting output record now (a crash, shutdown). */
  flush(): void {
    const all = this.pending;
    this.pending = [];
    for (const p of all) p.emit(p.record);
  }

  private expire(now: number): void {
    while (this.order.length > 0 && (this.order[0] as { at: number }).at < now - this.windowMs) this.forgetOldest();
  }

  private forgetOldest(): void {
    const oldest = this.order.shift();
    if (!oldest) return;
    const times = this.remembered.get(oldest.key);
    if (!times || times.length === 0 || times[0] !== oldest.at) return; // already matched
    times.shift();
    if (times.length === 0) this.remembered.delete(oldest.key);
    this.rememberedCount--;
  }
}
