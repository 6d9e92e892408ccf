/**
 * What a human's command on one host (the CLI, a Zulip command, the dashboard) sends to the rest
 * of the fleet: a stop or resume engaged fleet-wide, a rollback of the fleet fix this host
 * serves, and approvals routed to the host that owns the fix. Each host acts locally first (its
 * own supervisor and store); these calls carry the word to every other host within a second or
 * two (LISTEN/NOTIFY, see signals.ts).
 */
import type { FleetPool, Queryable } from './connect.js';
import { recordAudit } from './queries.js';
import { reportDeploy, rollbackFleetFix } from './rollout.js';
import { sendFleetSignal } from './signals.js';
import { setFleetWideStop } from './stop.js';

/** Engage (or lift) the stop on every host, on behalf of `actor` at `host`. */
export async function humanFleetStop(
  pool: FleetPool,
  host: string,
  o: { engaged: boolean; actor: string; reason?: string | undefined },
): Promise<void> {
  await setFleetWideStop(pool, host, {
    engaged: o.engaged,
    actor: o.actor,
    reason: o.reason ?? (o.engaged ? 'emergency stop' : 'resumed'),
  });
}

/** The fleet fix `host` serves now (its newest deploy that is deploying, observing or deployed). */
export async function fleetFixServedBy(q: Queryable, host: string): Promise<number | undefined> {
  const r = await q.query(
    `SELECT d.fix_id FROM fleet_deploys d JOIN fleet_fixes f ON f.id = d.fix_id
     WHERE d.host = $1 AND d.state IN ('deploying', 'observing', 'deployed') AND f.state <> 'rolled_back'
     ORDER BY d.updated_at DESC, d.fix_id DESC LIMIT 1`,
    [host],
  );
  return r.rows[0] ? Number(r.rows[0].fix_id) : undefined;
}

/**
 * After `host` rolled back locally: roll back the fleet fix it was serving on every other host.
 * This host's deploy is recorded `rolled_back` first, so the signal coming back to it does not
 * roll it back a second time. Returns the fleet fix rolled back, or undefined when this host
 * served no fleet fix (a local rollback stays local).
 */
export async function humanFleetRollback(
  pool: FleetPool,
  host: string,
  o: { actor: string; reason: string; fixId?: number | undefined },
): Promise<number | undefined> {
  const fixId = o.fixId ?? (await fleetFixServedBy(pool, host));
  if (fixId === undefined) return undefined;
  const mine = await pool.query(
    `SELECT state FROM fleet_deploys WHERE fix_id = $1 AND host = $2 AND state IN ('deploying', 'observing', 'deployed')`,
    [fixId, host],
  );
  if (mine.rows.length > 0) {
    await reportDeploy(pool, { fixId, host, state: 'rolled_back', reason: `${o.actor}: ${o.reason}` });
  }
  await rollbackFleetFix(pool, { fixId, host, actor: o.actor, reason: o.reason });
  return fixId;
}

/** A fix command a human gave on one host (where the bot runs) for a fix another host owns. */
export interface RoutedFixCommand {
  name: 'approve' | 'reject' | 'rollback';
  /** The fix's id on the host that owns it. */
  fixId: number;
  /** The host that owns the fix. */
  host: string;
  actor: string;
  reason?: string | undefined;
}

/** Send an approval, rejection or rollback to the host that owns the fix (audited fleet-wide). */
export async function routeFixCommand(pool: FleetPool, from: string, c: RoutedFixCommand): Promise<void> {
  await recordAudit(pool, {
    host: from,
    actor: c.actor,
    action: c.name,
    target: `${c.host}:fix:${c.fixId}`,
    details: c.reason ? { reason: c.reason } : {},
  });
  await sendFleetSignal(pool, from, {
    kind: 'command',
    actor: c.actor,
    text: `${c.name} ${c.fixId}`,
    name: c.name,
    fixId: c.fixId,
    host: c.host,
    reason: c.reason,
  });
}
