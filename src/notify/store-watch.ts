/**
 * Watch the store for what humans and the system did, whichever process did it (the supervisor,
 * the CLI, the Zulip bot, the dashboard): fix transitions, deploys and rollbacks, detector
 * decisions, the emergency stop and the audit log. The dashboard's server-sent events, the
 * webhooks and the Zulip bot's stop/resume announcements all read from here.
 *
 * It polls cheap indexed queries (the highest rowids of append-only tables, the last few deploys,
 * one flag row), so a change made by another process is seen within one interval.
 */
import { fixEventsAfter, lastFixEventId } from '../fixes/index.js';
import { decisionsAfter, lastDecisionId } from '../patterns/index.js';
import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';
import { type DeployRow, emergencyStop, latestDeploys } from '../supervise/index.js';

/** One thing that changed in the store. `at` is ms since epoch (the row's own time). */
export type StoreChange =
  | {
      type: 'fix_state';
      at: number;
      eventId: number;
      fixId: number;
      from: string | null;
      to: string;
      event: string;
      actor: string;
      reason: string;
    }
  | {
      type: 'deploy' | 'rollback';
      at: number;
      deployId: number;
      kind: string;
      status: string;
      fixId: number | null;
      fromRelease: string | null;
      toRelease: string;
      reason: string | null;
      actor: string | null;
    }
  | {
      type: 'decision';
      at: number;
      decisionId: number;
      rule: string;
      outcome: 'fire' | 'suppress';
      templateId: number | null;
      reasonCode: string;
      reason: string;
    }
  | { type: 'stop'; at: number; by: string | null; reason: string | null }
  | { type: 'resume'; at: number }
  | {
      type: 'audit';
      at: number;
      auditId: number;
      actor: string;
      source: string;
      action: string;
      target: string | null;
      outcome: string;
      detail: string | null;
    };

/** Where the watcher stands: the last row seen of each table. */
export interface WatchCursor {
  fixEvents: number;
  decisions: number;
  audit: number;
  /** Deploy id -> last status seen (only recent deploys are tracked). */
  deploys: Map<number, string>;
  /** `set_at` of the emergency stop seen last, or null when it was off. */
  stopSetAt: number | null;
}

const maxAuditId = (db: Db): number =>
  tableExists(db, 'audit') ? (db.prepare('SELECT COALESCE(MAX(id), 0) AS m FROM audit').get() as { m: number }).m : 0;

const RECENT_DEPLOYS = 20;

const recentDeploys = (db: Db): DeployRow[] => latestDeploys(db, RECENT_DEPLOYS);

/** The cursor at the store's present: a watcher started from it reports only what comes next. */
export function cursorNow(db: Db): WatchCursor {
  const deploys = new Map<number, string>();
  for (const d of recentDeploys(db)) deploys.set(d.id, d.status);
  return {
    fixEvents: lastFixEventId(db),
    decisions: lastDecisionId(db),
    audit: maxAuditId(db),
    deploys,
    stopSetAt: emergencyStop(db)?.setAt ?? null,
  };
}

/**
 * Everything that changed since `cursor`, oldest first within each kind; advances `cursor`.
 * At most `limit` rows per table per call (the rest comes on the next call).
 */
