/**
 * One voice for the fleet. Every host publishes what it would tell humans (Zulip events, the
 * store changes webhooks carry) into its local `fleet_outbox` (so a host cut off from
 * PostgreSQL loses nothing); its agent ships them, in order, into `fleet_voice`. Only the
 * leader (leader.ts) runs the Zulip bot and the webhook sender, and its relay hands each row to
 * them exactly once: rows are claimed with `FOR UPDATE SKIP LOCKED` and marked delivered in the
 * same transaction, after they are in the leader's own durable outboxes (SQLite). A leader
 * that dies leaves the rows it had not claimed to its successor.
 */
import { errorMessage } from '../errors.js';
import type { Db } from '../store/index.js';
import type { FleetPool, Queryable } from './connect.js';
import { enqueueFleetEvent } from './local.js';
import { sendFleetSignal } from './signals.js';

/** Where a voice event goes on the leader. */
export type VoiceChannel = 'zulip' | 'webhook';

/** A voice event as the leader receives it. */
export interface VoiceEvent {
  id: number;
  /** The host the event happened on. */
  host: string;
  channel: VoiceChannel;
  payload: unknown;
  /** ms since epoch, the origin host's clock. */
  at: number;
}

/** Queue a voice event on this host (shipped by the agent at its next heartbeat). */
export function publishVoice(db: Db, channel: VoiceChannel, payload: unknown, now = Date.now()): void {
  enqueueFleetEvent(db, 'voice', { channel, payload }, now);
}

/** Store one shipped voice event (the agent's flush). */
export async function insertVoice(
  q: Queryable,
  e: { host: string; channel: string; payload: unknown; at: number },
): Promise<void> {
  await q.query(
    `INSERT INTO fleet_voice (host, channel, payload, created_at) VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000))`,
    [e.host, e.channel, JSON.stringify(e.payload ?? null), e.at],
  );
}

/** Wake the leader's relay (after a flush that shipped voice events). */
export async function wakeVoice(q: Queryable, host: string): Promise<void> {
  await sendFleetSignal(q, host, { kind: 'voice' });
}

/**
 * The host a fix belongs to, judged by the newest voice event that names fix `fixId` (fix ids
 * are each host's own). Undefined when no host spoke of it.
 */
export async function voiceOwnerOfFix(q: Queryable, fixId: number): Promise<string | undefined> {
  const r = await q.query(
    `SELECT host FROM fleet_voice
     WHERE channel = 'zulip' AND (payload->>'fixId' = $1 OR payload->'fix'->>'id' = $1)
     ORDER BY id DESC LIMIT 1`,
    [String(fixId)],
  );
  return r.rows[0]?.host;
}

/** Options of {@link startVoiceRelay}. */
export interface VoiceRelayOptions {
  pool: FleetPool;
  host: string;
  /** Deliver only while this host leads. */
  isLeader: () => boolean;
  /** Hand one event to the local voice (the bot's outbox, the webhook outbox). Synchronous and durable. */
  deliver: (event: VoiceEvent) => void;
  /** Poll period while leading, ms (a `voice` signal wakes it sooner). Default 1000. */
  pollMs?: number;
  log?: (message: string) => void;
}

/** A running relay. */
export interface VoiceRelay {
  /** Deliver what is pending now (when leading). Resolves with the number delivered. */
  poke(): Promise<number>;
  stop(): Promise<void>;
}

/** Deliver the fleet's pending voice events on the leader, in order, once each. */
export function startVoiceRelay(o: VoiceRelayOptions): VoiceRelay {
  const log = o.log ?? ((m: string) => process.stderr.write(`dancer: fleet: ${m}\n`));
  let stopped = false;
  let running: Promise<number> | undefined;
  let again = false;

  const round = async (): Promise<number> => {
    if (stopped || !o.isLeader()) return 0;
    const c = await o.pool.connect();
    let delivered = 0;
    try {
      await c.query('BEGIN');
      const r = await c.query(
        `SELECT id, host, channel, payload, (EXTRACT(EPOCH FROM created_at) * 1000)::float8 AS at
         FROM fleet_voice WHERE delivered_at IS NULL ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED`,
      );
      const ids: number[] = [];
      for (const row of r.rows) {
        if (!o.isLeader()) break;
        const event: VoiceEvent = {
          id: Number(row.id),
          host: row.host,
          channel: row.channel,
          payload: row.payload,
          at: Number(row.at),
        };
        try {
          o.deliver(event);
        } catch (error) {
          // A payload the voice cannot take is reported and passed over (it would block the rest).
          log(`voice event ${event.id} from ${event.host} not delivered: ${errorMessage(error)}`);
        }
        ids.push(event.id);
      }
      if (ids.length > 0) {
        await c.query(`UPDATE fleet_voice SET delivered_at = now(), delivered_by = $2 WHERE id = ANY($1::bigint[])`, [
          ids,
          o.host,
        ]);
      }
      await c.query('COMMIT');
      delivered = ids.length;
    } catch (error) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      c.release();
    }
    return delivered;
  };

  const poke = (): Promise<number> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      try {
        do {
          again = false;
          const n = await round();
          total += n;
          if (n === 200) again = true;
        } while (again && !stopped);
      } catch (error) {
        log(`voice relay: ${errorMessage(error)}`);
      } finally {
        running = undefined;
      }
      return total;
    })();
    return running;
  };

  const timer = setInterval(() => void poke(), o.pollMs ?? 1000);
  timer.unref();

  return {
    poke,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
