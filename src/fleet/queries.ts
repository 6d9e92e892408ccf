/**
 * Queries on the fleet schema: hosts, fleet-wide templates and counts, the stop, the audit log,
 * budgets and cooldowns. Every time is the database's clock (`now()`), so hosts with skewed
 * clocks still agree on leases and windows.
 */
import type { Queryable } from './connect.js';

/** A host row. */
export interface FleetHost {
  name: string;
  heartbeatAgeSeconds: number;
  release: string | null;
  state: string;
  pid: number | null;
}

/** Record `host` as up (or refresh it): heartbeat now, the release it serves. */
export async function heartbeatHost(
  q: Queryable,
  host: string,
  o: { release?: string | null | undefined; pid?: number | undefined; state?: string | undefined } = {},
): Promise<void> {
  await q.query(
    `INSERT INTO fleet_hosts (name, heartbeat_at, release, state, pid) VALUES ($1, now(), $2, $3, $4)
     ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(), release = COALESCE($2, fleet_hosts.release),
       state = $3, pid = COALESCE($4, fleet_hosts.pid)`,
    [host, o.release ?? null, o.state ?? 'up', o.pid ?? null],
  );
}

/** Every host, with the age of its last heartbeat. */
export async function listHosts(q: Queryable): Promise<FleetHost[]> {
  const r = await q.query(
    `SELECT name, EXTRACT(EPOCH FROM now() - heartbeat_at)::float8 AS age, release, state, pid
     FROM fleet_hosts ORDER BY name`,
  );
  return r.rows.map((row) => ({
    name: row.name,
    heartbeatAgeSeconds: Number(row.age),
    release: row.release,
    state: row.state,
    pid: row.pid,
  }));
}

/** Hosts whose heartbeat is younger than `maxAgeSeconds` and that did not leave. */
export async function liveHosts(q: Queryable, maxAgeSeconds: number): Promise<string[]> {
  const r = await q.query(
    `SELECT name FROM fleet_hosts WHERE state = 'up' AND heartbeat_at > now() - make_interval(secs => $1) ORDER BY name`,
    [maxAgeSeconds],
  );
  return r.rows.map((row) => row.name as string);
}

/** A template as a host knows it. */
export interface TemplateKey {
  text: string;
  fingerprint: string;
}

/**
 * The fleet-wide ids of `templates` (created when new): one id per template text and stack
 * fingerprint, the same on every host. Returns ids in the order given.
 */
export async function fleetTemplateIds(q: Queryable, templates: readonly TemplateKey[]): Promise<number[]> {
  if (templates.length === 0) return [];
  const r = await q.query(
    `INSERT INTO fleet_templates (text, fingerprint)
     SELECT DISTINCT t, f FROM unnest($1::text[], $2::text[]) AS u(t, f)
     ON CONFLICT (text, fingerprint) DO UPDATE SET last_seen = now()
     RETURNING id, text, fingerprint`,
    [templates.map((t) => t.text), templates.map((t) => t.fingerprint)],
  );
  const ids = new Map<string, number>();
  for (const row of r.rows) ids.set(`${row.fingerprint}\u0000${row.text}`, Number(row.id));
  return templates.map((t) => ids.get(`${t.fingerprint}\u0000${t.text}`) as number);
}

/** One per-minute count a host ships. */
export interface CountRow {
  templateId: number;
  minute: number;
  count: number;
  errors: number;
}

