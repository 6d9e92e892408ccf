/**
 * One consultation per pattern, fleet-wide: a row per pattern in `fleet_leases`. A host takes
 * the lease with one atomic upsert that succeeds only when the row is free, already its own, or
 * expired (its holder stopped renewing for `leaseSeconds`); the successor inherits the persisted
 * `stage` and `state` and resumes from them. Every write by the holder is fenced: it names the
 * holder and fails once the lease has passed to another host.
 */
import { DancerError } from '../errors.js';
import type { Queryable } from './connect.js';

/** Where the work on a pattern stands; a successor resumes from here. */
export type LeaseStage = 'new' | 'consulting' | 'gating' | 'merged' | 'rolling_out' | 'done' | 'failed';

/** A lease held by this host. */
export interface Lease {
  patternKey: string;
  holder: string;
  stage: LeaseStage;
  state: Record<string, unknown>;
  /** How many times the lease passed from an expired holder to another host. */
  takeovers: number;
  /** The previous holder when this acquisition took over an expired lease. */
  tookOverFrom?: string | undefined;
}

/** The outcome of {@link acquireLease}. */
export type AcquireResult =
  | { kind: 'acquired'; lease: Lease }
  | { kind: 'held'; holder: string; expiresInSeconds: number; stage: LeaseStage }
  | { kind: 'finished'; stage: LeaseStage; state: Record<string, unknown> };

/**
 * Try to take `patternKey`'s lease for `host` for `leaseSeconds`. A pattern whose work is finished
 * (`done`/`failed`) is not taken again until `reopenAfterSeconds` have passed since it finished,
 * so late triggers from other hosts do not start a second consultation for a bug already handled.
 */
export async function acquireLease(
  q: Queryable,
  o: { patternKey: string; host: string; leaseSeconds: number; reopenAfterSeconds: number },
): Promise<AcquireResult> {
  const r = await q.query(
    `WITH prev AS (SELECT holder, expires_at FROM fleet_leases WHERE pattern_key = $1)
     INSERT INTO fleet_leases AS l (pattern_key, holder, expires_at, taken_at)
     VALUES ($1, $2, now() + make_interval(secs => $3), now())
     ON CONFLICT (pattern_key) DO UPDATE SET
       holder = $2,
       expires_at = now() + make_interval(secs => $3),
       taken_at = CASE WHEN l.holder IS DISTINCT FROM $2 THEN now() ELSE l.taken_at END,
       takeovers = l.takeovers + CASE WHEN l.holder IS NOT NULL AND l.holder <> $2 THEN 1 ELSE 0 END,
       stage = CASE WHEN l.stage IN ('done', 'failed') THEN 'new' ELSE l.stage END,
       state = CASE WHEN l.stage IN ('done', 'failed') THEN '{}'::jsonb ELSE l.state END,
       done_at = CASE WHEN l.stage IN ('done', 'failed') THEN NULL ELSE l.done_at END
     WHERE (l.stage NOT IN ('done', 'failed') AND (l.holder IS NULL OR l.holder = $2 OR l.expires_at < now()))
        OR (l.stage IN ('done', 'failed') AND l.done_at < now() - make_interval(secs => $4))
     RETURNING l.holder, l.stage, l.state, l.takeovers, (SELECT holder FROM prev) AS prev_holder,
       (SELECT expires_at < now() FROM prev) AS prev_expired`,
    [o.patternKey, o.host, o.leaseSeconds, o.reopenAfterSeconds],
  );
  const row = r.rows[0];
  if (row) {
    const tookOver = row.prev_holder && row.prev_holder !== o.host && row.prev_expired ? row.prev_holder : undefined;
    return {
      kind: 'acquired',
      lease: {
        patternKey: o.patternKey,
        holder: o.host,
        stage: row.stage,
        state: row.state ?? {},
        takeovers: row.takeovers,
        tookOverFrom: tookOver,
      },
    };
  }
  const cur = await q.query(
    `SELECT holder, stage, state, GREATEST(0, EXTRACT(EPOCH FROM expires_at - now()))::float8 AS left
     FROM fleet_leases WHERE pattern_key = $1`,
    [o.patternKey],
  );
  const c = cur.rows[0];
  if (c && (c.stage === 'done' || c.stage === 'failed')) return { kind: 'finished', stage: c.stage, state: c.state };
  return { kind: 'held', holder: c?.holder ?? '', expiresInSeconds: Number(c?.left ?? 0), stage: c?.stage ?? 'new' };
}

/**
 * Persist progress under the lease (fenced): a successor resumes from `stage` and `state`.
 * Extends the lease as a side effect.
 *
 * @throws {DancerError} `DANCER_FLEET_LEASE_LOST` when `host` no longer holds it.
 */
export async function saveLease(
  q: Queryable,
  o: { patternKey: string; host: string; leaseSeconds: number; stage: LeaseStage; state: Record<string, unknown> },
): Promise<void> {
  const finished = o.stage === 'done' || o.stage === 'failed';
  const r = await q.query(
    `UPDATE fleet_leases SET stage = $3, state = $4::jsonb,
       holder = CASE WHEN $6 THEN NULL ELSE holder END,
       done_at = CASE WHEN $6 THEN now() ELSE NULL END,
       expires_at = CASE WHEN $6 THEN now() ELSE now() + make_interval(secs => $5) END
     WHERE pattern_key = $1 AND holder = $2 AND expires_at > now()`,
    [o.patternKey, o.host, o.stage, JSON.stringify(o.state), o.leaseSeconds, finished],
  );
  if (r.rowCount !== 1) {
    throw new DancerError(
      'DANCER_FLEET_LEASE_LOST',
      `host ${o.host} no longer holds the lease of pattern ${o.patternKey}: another host took it over`,
      { details: { patternKey: o.patternKey } },
    );
  }
}

/** Extend every lease `host` holds (the heartbeat does this). Returns the patterns still held. */
export async function renewLeases(q: Queryable, host: string, leaseSeconds: number): Promise<string[]> {
  const r = await q.query(
    `UPDATE fleet_leases SET expires_at = now() + make_interval(secs => $2)
     WHERE holder = $1 AND expires_at > now() RETURNING pattern_key`,
    [host, leaseSeconds],
  );
  return r.rows.map((row) => row.pattern_key as string);
}

/** Give a lease back without finishing (shutdown): another host may take it at once. */
export async function releaseLease(q: Queryable, patternKey: string, host: string): Promise<void> {
  await q.query(`UPDATE fleet_leases SET holder = NULL, expires_at = now() WHERE pattern_key = $1 AND holder = $2`, [
    patternKey,
    host,
  ]);
}

/**
 * Expired leases whose work is unfinished: the patterns a live host should take over and resume
 * (their holder died). Oldest first.
 */
export async function orphanedLeases(
  q: Queryable,
): Promise<Array<{ patternKey: string; holder: string | null; stage: LeaseStage }>> {
  const r = await q.query(
    `SELECT pattern_key, holder, stage FROM fleet_leases
     WHERE stage NOT IN ('done', 'failed', 'new') AND (holder IS NULL OR expires_at < now())
     ORDER BY expires_at`,
  );
  return r.rows.map((row) => ({ patternKey: row.pattern_key, holder: row.holder, stage: row.stage }));
}
