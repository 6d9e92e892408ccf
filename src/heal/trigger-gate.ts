/**
 * What the healing loop does with a detector trigger before any consultation: an error seen only
 * under releases that were rolled back belongs to the fix that was rolled back (not a new
 * pattern); otherwise the attempt limits decide (in flight, cooldown, escalate, escalated).
 */
import { addHold, attemptsFor, decideAttempt, holdsFor } from '../fixes/index.js';
import type { Db } from '../store/index.js';
import { fixDeployedTo, isRolledBackRelease, releasesThatLogged } from '../supervise/index.js';

/** The loop's answer to a trigger. */
export type TriggerGate =
  | { kind: 'consult' }
  | { kind: 'skip'; reason: string; escalated?: boolean | undefined; attributedTo?: number | undefined };

/**
 * Attribute template `templateId` to a rolled-back fix when every record of it came from a
 * release that was rolled back. Returns that fix's id (the latest such deploy's fix).
 */
export function rolledBackOwner(db: Db, templateId: number): number | undefined {
  const releases = releasesThatLogged(db, templateId);
  if (releases.length === 0 || releases.some((r) => r === undefined || !isRolledBackRelease(db, r))) return undefined;
  return fixDeployedTo(db, releases as string[]) ?? -1;
}

/**
 * Decide whether a trigger for `patternId` (template `templateId` when it has one) may start a
 * fix now. Records the escalation when the attempt limit is reached.
 */
export function gateTrigger(
  db: Db,
  o: {
    patternId: string;
    templateId?: number | undefined;
    now: number;
    limits: { retryCooldownMinutes: number; maxAttemptsPerPattern: number };
  },
): TriggerGate {
  if (o.templateId !== undefined) {
    const owner = rolledBackOwner(db, o.templateId);
    if (owner !== undefined) {
      return {
        kind: 'skip',
        reason: `pattern ${o.patternId} was seen only under rolled-back releases${owner > 0 ? ` (fix ${owner})` : ''}: attributed to that fix, not a new pattern`,
        attributedTo: owner > 0 ? owner : undefined,
      };
    }
  }
  const decision = decideAttempt({
    attempts: attemptsFor(db, o.patternId),
    holds: holdsFor(db, o.patternId),
    now: o.now,
    limits: o.limits,
  });
  switch (decision.kind) {
    case 'allow':
      return { kind: 'consult' };
    case 'in_flight':
      return { kind: 'skip', reason: `fix ${decision.fixId} for pattern ${o.patternId} is being deployed or observed` };
    case 'cooldown':
      return {
        kind: 'skip',
        reason: `pattern ${o.patternId}: fix ${decision.afterFix} was rolled back; no new attempt before ${new Date(decision.until).toISOString()} (fixes.retryCooldownMinutes)`,
      };
    case 'escalated':
      return {
        kind: 'skip',
        escalated: true,
        reason: `pattern ${o.patternId} is escalated since ${new Date(decision.since).toISOString()}: only a human reopens it (dancer patterns retry ${o.patternId})`,
      };
    case 'escalate': {
      const reason = `${decision.attempts} fix attempts in 24 hours (fixes.maxAttemptsPerPattern ${o.limits.maxAttemptsPerPattern})`;
      addHold(db, o.patternId, 'escalated', 'supervisor', reason, o.now);
      return {
        kind: 'skip',
        escalated: true,
        reason: `pattern ${o.patternId} escalated after ${reason}: a human must look (dancer patterns retry ${o.patternId} reopens it)`,
      };
    }
  }
}
