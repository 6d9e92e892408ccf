/**
 * What `dancer fleet status` and the dashboard show: hosts (heartbeat age, release, state),
 * patterns with per-host counts, fixes with each host's deploy state, leases, and the stop.
 */
import type { Queryable } from './connect.js';
import { type FleetHost, type FleetPatternRow, fleetPatterns, fleetStop, listHosts } from './queries.js';
import { type FleetFix, listFleetFixes } from './rollout.js';

/** The fleet at a glance. */
export interface FleetStatus {
  hosts: Array<FleetHost & { alive: boolean }>;
  patterns: FleetPatternRow[];
  fixes: FleetFix[];
  leases: Array<{ patternKey: string; holder: string | null; stage: string; expiresInSeconds: number }>;
  stop: { engaged: boolean; actor: string; reason: string } | null;
  windowMinutes: number;
}

/** Read the fleet's status; a host is alive when its heartbeat is younger than `leaseSeconds`. */
export async function readFleetStatus(
  q: Queryable,
  o: { leaseSeconds: number; windowMinutes?: number; now?: number },
): Promise<FleetStatus> {
  const windowMinutes = o.windowMinutes ?? 60;
  const sinceMinute = Math.floor((o.now ?? Date.now()) / 60_000) - windowMinutes;
  const [hosts, patterns, fixes, stop, leases] = await Promise.all([
    listHosts(q),
    fleetPatterns(q, sinceMinute),
    listFleetFixes(q, { limit: 10 }),
    fleetStop(q),
    q.query(
      `SELECT pattern_key, holder, stage, EXTRACT(EPOCH FROM expires_at - now())::float8 AS left
       FROM fleet_leases WHERE stage NOT IN ('done', 'failed') ORDER BY taken_at DESC LIMIT 20`,
    ),
  ]);
  return {
    hosts: hosts.map((h) => ({ ...h, alive: h.state === 'up' && h.heartbeatAgeSeconds < o.leaseSeconds })),
    patterns,
    fixes,
    leases: leases.rows.map((r) => ({
      patternKey: r.pattern_key,
      holder: r.holder,
      stage: r.stage,
      expiresInSeconds: Math.round(Number(r.left)),
    })),
    stop: stop ?? null,
    windowMinutes,
  };
}

type Paint = (s: string) => string;

/** Plain-text rendering (colours optional) of a {@link FleetStatus}. */
export function renderFleetStatus(
  s: FleetStatus,
  table: (headers: string[], rows: string[][]) => string,
  paint: { red: Paint; green: Paint; yellow: Paint; bold: Paint } = {
    red: String,
    green: String,
    yellow: String,
    bold: String,
  },
): string {
  const out: string[] = [];
  if (s.stop) out.push(paint.red(`EMERGENCY STOP engaged by ${s.stop.actor}: ${s.stop.reason}`), '');
  out.push(paint.bold(`Hosts (${s.hosts.filter((h) => h.alive).length}/${s.hosts.length} alive)`));
  out.push(
    table(
      ['host', 'state', 'heartbeat', 'release'],
      s.hosts.map((h) => [
        h.name,
        h.alive ? paint.green(h.state) : paint.red(h.state === 'up' ? 'unreachable' : h.state),
        `${Math.round(h.heartbeatAgeSeconds)}s ago`,
        h.release ?? '-',
      ]),
    ),
  );
  const hostNames = s.hosts.map((h) => h.name);
  out.push('', paint.bold(`Patterns (last ${s.windowMinutes} min, per host)`));
  out.push(
    s.patterns.length === 0
      ? '(none)'
      : table(
          ['id', 'total', ...hostNames, 'status', 'pattern'],
          s.patterns.map((p) => [
            String(p.id),
            String(p.total),
            ...hostNames.map((h) => String(p.hosts[h] ?? 0)),
            p.status,
            p.text.length > 60 ? `${p.text.slice(0, 57)}...` : p.text,
          ]),
        ),
  );
  if (s.leases.length > 0) {
    out.push('', paint.bold('Leases'));
    out.push(
      table(
        ['pattern', 'holder', 'stage', 'expires'],
        s.leases.map((l) => [
          l.patternKey,
          l.holder ?? '-',
          l.stage,
          l.expiresInSeconds > 0 ? `in ${l.expiresInSeconds}s` : paint.yellow('expired'),
        ]),
      ),
    );
  }
  out.push('', paint.bold('Fixes (deploy state per host)'));
  out.push(
    s.fixes.length === 0
      ? '(none)'
      : table(
          ['fix', 'pattern', 'state', ...hostNames, 'branch'],
          s.fixes.map((f) => [
            String(f.id),
            f.patternKey,
            f.state,
            ...hostNames.map((h) => {
              const d = f.deploys.find((x) => x.host === h);
              return d ? `${d.state}${d.wave === 0 ? ' (canary)' : ''}` : '-';
            }),
            f.branch,
          ]),
        ),
  );
  return `${out.join('\n')}\n`;
}