export function changesSince(db: Db, cursor: WatchCursor, limit = 500): StoreChange[] {
  const out: StoreChange[] = [];
  for (const r of fixEventsAfter(db, cursor.fixEvents, limit)) {
    out.push({
      type: 'fix_state',
      at: r.ts,
      eventId: r.id,
      fixId: r.fixId,
      from: r.fromState,
      to: r.toState,
      event: r.event,
      actor: r.actor,
      reason: r.reason,
    });
    cursor.fixEvents = r.id;
  }
  const deploys = recentDeploys(db).reverse();
  for (const d of deploys) {
    if (cursor.deploys.get(d.id) === d.status) continue;
    cursor.deploys.set(d.id, d.status);
    const isRollback = d.kind === 'rollback' || d.status === 'rolled_back';
    out.push({
      type: isRollback ? 'rollback' : 'deploy',
      at: d.finishedAt ?? d.readyAt ?? d.startedAt,
      deployId: d.id,
      kind: d.kind,
      status: d.status,
      fixId: d.fixId,
      fromRelease: d.fromRelease,
      toRelease: d.toRelease,
      reason: d.reason,
      actor: d.actor,
    });
  }
  if (cursor.deploys.size > RECENT_DEPLOYS * 2) {
    const keep = new Set(deploys.map((d) => d.id));
    for (const id of cursor.deploys.keys()) if (!keep.has(id)) cursor.deploys.delete(id);
  }
  for (const r of decisionsAfter(db, cursor.decisions, { limit })) {
    out.push({
      type: 'decision',
      at: r.at,
      decisionId: r.id,
      rule: r.rule,
      outcome: r.outcome,
      templateId: r.templateId,
      reasonCode: r.reasonCode,
      reason: r.reason,
    });
    cursor.decisions = r.id;
  }
  const flag = emergencyStop(db);
  if (flag && flag.setAt !== cursor.stopSetAt) {
    // A resume and a new stop between two polls: the stop that holds now is what matters.
    out.push({ type: 'stop', at: flag.setAt, by: flag.setBy, reason: flag.reason });
    cursor.stopSetAt = flag.setAt;
  } else if (!flag && cursor.stopSetAt !== null) {
    out.push({ type: 'resume', at: Date.now() });
    cursor.stopSetAt = null;
  }
  if (tableExists(db, 'audit')) {
    const rows = db
      .prepare(
        'SELECT id, ts, actor, source, action, target, outcome, detail FROM audit WHERE id > ? ORDER BY id LIMIT ?',
      )
      .all(cursor.audit, limit) as Array<{
      id: number;
      ts: number;
      actor: string;
      source: string;
      action: string;
      target: string | null;
      outcome: string;
      detail: string | null;
    }>;
    for (const r of rows) {
      out.push({
        type: 'audit',
        at: r.ts,
        auditId: r.id,
        actor: r.actor,
        source: r.source,
        action: r.action,
        target: r.target,
        outcome: r.outcome,
        detail: r.detail,
      });
      cursor.audit = r.id;
    }
  }
  return out;
}

/** Options of {@link watchStore}. */
export interface WatchStoreOptions {
  /** Poll interval, ms. Default 250 (a change is reported well within a second). */
  intervalMs?: number;
  /** Start here instead of the store's present. */
  cursor?: WatchCursor;
  onError?: (error: unknown) => void;
}

/** A running watcher. */
export interface StoreWatcher {
  /** Add a listener; returns the function that removes it. */
  subscribe(listener: (change: StoreChange) => void): () => void;
  /** Check now (tests, and after an action the caller knows changed the store). */
  poll(): void;
  close(): void;
}

/**
 * Poll `db` for changes and hand each to the listeners, in order. A listener that throws does
 * not stop the others (its error goes to `onError`).
 */
export function watchStore(db: Db, options: WatchStoreOptions = {}): StoreWatcher {
  const cursor = options.cursor ?? cursorNow(db);
  const listeners = new Set<(change: StoreChange) => void>();
  const report = options.onError ?? ((e: unknown) => process.emitWarning(String(e), 'DancerWatch'));
  let closed = false;
  const poll = () => {
    if (closed || !db.open) return;
    let changes: StoreChange[];
    try {
      changes = changesSince(db, cursor);
    } catch (error) {
      report(error);
      return;
    }
    for (const change of changes) {
      for (const listener of [...listeners]) {
        try {
          listener(change);
        } catch (error) {
          report(error);
        }
      }
    }
  };
  const timer = setInterval(poll, options.intervalMs ?? 250);
  timer.unref();
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    poll,
    close() {
      closed = true;
      clearInterval(timer);
      listeners.clear();
    },
  };
}
