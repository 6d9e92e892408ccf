/**
 * What the rest of Dancer tells the bot: plain-data events on a feed. The pipeline, the
 * consultation runner and the supervisor publish; the Zulip bot (and anything else, such as the
 * dashboard) subscribes. Every field is plain data so events can be logged and replayed.
 */

/** A mined error pattern, as the bot shows it. */
export interface PatternInfo {
  id: number | string;
  /** One line: the template, e.g. `TypeError: Cannot read properties of undefined (reading <*>)`. */
  summary: string;
  /** Occurrences overall. */
  count?: number;
  /** Occurrences in the trigger window. */
  windowCount?: number;
  /** The window, e.g. `10m`. */
  window?: string;
  /** Expected occurrences in that window (baseline). */
  baseline?: number;
  firstSeen?: number;
  lastSeen?: number;
  /** new | known | fixing | fixed | ignored */
  status?: string;
  level?: string;
}

/** One gate step result. */
export interface GateResult {
  name: string;
  ok: boolean;
  durationMs?: number;
  /** A short note (e.g. `3 tests failed`). */
  detail?: string;
}

/** Per-file diff counts. */
export interface DiffFile {
  path: string;
  added: number;
  removed: number;
}

/** A fix as the bot shows it. Producers fill what they know. */
export interface FixInfo {
  id: number;
  /** Fix state: proposed, testing, awaiting_approval, approved, deploying, observing, deployed, ... */
  state: string;
  pattern: PatternInfo;
  /** One-line summary of the change. */
  title?: string;
  analysis?: string;
  rootCause?: string;
  /** Unified diff of the change. */
  diff?: string;
  files?: DiffFile[];
  gates?: GateResult[];
  risk?: { level: 'low' | 'medium' | 'high' | string; reasons?: string[] };
  costUsd?: number;
  branch?: string;
  consultationId?: number | string;
  /** Why it is where it is (last transition's reason). */
  reason?: string;
  createdAt?: number;
  updatedAt?: number;
}

/** Service metrics before and after a deploy. */
export interface MetricsSnapshot {
  /** Errors per minute. */
  errorRate?: number;
  /** The target pattern's occurrences per minute. */
  patternRate?: number;
  p50Ms?: number;
  p95Ms?: number;
  memMb?: number;
  requestsPerMin?: number;
}

/** Daily digest numbers. */
export interface DigestInfo {
  /** Period covered, ms since epoch. */
  from: number;
  to: number;
  fixes: { proposed: number; deployed: number; rolledBack: number; rejected: number; failed: number; open: number };
  consultations?: number;
  costUsd: number;
  budgetUsd?: number;
  topPatterns: PatternInfo[];
}

/**
 * A fleet's fix event as its leader relays it: the event's fix ids are the fix's fleet number, and
 * `origin` names the host it happened on with that host's own fix id (the topic shows both).
 */
export interface FixEventOrigin {
  host: string;
  fixId: number;
}

/** Everything the bot reports. `at` is ms since epoch. `origin`: see {@link FixEventOrigin}. */
export type NotifyEvent = { origin?: FixEventOrigin | undefined } & (
  | {
      type: 'consultation_started';
      at: number;
      consultationId: number | string;
      fixId?: number;
      pattern: PatternInfo;
      /** The trigger rule that fired, e.g. `rate > 3x baseline over 10m`. */
      trigger: string;
    }
  | {
      type: 'consultation_finished';
      at: number;
      consultationId: number | string;
      fixId?: number;
      pattern: PatternInfo;
      /** fix | ignore | escalate | improve_logging | failed | aborted */
      outcome: string;
      summary?: string;
      costUsd?: number;
    }
  | { type: 'fix_proposed'; at: number; fix: FixInfo }
  | { type: 'fix_state'; at: number; fix: FixInfo; from: string; to: string; actor: string; reason?: string }
  | { type: 'approval_requested'; at: number; fix: FixInfo }
  | { type: 'deploy_started'; at: number; fixId?: number; release: string; fix?: FixInfo }
  | {
      type: 'deploy_finished';
      at: number;
      fixId?: number;
      release: string;
      ok: boolean;
      before?: MetricsSnapshot;
      after?: MetricsSnapshot;
      durationMs?: number;
      detail?: string;
      fix?: FixInfo;
    }
  | {
      type: 'rollback';
      at: number;
      fixId?: number;
      fromRelease?: string;
      toRelease?: string;
      reason: string;
      actor: string;
      ok: boolean;
      /** The observation window's figures, when the rollback ended one. */
      before?: MetricsSnapshot;
      after?: MetricsSnapshot;
      fix?: FixInfo;
    }
  | { type: 'failure'; at: number; component: string; message: string; code?: string; fixId?: number }
  | { type: 'stopped'; at: number; by: string; reason?: string; detail?: string }
  | { type: 'resumed'; at: number; by: string }
  | { type: 'digest'; at: number; digest: DigestInfo }
);

/** Subscribe to events; returns the unsubscribe function. */
export interface NotifyFeed {
  subscribe(listener: (event: NotifyEvent) => void): () => void;
}

/** A feed a producer can publish on. */
export interface NotifyHub extends NotifyFeed {
  publish(event: NotifyEvent): void;
}

/**
 * An in-process feed. `publish` calls every listener synchronously, in subscription order; a
 * listener that throws does not stop the others (its error goes to `onListenerError`, by default a
 * process warning).
 */
export function createNotifyHub(
  onListenerError: (error: unknown) => void = (error) =>
    process.emitWarning(
      `notify listener failed: ${error instanceof Error ? error.message : String(error)}`,
      'DancerNotify',
    ),
): NotifyHub {
  const listeners = new Set<(event: NotifyEvent) => void>();
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    publish(event) {
      for (const listener of [...listeners]) {
        try {
          listener(event);
        } catch (error) {
          onListenerError(error);
        }
      }
    },
  };
}
