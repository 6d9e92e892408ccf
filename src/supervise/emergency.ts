import type { Db } from '../store/open.js';
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

export { emergencyStop } from './state-store.js';
