/**
 * One voice for the fleet. Every host publishes what it would tell humans (Zulip events, the
 * store changes webhooks carry) into its local `fleet_outbox` (so a host cut off from
 * PostgreSQL loses nothing); its agent ships them, in order, into `fleet_voice`. Only the
 * leader (leader.ts) runs the Zulip bot and the webhook sender, and its relay hands each row to
 * them: rows are claimed with `FOR UPDATE SKIP LOCKED` and marked delivered (`delivered_by`, with
 * a receipt naming the rows they became in the leader's durable outboxes) in the same
 * transaction. A claim holds until the leader's outboxes posted those rows (`posted_at`, checked
 * at each round). A claim by a host that no longer leads (it was killed, or stepped down, before
 * Zulip took the message) is claimed again by the next leader and posted by it; the earlier
 * claim is kept in `abandoned`, and the host that made it drops its leftover rows before it
 * speaks again ({@link VoiceRelay.takeOver}). Delivery is at least once: only a leader killed
 * between Zulip accepting a row and its next round (about a second) leaves a duplicate.
 */
import { errorMessage } from '../errors.js';
import type { Db } from '../store/index.js';
import type { FleetPool, Queryable } from './connect.js';
import { withFleetFixRefs } from './fix-refs.js';
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

/** Options of {@link startVoiceRelay}. */
export interface VoiceRelayOptions {
  pool: FleetPool;
  host: string;
  /** Deliver only while this host leads. */
  isLeader: () => boolean;
  /**
   * Can the local voice take events now (its bot and webhook sender are attached)? Until then a
   * leader leaves the fleet's events unclaimed rather than hand them to nobody. Default: yes.
   */
  ready?: (() => boolean) | undefined;
  /**
   * Hand one event to the local voice (the bot's outbox, the webhook outbox). Synchronous and
   * durable. Returns a receipt (JSON) naming what it queued, for `settled` and `discard`.
   */
  deliver: (event: VoiceEvent) => unknown;
  /** Has everything a receipt names left the local outboxes? Without it a delivery counts as posted. */
  settled?: ((receipt: unknown) => boolean) | undefined;
  /** Drop what a receipt names that is still queued here (another leader posted it). */
  discard?: ((receipt: unknown) => void) | undefined;
  /**
   * A claim without a receipt (its delivery failed, or an older leader's) is taken again after
   * this many seconds even from this host. Default 60.
   */
  claimSeconds?: number | undefined;
  /** Poll period while leading, ms (a `voice` signal wakes it sooner). Default 1000. */
  pollMs?: number;
  log?: (message: string) => void;
}

/** A running relay. */
export interface VoiceRelay {
  /** Deliver what is pending now (when leading). Resolves with the number delivered. */
  poke(): Promise<number>;
  /**
   * Before this host's voice starts (it became the leader): drop from its outboxes what it had
   * queued as an earlier leader and another leader has claimed since. Resolves with the number
   * of claims dropped.
   */
  takeOver(): Promise<number>;
  stop(): Promise<void>;
}

