/**
 * Fleet-wide signals over PostgreSQL LISTEN/NOTIFY: the emergency stop, resume, rollback and
 * human commands (Zulip, the dashboard, the CLI) reach every host within a second or two. A
 * NOTIFY is only a wake-up: what must survive (the stop) is also a row, and a listener that
 * reconnects calls `onReconnect` so its host re-reads the rows it may have missed.
 */
import pg from 'pg';
import { errorMessage } from '../errors.js';
import type { Queryable } from './connect.js';

/** The channel every host listens on. */
export const FLEET_CHANNEL = 'dancer_fleet';

/** A message to every host. */
export type FleetSignal =
  | { kind: 'stop'; actor: string; reason: string }
  | { kind: 'resume'; actor: string; reason: string }
  | { kind: 'rollback'; actor: string; reason: string; fixId?: number | undefined; host?: string | undefined }
  | { kind: 'rollout'; fixId: number }
  | {
      kind: 'command';
      actor: string;
      text: string;
      /** A fix command routed to the host that owns the fix (see human.ts). */
      name?: 'approve' | 'reject' | 'rollback' | undefined;
      fixId?: number | undefined;
      host?: string | undefined;
      reason?: string | undefined;
    }
  | { kind: 'voice' };

/** A signal as received, with the host that sent it. */
export type ReceivedSignal = FleetSignal & { from: string; sentAt: number };

/** Send `signal` to every host (in the caller's transaction when `q` is a client inside one). */
export async function sendFleetSignal(q: Queryable, from: string, signal: FleetSignal): Promise<void> {
  await q.query('SELECT pg_notify($1, $2)', [FLEET_CHANNEL, JSON.stringify({ ...signal, from, sentAt: Date.now() })]);
}

/** Options of {@link listenFleet}. */
export interface FleetListenerOptions {
  url: string;
  onSignal: (signal: ReceivedSignal) => void;
  /** After a (re)connection: re-read the persisted state (stop flag, rollouts) that NOTIFY may have missed. */
  onReconnect?: () => void;
  log?: (message: string) => void;
  /** Reconnect delay after a lost connection, ms. Default 1000. */
  retryMs?: number;
}

/** A running listener. */
export interface FleetListener {
  connected(): boolean;
  stop(): Promise<void>;
}

/** The session settings that make PostgreSQL notice a vanished client within ~`seconds`. */
export function keepaliveOptions(seconds: number): string {
  const idle = Math.max(1, Math.floor(seconds / 3));
  return `-c tcp_keepalives_idle=${idle} -c tcp_keepalives_interval=${idle} -c tcp_keepalives_count=2`;
}

/** LISTEN on the fleet channel on a dedicated connection, reconnecting until stopped. */
export function listenFleet(o: FleetListenerOptions): FleetListener {
  const log = o.log ?? ((m: string) => process.stderr.write(`dancer: fleet: ${m}\n`));
  let client: pg.Client | undefined;
  let stopped = false;
  let isConnected = false;
  let timer: NodeJS.Timeout | undefined;

  const schedule = () => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, o.retryMs ?? 1000);
    timer.unref();
  };

  const connect = async () => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: o.url, connectionTimeoutMillis: 3000, keepAlive: true });
    client = c;
    c.on('error', (e) => {
      if (isConnected) log(`listener lost its connection: ${errorMessage(e)}`);
      isConnected = false;
      c.end().catch(() => undefined);
      schedule();
    });
    c.on('end', () => {
      isConnected = false;
      schedule();
    });
    c.on('notification', (n) => {
      if (n.channel !== FLEET_CHANNEL || !n.payload) return;
      let parsed: ReceivedSignal;
      try {
        parsed = JSON.parse(n.payload) as ReceivedSignal;
      } catch {
        log(`ignored a malformed fleet signal`);
        return;
      }
      o.onSignal(parsed);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${FLEET_CHANNEL}`);
      if (stopped) {
        await c.end();
        return;
      }
      isConnected = true;
      o.onReconnect?.();
    } catch (error) {
      isConnected = false;
      c.end().catch(() => undefined);
      if (!stopped) schedule();
      void error;
    }
  };
  void connect();

  return {
    connected: () => isConnected,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      isConnected = false;
      await client?.end().catch(() => undefined);
    },
  };
}