/** Ship `host`'s counts: an overwrite, so re-shipping a minute (after a partition) is harmless. */
export async function shipCounts(q: Queryable, host: string, rows: readonly CountRow[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO fleet_template_counts (template_id, host, minute, count, errors)
     SELECT t, $1, m, c, e FROM unnest($2::bigint[], $3::bigint[], $4::int[], $5::int[]) AS u(t, m, c, e)
     ON CONFLICT (template_id, host, minute) DO UPDATE SET count = excluded.count, errors = excluded.errors`,
    [
      host,
      rows.map((r) => r.templateId),
      rows.map((r) => r.minute),
      rows.map((r) => r.count),
      rows.map((r) => r.errors),
    ],
  );
}

/** Fleet-wide counts of one template since `sinceMinute`, total and per host. */
export async function fleetCounts(
  q: Queryable,
  templateId: number,
  sinceMinute: number,
): Promise<{ count: number; errors: number; hosts: Record<string, number> }> {
  const r = await q.query(
    `SELECT host, SUM(count)::bigint AS c, SUM(errors)::bigint AS e FROM fleet_template_counts
     WHERE template_id = $1 AND minute >= $2 GROUP BY host ORDER BY host`,
    [templateId, sinceMinute],
  );
  const hosts: Record<string, number> = {};
  let count = 0;
  let errors = 0;
  for (const row of r.rows) {
    hosts[row.host] = Number(row.c);
    count += Number(row.c);
    errors += Number(row.e);
  }
  return { count, errors, hosts };
}

/** A pattern in `dancer fleet status`: its fleet id, text and per-host counts in the window. */
export interface FleetPatternRow {
  id: number;
  text: string;
  status: string;
  total: number;
  hosts: Record<string, number>;
}

/** The patterns seen in the last `minutes` minutes, busiest first. */
export async function fleetPatterns(q: Queryable, sinceMinute: number, limit = 20): Promise<FleetPatternRow[]> {
  const r = await q.query(
    `SELECT t.id, t.text, t.status, c.host, SUM(c.count)::bigint AS n
     FROM fleet_template_counts c JOIN fleet_templates t ON t.id = c.template_id
     WHERE c.minute >= $1 GROUP BY t.id, t.text, t.status, c.host`,
    [sinceMinute],
  );
  const byId = new Map<number, FleetPatternRow>();
  for (const row of r.rows) {
    const id = Number(row.id);
    const p: FleetPatternRow = byId.get(id) ?? { id, text: row.text, status: row.status, total: 0, hosts: {} };
    p.hosts[row.host] = Number(row.n);
    p.total += Number(row.n);
    byId.set(id, p);
  }
  return [...byId.values()].sort((a, b) => b.total - a.total || a.id - b.id).slice(0, limit);
}

/** Record a decision (why a host consulted, skipped, took or lost a lease). */
export async function recordDecision(
  q: Queryable,
  d: {
    host: string;
    templateId?: number | null | undefined;
    kind: string;
    reason: string;
    details?: unknown;
    at?: number;
  },
): Promise<void> {
  await q.query(
    `INSERT INTO fleet_decisions (host, template_id, kind, reason, details, at)
     VALUES ($1, $2, $3, $4, $5, COALESCE(to_timestamp($6::float8 / 1000), now()))`,
    [d.host, d.templateId ?? null, d.kind, d.reason, JSON.stringify(d.details ?? {}), d.at ?? null],
  );
}

/** Append to the fleet's audit log. */
export async function recordAudit(
  q: Queryable,
  a: { host: string; actor: string; action: string; target?: string | undefined; details?: unknown; at?: number },
): Promise<void> {
  await q.query(
    `INSERT INTO fleet_audit (host, actor, action, target, details, at)
     VALUES ($1, $2, $3, $4, $5, COALESCE(to_timestamp($6::float8 / 1000), now()))`,
    [a.host, a.actor, a.action, a.target ?? null, JSON.stringify(a.details ?? {}), a.at ?? null],
  );
}

/** The fleet's emergency stop. */
export interface FleetStop {
  engaged: boolean;
  actor: string;
  reason: string;
}

/** Engage or lift the fleet-wide emergency stop (audited). */
export async function setFleetStop(q: Queryable, host: string, s: FleetStop): Promise<void> {
  await q.query(
    `INSERT INTO fleet_stop (id, engaged, actor, reason, at) VALUES (1, $1, $2, $3, now())
     ON CONFLICT (id) DO UPDATE SET engaged = $1, actor = $2, reason = $3, at = now()`,
    [s.engaged, s.actor, s.reason],
  );
  await recordAudit(q, { host, actor: s.actor, action: s.engaged ? 'stop' : 'resume', details: { reason: s.reason } });
}

/** The fleet-wide stop, when engaged. */
export async function fleetStop(q: Queryable): Promise<FleetStop | undefined> {
  const r = await q.query('SELECT engaged, actor, reason FROM fleet_stop WHERE id = 1 AND engaged');
  const row = r.rows[0];
  return row ? { engaged: true, actor: row.actor, reason: row.reason } : undefined;
}

/** Dollars the whole fleet spent on consultations since `sinceMs` (fleet-wide budgets). */
export async function fleetSpentSince(q: Queryable, sinceMs: number): Promise<number> {
  const r = await q.query(
    'SELECT COALESCE(SUM(cost_usd), 0)::float8 AS s FROM fleet_ledger WHERE at >= to_timestamp($1::float8 / 1000)',
    [sinceMs],
  );
  return Number(r.rows[0]?.s ?? 0);
}

/**
 * When the pattern's last fleet fix was rolled back less than `cooldownMinutes` ago, the time
 * (ms) until which no host may start a new attempt; else undefined. Fleet-wide cooldown.
 */
export async function fleetCooldownUntil(
  q: Queryable,
  patternKey: string,
  cooldownMinutes: number,
): Promise<number | undefined> {
  const r = await q.query(
    `SELECT (EXTRACT(EPOCH FROM updated_at + make_interval(mins => $2)) * 1000)::float8 AS until
     FROM fleet_fixes WHERE pattern_key = $1 AND state IN ('rolled_back', 'stopped')
       AND updated_at + make_interval(mins => $2) > now()
     ORDER BY updated_at DESC LIMIT 1`,
    [patternKey, cooldownMinutes],
  );
  return r.rows[0] ? Number(r.rows[0].until) : undefined;
}
