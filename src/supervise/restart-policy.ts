/**
 * Crash restarts as OTP supervisors do them: exponential backoff between restarts, and an
 * intensity limit (at most `maxRestarts` restarts within `withinMs`); past the limit the
 * service is marked failed and no longer restarted. Pure: plain data in, plain data out.
 */

/** The restart limits (from `service.restart`). */
export interface RestartPolicy {
  maxRestarts: number;
  withinMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

/** What the policy remembers: times of recent restarts (ms since epoch), oldest first. */
export interface RestartHistory {
  restarts: readonly number[];
}

/** The decision after a crash. */
export type RestartDecision =
  | { action: 'restart'; delayMs: number; history: RestartHistory; attempt: number }
  | { action: 'give_up'; history: RestartHistory; reason: string };

/** An empty history. */
export const NO_RESTARTS: RestartHistory = { restarts: [] };

/**
 * Decide what to do after a crash at `now`. Restarts older than the intensity period are
 * forgotten; when `maxRestarts` are already inside it, give up. The delay doubles with each
 * restart inside the period, from `backoffInitialMs` up to `backoffMaxMs`.
 */
export function decideRestart(history: RestartHistory, now: number, policy: RestartPolicy): RestartDecision {
  const recent = history.restarts.filter((t) => now - t < policy.withinMs);
  if (recent.length >= policy.maxRestarts) {
    return {
      action: 'give_up',
      history: { restarts: recent },
      reason: `${recent.length} restarts within ${Math.round(policy.withinMs / 1000)} s (limit ${policy.maxRestarts})`,
    };
  }
  const attempt = recent.length + 1;
  const delayMs = Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** recent.length);
  return { action: 'restart', delayMs, history: { restarts: [...recent, now] }, attempt };
}

/** Restarts counted inside the intensity period at `now`. */
export function recentRestarts(history: RestartHistory, now: number, policy: RestartPolicy): number {
  return history.restarts.filter((t) => now - t < policy.withinMs).length;
}

/** The restart policy from `service.restart`. */
export function restartPolicyOf(r: {
  maxRestarts: number;
  withinSeconds: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}): RestartPolicy {
  return {
    maxRestarts: r.maxRestarts,
    withinMs: r.withinSeconds * 1000,
    backoffInitialMs: r.backoffInitialMs,
    backoffMaxMs: r.backoffMaxMs,
  };
}
