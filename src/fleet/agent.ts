/**
 * The fleet agent of one host: a heartbeat that also renews this host's leases, ships its
 * per-minute counts and flushes its outbox. When PostgreSQL does not answer the host is
 * *partitioned*: it keeps serving and capturing locally (nothing here is on the service's path),
 * queues its events, takes no fleet action ({@link FleetAgent.canAct} is false), and catches up
 * (counts since the last shipped minute, queued events in order) once PostgreSQL answers again.
 */
import { errorMessage } from '../errors.js';
import type { Db } from '../store/index.js';
import type { FleetPool } from './connect.js';
import { renewLeases } from './leases.js';
import { dropFleetEvents, fleetLocal, localCountsSince, pendingFleetEvents, setFleetLocal } from './local.js';
import { fleetTemplateIds, heartbeatHost, recordAudit, recordDecision, shipCounts } from './queries.js';
import { insertVoice, wakeVoice } from './voice.js';

/** Options of {@link startFleetAgent}. */
export interface FleetAgentOptions {
  pool: FleetPool;
  /** The host's SQLite store (counts are read from it; the outbox lives in it). */
  db: Db;
  host: string;
  leaseSeconds: number;
  /** Heartbeat period, ms. Default: leaseSeconds / 4, at most 5 s. */
  heartbeatMs?: number;
  /** The release serving now, for `dancer fleet status`. */
  release?: () => string | undefined;
  log?: (message: string) => void;
  now?: () => number;
  /** After each heartbeat that reached PostgreSQL (e.g. refresh the fleet-wide counts). Errors are logged. */
  onBeat?: () => Promise<void>;
}

/** A running fleet agent. */
export interface FleetAgent {
  /** PostgreSQL answered the last heartbeat. */
  connected(): boolean;
  /** May this host take fleet actions (leases, rollouts)? Only while connected and its leases fresh. */
  canAct(): boolean;
  /** One heartbeat now (tests, and right after start); one more after it when one is running. Never throws. */
  tick(): Promise<boolean>;
  /** Local template id → fleet template id, for templates already shipped. */
  fleetTemplateId(localId: number): number | undefined;
  /** Called on each change of connectivity. */
  onChange(listener: (connected: boolean) => void): void;
  stop(): Promise<void>;
}

const CURSOR = 'counts_minute';

/** Start the heartbeat of `host`. The first tick runs at once. */
export function startFleetAgent(o: FleetAgentOptions): FleetAgent {
  const log = o.log ?? ((m: string) => process.stderr.write(`dancer: fleet: ${m}\n`));
  const now = o.now ?? Date.now;
  const period = o.heartbeatMs ?? Math.min(5000, (o.leaseSeconds * 1000) / 4);
  const ids = new Map<number, number>();
  const listeners: Array<(c: boolean) => void> = [];
  let connected = false;
  let lastOk = 0;
  let running: Promise<boolean> | undefined;
  let stopped = false;

  const setConnected = (c: boolean, why?: string) => {
    if (c === connected) return;
    connected = c;
    log(
      c
        ? 'control plane reachable: fleet actions on, catching up'
        : `control plane unreachable (${why}): serving locally, no fleet actions`,
    );
    for (const l of listeners) l(c);
  };

  const shipAllCounts = async () => {
    let cursor = Number(fleetLocal(o.db, CURSOR) ?? '0');
    for (;;) {
      const rows = localCountsSince(o.db, cursor);
      if (rows.length === 0) return;
      const missing = rows.filter((r) => !ids.has(r.localId));
      if (missing.length > 0) {
        const unique = [...new Map(missing.map((r) => [r.localId, r])).values()];
        const fleetIds = await fleetTemplateIds(o.pool, unique);
        for (const [i, r] of unique.entries()) ids.set(r.localId, fleetIds[i] as number);
      }
      // Several local ids may map to one fleet id (same text and fingerprint): add them up.
      const merged = new Map<string, { templateId: number; minute: number; count: number; errors: number }>();
      for (const r of rows) {
        const templateId = ids.get(r.localId) as number;
        const k = `${templateId}:${r.minute}`;
        const m = merged.get(k) ?? { templateId, minute: r.minute, count: 0, errors: 0 };
        m.count += r.count;
        m.errors += r.errors;
        merged.set(k, m);
      }
      await shipCounts(o.pool, o.host, [...merged.values()]);
      const last = rows[rows.length - 1]?.minute ?? cursor;
      // The last minute may still grow: it is shipped again next time (an overwrite).
      if (rows.length < 5000 || last === cursor) {
        setFleetLocal(o.db, CURSOR, String(last));
        return;
      }
      cursor = last;
      setFleetLocal(o.db, CURSOR, String(cursor));
    }
  };

  const flushOutbox = async () => {
    let spoke = false;
    for (;;) {
      const events = pendingFleetEvents(o.db);
      if (events.length === 0) break;
      for (const e of events) {
        const p = e.payload as {
          kind: string;
          reason: string;
          templateId?: number;
          details?: unknown;
          actor: string;
          action: string;
          target?: string;
          fixId: number;
          event: string;
          channel: string;
          payload: unknown;
        };
        if (e.kind === 'voice') {
          await insertVoice(o.pool, { host: o.host, channel: p.channel, payload: p.payload, at: e.createdAt });
          spoke = true;
        } else if (e.kind === 'decision') {
          await recordDecision(o.pool, {
            host: o.host,
            kind: p.kind,
            reason: p.reason,
            templateId: p.templateId,
            details: p.details,
            at: e.createdAt,
          });
        } else if (e.kind === 'audit') {
          await recordAudit(o.pool, {
            host: o.host,
            actor: p.actor,
            action: p.action,
            target: p.target,
            details: p.details,
            at: e.createdAt,
          });
        } else {
          await o.pool.query(
            `INSERT INTO fleet_fix_events (fix_id, host, actor, event, reason, at) VALUES ($1, $2, $3, $4, $5, to_timestamp($6::float8 / 1000))`,
            [p.fixId, o.host, p.actor, p.event, p.reason ?? '', e.createdAt],
          );
        }
        dropFleetEvents(o.db, e.id);
      }
    }
    if (spoke) await wakeVoice(o.pool, o.host);
  };

  const beat = async (): Promise<boolean> => {
    try {
      await heartbeatHost(o.pool, o.host, { release: o.release?.(), pid: process.pid });
      await renewLeases(o.pool, o.host, o.leaseSeconds);
      lastOk = now();
      setConnected(true);
      await shipAllCounts();
      await flushOutbox();
      if (o.onBeat) await o.onBeat().catch((e) => log(`after heartbeat: ${errorMessage(e)}`));
      return true;
    } catch (error) {
      setConnected(false, errorMessage(error));
      return false;
    }
  };

  let next: Promise<boolean> | undefined;
  const tick = (): Promise<boolean> => {
    if (running) {
      // A beat is running: events queued during it go out in the next one, right after, and the
      // caller gets that beat's answer (not the running one's, which may predate a reconnect).
      next ??= running.then(() => {
        next = undefined;
        return stopped ? false : tick();
      });
      return next;
    }
    running = beat().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void tick();
  }, period);
  timer.unref();
  void tick();

  return {
    connected: () => connected,
    canAct: () => connected && now() - lastOk < (o.leaseSeconds * 1000) / 2,
    tick,
    fleetTemplateId: (localId) => ids.get(localId),
    onChange: (l) => {
      listeners.push(l);
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
