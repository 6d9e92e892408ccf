/**
 * The fleet's word on a local trigger, before any consultation: only the host that takes the
 * pattern's lease consults, and only while it can act (connected), the fleet stop is off, and
 * the pattern is not in a fleet-wide cooldown. The others skip with the reason, recorded as a
 * fleet decision (queued locally while the host is cut off).
 */
import { errorMessage } from '../errors.js';
import type { Db } from '../store/index.js';
import type { FleetAgent } from './agent.js';
import type { FleetPool } from './connect.js';
import { acquireLease, type Lease, saveLease } from './leases.js';
import { enqueueFleetEvent } from './local.js';
import { fleetCooldownUntil, fleetStop, fleetTemplateIds } from './queries.js';
import type { FleetPipeline } from './rollout-handoff.js';

/** The pattern a local trigger is about. */
export interface FleetTriggerInput {
  /** Local pattern id (a template id, or a trigger kind such as `crash`). */
  patternId: string;
  templateText?: string | undefined;
  fingerprint?: string | undefined;
}

/** The fleet's answer. */
export type FleetGateDecision =
  | { kind: 'skip'; reason: string }
  | {
      kind: 'consult';
      patternKey: string;
      lease: Lease;
      /** Record the end of this host's work on the pattern (the lease is released as done/failed). Idempotent. */
      finish(outcome: { ok: boolean; details?: Record<string, unknown> }): Promise<void>;
    };

/** Options of {@link createFleetGate}. */
export interface FleetGateOptions {
  pool: FleetPool;
  db: Db;
  agent: Pick<FleetAgent, 'canAct'>;
  host: string;
  leaseSeconds: number;
  /** Fleet-wide cooldown after a fix was rolled back or stopped (fixes.retryCooldownMinutes). */
  cooldownMinutes: number;
  now?: () => number;
  log?: (message: string) => void;
  /**
   * The lease holder's hand-off to the rollout (src/fleet/rollout-handoff.ts): told of each lease
   * taken, and asked to resume a dead holder's work from its persisted stage.
   */
  pipeline?: Pick<FleetPipeline, 'claimed' | 'resumeLease'> | undefined;
}

/** The gate a host's healing loop asks before it consults. Never throws: a failure is a skip. */
export function createFleetGate(o: FleetGateOptions): (input: FleetTriggerInput) => Promise<FleetGateDecision> {
  const now = o.now ?? Date.now;
  const skip = (reason: string, details: Record<string, unknown> = {}): FleetGateDecision => {
    enqueueFleetEvent(o.db, 'decision', { kind: 'skip', reason, details }, now());
    return { kind: 'skip', reason };
  };
  return async (input) => {
    if (!o.agent.canAct())
      return skip(`fleet: cut off from the control plane, no fleet action (pattern ${input.patternId})`);
    try {
      if (await fleetStop(o.pool)) return skip('fleet: the emergency stop is engaged fleet-wide');
      const patternKey =
        input.templateText !== undefined
          ? String(
              (await fleetTemplateIds(o.pool, [{ text: input.templateText, fingerprint: input.fingerprint ?? '' }]))[0],
            )
          : `kind:${input.patternId}`;
      const until = await fleetCooldownUntil(o.pool, patternKey, o.cooldownMinutes);
      if (until !== undefined) {
        return skip(
          `fleet: pattern ${patternKey} is cooling down after a rolled-back fix until ${new Date(until).toISOString()}`,
        );
      }
      const r = await acquireLease(o.pool, {
        patternKey,
        host: o.host,
        leaseSeconds: o.leaseSeconds,
        reopenAfterSeconds: o.cooldownMinutes * 60,
      });
      if (r.kind === 'held')
        return skip(`fleet: host ${r.holder} holds pattern ${patternKey} (${r.stage}); one consultation fleet-wide`);
      if (r.kind === 'finished')
        return skip(`fleet: pattern ${patternKey} was already handled (${r.stage}) by the fleet`);
      const lease = r.lease;
      const late = lease.stage === 'gating' || lease.stage === 'merged' || lease.stage === 'rolling_out';
      if (late && !lease.tookOverFrom) {
        return skip(`fleet: this host already works on pattern ${patternKey} (${lease.stage})`);
      }
      if (late && o.pipeline) {
        // A dead holder got as far as a merge: finish its work rather than consult again.
        const resumedWork = await o.pipeline.resumeLease(lease);
        if (resumedWork) return skip(resumedWork);
      }
      const resumed = lease.tookOverFrom
        ? ` (took over from ${lease.tookOverFrom}, which stopped at ${lease.stage})`
        : '';
      o.log?.(`fleet: this host holds pattern ${patternKey}${resumed}`);
      const c = await o.pool.query(
        'INSERT INTO fleet_consultations (pattern_key, host, details) VALUES ($1, $2, $3) RETURNING id',
        [
          patternKey,
          o.host,
          JSON.stringify({ localPatternId: input.patternId, tookOverFrom: lease.tookOverFrom ?? null }),
        ],
      );
      const consultationId = Number(c.rows[0].id);
      await saveLease(o.pool, {
        patternKey,
        host: o.host,
        leaseSeconds: o.leaseSeconds,
        stage: 'consulting',
        state: { ...lease.state, consultationId, host: o.host },
      });
      enqueueFleetEvent(
        o.db,
        'decision',
        { kind: 'consult', reason: `lease taken on pattern ${patternKey}${resumed}` },
        now(),
      );
      let finished = false;
      const decision: FleetGateDecision = {
        kind: 'consult',
        patternKey,
        lease,
        async finish(outcome) {
          if (finished) return;
          finished = true;
          await o.pool.query(`UPDATE fleet_consultations SET finished_at = now(), outcome = $2 WHERE id = $1`, [
            consultationId,
            outcome.ok ? 'done' : 'failed',
          ]);
          await saveLease(o.pool, {
            patternKey,
            host: o.host,
            leaseSeconds: o.leaseSeconds,
            stage: outcome.ok ? 'done' : 'failed',
            state: { consultationId, host: o.host, ...(outcome.details ?? {}) },
          });
        },
      };
      await o.pipeline?.claimed(input.patternId, decision);
      return decision;
    } catch (error) {
      return skip(`fleet: no fleet action, the control plane failed: ${errorMessage(error)}`);
    }
  };
}
