/**
 * The fleet-wide emergency stop: a row (it survives restarts and partitions) and a NOTIFY (it
 * reaches every listening host at once), written in one transaction so no host sees one without
 * the other. Each host mirrors it into its own store's stop flag, which its healing loop obeys.
 */

import type { Db } from '../store/index.js';
import { clearEmergencyStop, emergencyStop, setEmergencyStop } from '../supervise/index.js';
import type { FleetPool, Queryable } from './connect.js';
import { fleetStop, setFleetStop } from './queries.js';
import { sendFleetSignal } from './signals.js';

/** Engage (or lift) the stop on every host. */
export async function setFleetWideStop(
  pool: FleetPool,
  host: string,
  o: { engaged: boolean; actor: string; reason: string },
): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await setFleetStop(c, host, o);
    await sendFleetSignal(c, host, { kind: o.engaged ? 'stop' : 'resume', actor: o.actor, reason: o.reason });
    await c.query('COMMIT');
  } catch (error) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    c.release();
  }
}

/** Mirror the fleet's stop into this host's store (engage or lift). Returns whether it changed. */
export function mirrorStop(db: Db, stop: { engaged: boolean; actor: string; reason: string }): boolean {
  const local = emergencyStop(db);
  if (stop.engaged && !local) {
    setEmergencyStop(db, `fleet:${stop.actor}`, stop.reason);
    return true;
  }
  // Lift only a stop the fleet engaged: a stop a human engaged on this host stays.
  if (!stop.engaged && local?.setBy?.startsWith('fleet:')) return clearEmergencyStop(db);
  return false;
}

/** Re-read the persisted fleet stop (after a reconnect) and mirror it. */
export async function syncStop(q: Queryable, db: Db): Promise<boolean> {
  const s = await fleetStop(q);
  return mirrorStop(db, s ?? { engaged: false, actor: '', reason: '' });
}
