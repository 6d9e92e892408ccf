/**
 * A fix's rollout across the fleet, in PostgreSQL: the fix (`fleet_fixes`), one deploy row per
 * host with its wave (`fleet_deploys`), every step an event (`fleet_fix_events`). The host that
 * merged the fix creates the rollout; each host deploys its own row when its wave is current;
 * each report advances the rollout under a row lock on the fix, so concurrent reports agree.
 */
import type { FleetPool, Queryable } from './connect.js';
import { sendFleetSignal } from './signals.js';
import { type HostDeployState, nextRolloutStep, planWaves, type RolloutStep } from './waves.js';

/** A fleet fix with each host's deploy. */
export interface FleetFix {
  id: number;
  patternKey: string;
  branch: string;
  commit: string | null;
  state: string;
  createdBy: string;
  reason: string | null;
  deploys: Array<{ host: string; wave: number; state: HostDeployState; release: string | null; reason: string | null }>;
}

async function inTransaction<T>(pool: FleetPool, f: (q: Queryable) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const r = await f(c);
    await c.query('COMMIT');
    return r;
  } catch (error) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    c.release();
  }
}

/** Append an event to a fix's history. */
export async function recordFixEvent(
  q: Queryable,
  e: { fixId: number; host: string; actor: string; event: string; reason?: string | undefined },
): Promise<void> {
  await q.query('INSERT INTO fleet_fix_events (fix_id, host, actor, event, reason) VALUES ($1, $2, $3, $4, $5)', [
    e.fixId,
    e.host,
    e.actor,
    e.event,
    e.reason ?? '',
  ]);
}

/**
 * Start rolling out a merged fix (`commit` on the shared remote) to `hosts` in waves, and wake
 * every host. Returns the fleet fix id.
 */
export async function createRollout(
  pool: FleetPool,
  o: {
    patternKey: string;
    branch: string;
    commit: string;
    host: string;
    hosts: readonly string[];
    canary: number;
    waveSize: number;
  },
): Promise<number> {
  const waves = planWaves(o.hosts, { canary: o.canary, waveSize: o.waveSize, preferCanary: [o.host] });
  return inTransaction(pool, async (q) => {
    const r = await q.query(
      `INSERT INTO fleet_fixes (pattern_key, branch, commit_sha, state, created_by) VALUES ($1, $2, $3, 'rolling_out', $4) RETURNING id`,
      [o.patternKey, o.branch, o.commit, o.host],
    );
    const fixId = Number(r.rows[0].id);
    for (const [wave, hosts] of waves.entries()) {
      for (const h of hosts) {
        await q.query('INSERT INTO fleet_deploys (fix_id, host, wave) VALUES ($1, $2, $3)', [fixId, h, wave]);
      }
    }
    await recordFixEvent(q, {
      fixId,
      host: o.host,
      actor: 'fleet',
      event: 'rollout_started',
      reason: waves.map((w, i) => `${i === 0 ? 'canary' : `wave ${i}`}: ${w.join(', ')}`).join('; '),
    });
    await sendFleetSignal(q, o.host, { kind: 'rollout', fixId });
    return fixId;
  });
}

/** A fix and its deploys. */
export async function getFleetFix(q: Queryable, fixId: number): Promise<FleetFix | undefined> {
  return (await listFleetFixes(q, { id: fixId }))[0];
}

/** The newest fixes (or one), each with every host's deploy. */
export async function listFleetFixes(q: Queryable, o: { id?: number; limit?: number } = {}): Promise<FleetFix[]> {
  const fixes = await q.query(
    `SELECT id, pattern_key, branch, commit_sha, state, created_by, reason FROM fleet_fixes
     WHERE ($1::bigint IS NULL OR id = $1) ORDER BY id DESC LIMIT $2`,
    [o.id ?? null, o.limit ?? 20],
  );
  if (fixes.rows.length === 0) return [];
  const deploys = await q.query(
    'SELECT fix_id, host, wave, state, release, reason FROM fleet_deploys WHERE fix_id = ANY($1::bigint[]) ORDER BY wave, host',
    [fixes.rows.map((f) => f.id)],
  );
  return fixes.rows.map((f) => ({
    id: Number(f.id),
    patternKey: f.pattern_key,
    branch: f.branch,
    commit: f.commit_sha,
    state: f.state,
    createdBy: f.created_by,
    reason: f.reason,
    deploys: deploys.rows
      .filter((d) => Number(d.fix_id) === Number(f.id))
      .map((d) => ({ host: d.host, wave: d.wave, state: d.state, release: d.release, reason: d.reason })),
  }));
}

/** Fixes rolling out in which `host` has a deploy still pending. */
export async function pendingFixesFor(q: Queryable, host: string): Promise<number[]> {
  const r = await q.query(
    `SELECT f.id FROM fleet_fixes f JOIN fleet_deploys d ON d.fix_id = f.id
     WHERE f.state = 'rolling_out' AND d.host = $1 AND d.state = 'pending' ORDER BY f.id`,
    [host],
  );
  return r.rows.map((row) => Number(row.id));
}

