/**
 * Fleet numbers for fixes in the fleet's one voice. A fix id is each host's own (web-1's fix 7 and
 * web-2's fix 7 are two fixes), but the Zulip bot keys a fix's topic, its head message, its
 * reactions and the commands that name it by one number. The leader's relay therefore gives each
 * (host, local fix id) a fleet number (`fleet_fix_refs`, assigned on first sight) and hands the
 * bot events that carry it, with the origin for the topic (`fix 12 (web-2 #7): ...`). A command
 * naming fix 12 is resolved back to web-2's fix 7 and sent there. Without a fleet nothing of this
 * runs: a single host's topics stay `fix 7: ...`.
 */
import type { Queryable } from './connect.js';

/** The fleet number of `host`'s fix `localId` (assigned on first use). */
export async function fleetFixRef(q: Queryable, host: string, localId: number): Promise<number> {
  // Read first: an upsert would draw a sequence number for every event and leave gaps.
  const get = () => q.query('SELECT id FROM fleet_fix_refs WHERE host = $1 AND local_id = $2', [host, localId]);
  let r = await get();
  if (!r.rows[0]) {
    await q.query('INSERT INTO fleet_fix_refs (host, local_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      host,
      localId,
    ]);
    r = await get();
  }
  return Number(r.rows[0].id);
}

/** The host and local fix id behind a fleet number, or undefined when no fix has it. */
export async function resolveFleetFixRef(
  q: Queryable,
  ref: number,
): Promise<{ host: string; localId: number } | undefined> {
  if (!Number.isSafeInteger(ref) || ref <= 0) return undefined;
  const r = await q.query('SELECT host, local_id FROM fleet_fix_refs WHERE id = $1', [ref]);
  const row = r.rows[0];
  return row ? { host: row.host, localId: Number(row.local_id) } : undefined;
}

/** Where a relayed fix event came from: the host and its own fix id. */
export interface FixOrigin {
  host: string;
  fixId: number;
}

/**
 * A notify event from `host` as the leader's bot gets it: every fix id in it (the event's
 * `fixId`, its `fix.id`) replaced by the fix's fleet number, and `origin` naming the host's own
 * id. Events naming no fix are returned as they are.
 */
export async function withFleetFixRefs(q: Queryable, host: string, payload: unknown): Promise<unknown> {
  if (!payload || typeof payload !== 'object') return payload;
  const event = payload as { fixId?: unknown; fix?: { id?: unknown } | null };
  const local =
    typeof event.fixId === 'number' ? event.fixId : typeof event.fix?.id === 'number' ? event.fix.id : undefined;
  if (local === undefined) return payload;
  const ref = await fleetFixRef(q, host, local);
  const out: Record<string, unknown> = { ...(payload as Record<string, unknown>), origin: { host, fixId: local } };
  if (typeof event.fixId === 'number') out.fixId = ref;
  if (event.fix && typeof event.fix.id === 'number') out.fix = { ...event.fix, id: ref };
  return out;
}

/** The newest fix record (a notify `FixInfo`) `host`'s events carried for its fix `localId`. */
export async function lastFixInfo(q: Queryable, host: string, localId: number): Promise<unknown> {
  const r = await q.query(
    `SELECT payload->'fix' AS fix FROM fleet_voice
     WHERE channel = 'zulip' AND host = $1 AND payload->'fix'->>'id' = $2
     ORDER BY id DESC LIMIT 1`,
    [host, String(localId)],
  );
  return r.rows[0]?.fix ?? undefined;
}