/** Deliver the fleet's pending voice events on the leader, in order, once each. */
export function startVoiceRelay(o: VoiceRelayOptions): VoiceRelay {
  const log = o.log ?? ((m: string) => process.stderr.write(`dancer: fleet: ${m}\n`));
  let stopped = false;
  let running: Promise<number> | undefined;
  let again = false;

  /** Mark this host's claims whose outbox rows have all left as posted. */
  const acknowledge = async () => {
    if (!o.settled) return;
    const r = await o.pool.query(
      `SELECT id, receipt FROM fleet_voice
       WHERE posted_at IS NULL AND delivered_by = $1 AND receipt IS NOT NULL ORDER BY id LIMIT 1000`,
      [o.host],
    );
    const settled = o.settled;
    const ids = r.rows.filter((row) => settled(row.receipt)).map((row) => Number(row.id));
    if (ids.length === 0) return;
    await o.pool.query(
      `UPDATE fleet_voice SET posted_at = now() WHERE id = ANY($1::bigint[]) AND delivered_by = $2 AND posted_at IS NULL`,
      [ids, o.host],
    );
  };

  const round = async (): Promise<number> => {
    if (stopped || !o.isLeader() || !(o.ready?.() ?? true)) return 0;
    await acknowledge();
    const c = await o.pool.connect();
    let delivered = 0;
    try {
      await c.query('BEGIN');
      // Unclaimed rows, rows another host claimed (it does not lead: this host does), and claims
      // without a receipt older than the bound.
      const r = await c.query(
        `SELECT id, host, channel, payload, (EXTRACT(EPOCH FROM created_at) * 1000)::float8 AS at,
           delivered_by, receipt
         FROM fleet_voice
         WHERE posted_at IS NULL AND (delivered_at IS NULL OR delivered_by <> $1
           OR (receipt IS NULL AND delivered_at < now() - make_interval(secs => $2)))
         ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED`,
        [o.host, o.claimSeconds ?? 60],
      );
      for (const row of r.rows) {
        if (!o.isLeader()) break;
        const event: VoiceEvent = {
          id: Number(row.id),
          host: row.host,
          channel: row.channel,
          // Fix ids are each host's own: the bot gets the fix's fleet number (fix-refs.ts).
          payload: row.channel === 'zulip' ? await withFleetFixRefs(c, row.host, row.payload) : row.payload,
          at: Number(row.at),
        };
        let receipt: unknown;
        try {
          receipt = o.deliver(event) ?? null;
        } catch (error) {
          // A payload the voice cannot take is reported and passed over (it would block the rest).
          log(`voice event ${event.id} from ${event.host} not delivered: ${errorMessage(error)}`);
          receipt = null;
        }
        const previous = row.delivered_by && row.delivered_by !== o.host ? row.delivered_by : undefined;
        if (previous) log(`voice event ${event.id}: claimed again from ${previous}, which no longer leads`);
        await c.query(
          `UPDATE fleet_voice SET delivered_at = now(), delivered_by = $2, receipt = $3::jsonb,
             posted_at = CASE WHEN $4 THEN now() ELSE NULL END,
             abandoned = CASE WHEN $5::text IS NULL THEN abandoned
               ELSE abandoned || jsonb_build_array(jsonb_build_object('host', $5::text, 'receipt', $6::jsonb)) END
           WHERE id = $1`,
          [
            event.id,
            o.host,
            receipt === null ? null : JSON.stringify(receipt),
            !o.settled || receipt === null,
            previous ?? null,
            JSON.stringify(row.receipt ?? null),
          ],
        );
        delivered++;
      }
      await c.query('COMMIT');
    } catch (error) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      c.release();
    }
    return delivered;
  };

  const takeOver = async (): Promise<number> => {
    const mine = JSON.stringify([{ host: o.host }]);
    const r = await o.pool.query(
      `SELECT id, abandoned FROM fleet_voice WHERE abandoned <> '[]' AND abandoned @> $1::jsonb ORDER BY id`,
      [mine],
    );
    let dropped = 0;
    for (const row of r.rows) {
      for (const claim of row.abandoned as Array<{ host: string; receipt: unknown }>) {
        if (claim.host !== o.host || claim.receipt === null) continue;
        o.discard?.(claim.receipt);
        dropped++;
      }
    }
    if (r.rows.length > 0) {
      await o.pool.query(
        `UPDATE fleet_voice SET abandoned = COALESCE(
           (SELECT jsonb_agg(e) FROM jsonb_array_elements(abandoned) e WHERE e->>'host' <> $2), '[]'::jsonb)
         WHERE id = ANY($1::bigint[])`,
        [r.rows.map((row) => Number(row.id)), o.host],
      );
      log(`dropped ${dropped} message(s) queued here as an earlier leader: the next leader posted them`);
    }
    return dropped;
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
    takeOver,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