/**
 * Claim this host's deploy of `fixId` when its wave is current. Returns the commit to deploy, or
 * undefined when it is not this host's turn (or the rollout stopped).
 */
export async function claimDeploy(pool: FleetPool, fixId: number, host: string): Promise<string | undefined> {
  return inTransaction(pool, async (q) => {
    const fix = await q.query(`SELECT state, commit_sha FROM fleet_fixes WHERE id = $1 FOR UPDATE`, [fixId]);
    if (fix.rows[0]?.state !== 'rolling_out') return undefined;
    const deploys = await q.query('SELECT host, wave, state FROM fleet_deploys WHERE fix_id = $1', [fixId]);
    const step = nextRolloutStep(deploys.rows);
    const mine = deploys.rows.find((d) => d.host === host);
    if (step.kind !== 'wave' || !mine || mine.wave !== step.wave || mine.state !== 'pending') return undefined;
    await q.query(`UPDATE fleet_deploys SET state = 'deploying', updated_at = now() WHERE fix_id = $1 AND host = $2`, [
      fixId,
      host,
    ]);
    await recordFixEvent(q, { fixId, host, actor: host, event: 'deploying', reason: `wave ${mine.wave}` });
    return fix.rows[0].commit_sha as string;
  });
}

/**
 * Record how `host`'s deploy of `fixId` went and advance the rollout: the next wave's hosts are
 * woken, or the rollout stops (pending hosts skipped, every host told to roll the fix back), or
 * it is complete. Returns the step taken.
 */
export async function reportDeploy(
  pool: FleetPool,
  o: { fixId: number; host: string; state: HostDeployState; release?: string | undefined; reason?: string | undefined },
): Promise<RolloutStep> {
  return inTransaction(pool, async (q) => {
    const fix = await q.query(`SELECT state FROM fleet_fixes WHERE id = $1 FOR UPDATE`, [o.fixId]);
    await q.query(
      `UPDATE fleet_deploys SET state = $3, release = COALESCE($4, release), reason = $5, updated_at = now()
       WHERE fix_id = $1 AND host = $2`,
      [o.fixId, o.host, o.state, o.release ?? null, o.reason ?? null],
    );
    await recordFixEvent(q, { fixId: o.fixId, host: o.host, actor: o.host, event: o.state, reason: o.reason });
    const deploys = await q.query('SELECT host, wave, state FROM fleet_deploys WHERE fix_id = $1', [o.fixId]);
    const step = nextRolloutStep(deploys.rows);
    if (fix.rows[0]?.state !== 'rolling_out') return step;
    if (step.kind === 'stop') {
      await q.query(`UPDATE fleet_fixes SET state = 'stopped', reason = $2, updated_at = now() WHERE id = $1`, [
        o.fixId,
        step.reason,
      ]);
      await q.query(
        `UPDATE fleet_deploys SET state = 'skipped', reason = $2, updated_at = now() WHERE fix_id = $1 AND state = 'pending'`,
        [o.fixId, `rollout stopped: ${step.reason}`],
      );
      await recordFixEvent(q, {
        fixId: o.fixId,
        host: o.host,
        actor: 'fleet',
        event: 'rollout_stopped',
        reason: step.reason,
      });
      await sendFleetSignal(q, o.host, { kind: 'rollback', actor: 'fleet', reason: step.reason, fixId: o.fixId });
    } else if (step.kind === 'complete') {
      await q.query(`UPDATE fleet_fixes SET state = 'deployed', updated_at = now() WHERE id = $1`, [o.fixId]);
      await recordFixEvent(q, { fixId: o.fixId, host: o.host, actor: 'fleet', event: 'rollout_complete' });
    } else if (o.state === 'deployed') {
      await sendFleetSignal(q, o.host, { kind: 'rollout', fixId: o.fixId });
    }
    return step;
  });
}

/** Roll a fix back everywhere (`dancer rollback` in a fleet): stop its rollout and tell every host. */
export async function rollbackFleetFix(
  pool: FleetPool,
  o: { fixId: number; host: string; actor: string; reason: string },
) {
  await inTransaction(pool, async (q) => {
    await q.query(`UPDATE fleet_fixes SET state = 'rolled_back', reason = $2, updated_at = now() WHERE id = $1`, [
      o.fixId,
      o.reason,
    ]);
    await q.query(
      `UPDATE fleet_deploys SET state = 'skipped', updated_at = now() WHERE fix_id = $1 AND state = 'pending'`,
      [o.fixId],
    );
    await recordFixEvent(q, {
      fixId: o.fixId,
      host: o.host,
      actor: o.actor,
      event: 'rollback_requested',
      reason: o.reason,
    });
    await sendFleetSignal(q, o.host, { kind: 'rollback', actor: o.actor, reason: o.reason, fixId: o.fixId });
  });
}
