/**
 * The supervisor's clock and timers, injected the way the Zulip outbox worker takes them, so the
 * deploy, observation and backoff logic can run under a fake clock in tests. Every wait here is
 * bounded.
 */

/** Milliseconds since the epoch. */
export type Clock = () => number;

/** The timer functions the supervisor uses. Handles are opaque. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Repeating timer; the real one is unref'd (it never keeps the process alive on its own). */
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** Node's timers (intervals unref'd). */
export const REAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  },
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

/** Resolve after `ms` on `timers`. */
export function sleep(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => {
    timers.setTimeout(resolve, ms);
  });
}

/**
 * Poll `done` every `everyMs` until it is true or `timeoutMs` passed on `clock`. Resolves true
 * when the condition held, false on timeout: never waits forever.
 */
export async function waitUntil(
  done: () => boolean,
  o: { timeoutMs: number; everyMs: number; clock: Clock; timers: Timers },
): Promise<boolean> {
  const deadline = o.clock() + o.timeoutMs;
  for (;;) {
    if (done()) return true;
    if (o.clock() >= deadline) return false;
    await sleep(o.timers, o.everyMs);
  }
}

/**
 * A sleep that can be cut short: `wait(ms)` resolves after `ms` or as soon as `wake()` is called,
 * whichever comes first.
 */
export class Wakeable {
  private wakeFn: (() => void) | undefined;
  constructor(private readonly timers: Timers) {}

  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const handle = this.timers.setTimeout(() => {
        this.wakeFn = undefined;
        resolve();
      }, ms);
      this.wakeFn = () => {
        this.timers.clearTimeout(handle);
        this.wakeFn = undefined;
        resolve();
      };
    });
  }

  wake(): void {
    this.wakeFn?.();
  }
}
