import { DancerError } from '../errors.js';
import type { Db } from '../store/index.js';
import { EMERGENCY_STOP_FLAG, type FlagRow, SuperviseStore } from './state-store.js';

/**
 * Engage the emergency stop: a persisted flag (survives restarts) that halts deploys (and, for
 * the stages that check it, consultations and fixes). Returns the flag as stored.
 */
export function setEmergencyStop(db: Db, setBy: string, reason: string | null = null, now = Date.now()): FlagRow {
  const store = new SuperviseStore(db);
  store.setFlag(EMERGENCY_STOP_FLAG, '1', setBy, reason, now);
  return store.getFlag(EMERGENCY_STOP_FLAG)!;
}

/** Release the emergency stop. Returns false when it was not engaged. */
export function clearEmergencyStop(db: Db): boolean {
  return new SuperviseStore(db).clearFlag(EMERGENCY_STOP_FLAG);
}

import { emergencyStop } from './state-store.js';

export { emergencyStop };

/**
 * Refuse `what` (approve, reject, retry a fix) while the emergency stop is engaged: every face
 * (CLI, Zulip, live actions) calls this, so none of them moves a fix while Dancer is stopped.
 *
 * @throws {DancerError} `DANCER_EMERGENCY_STOP` when the stop is engaged.
 */
export function refuseWhileStopped(db: Db, what: string): void {
  const flag = emergencyStop(db);
  if (!flag) return;
  throw new DancerError(
    'DANCER_EMERGENCY_STOP',
    `Refused to ${what}: the emergency stop is engaged (by ${flag.setBy ?? 'unknown'}${flag.reason ? `: ${flag.reason}` : ''}); resume first.`,
    { details: { setBy: flag.setBy, setAt: flag.setAt } },
  );
}
