/**
 * Fleet-wide counts for the detector's trigger rules: what the other hosts shipped of each
 * template over the last minutes, cached in memory (the detector's evaluation is synchronous and
 * on the ingest path, so it never waits on PostgreSQL). The agent refreshes the cache at each
 * heartbeat; a host cut off from PostgreSQL keeps the last figures until they age out of the
 * window, then counts only its own.
 */
import type { Db } from '../store/index.js';
import type { Queryable } from './connect.js';
import { localTemplateKey } from './local.js';

/** The cache of other hosts' counts. */
export interface RemoteCountsCache {
  /** Other hosts' occurrences of local template `templateId` in minutes `from..to`. */
  counts(templateId: number, fromMinute: number, toMinute: number): { count: number; errors: number } | undefined;
  /** Re-read the other hosts' counts of the last `windowMinutes` minutes. */
  refresh(q: Queryable, nowMs?: number): Promise<void>;
}

const key = (text: string, fingerprint: string) => `${fingerprint}\u0000${text}`;

/** A cache for `host`'s store over the last `windowMinutes` minutes. */
export function createRemoteCounts(o: { db: Db; host: string; windowMinutes: number }): RemoteCountsCache {
  // template key -> minute -> { count, errors } summed over the other hosts
  let byKey = new Map<string, Map<number, { count: number; errors: number }>>();
  const localKeys = new Map<number, string | null>();

  const keyOf = (templateId: number): string | undefined => {
    let k = localKeys.get(templateId);
    if (k === undefined) {
      const t = localTemplateKey(o.db, templateId);
      k = t ? key(t.text, t.fingerprint) : null;
      localKeys.set(templateId, k);
    }
    return k ?? undefined;
  };

  return {
    counts(templateId, fromMinute, toMinute) {
      if (byKey.size === 0) return undefined;
      const k = keyOf(templateId);
      const minutes = k === undefined ? undefined : byKey.get(k);
      if (!minutes) return undefined;
      let count = 0;
      let errors = 0;
      for (const [m, c] of minutes) {
        if (m < fromMinute || m > toMinute) continue;
        count += c.count;
        errors += c.errors;
      }
      return count > 0 ? { count, errors } : undefined;
    },
    async refresh(q, nowMs = Date.now()) {
      const since = Math.floor(nowMs / 60_000) - Math.max(1, o.windowMinutes);
      const r = await q.query(
        `SELECT t.text, t.fingerprint, c.minute, SUM(c.count)::bigint AS n, SUM(c.errors)::bigint AS e
         FROM fleet_template_counts c JOIN fleet_templates t ON t.id = c.template_id
         WHERE c.minute >= $1 AND c.host <> $2 GROUP BY t.text, t.fingerprint, c.minute`,
        [since, o.host],
      );
      const next = new Map<string, Map<number, { count: number; errors: number }>>();
      for (const row of r.rows) {
        const k = key(row.text, row.fingerprint);
        let minutes = next.get(k);
        if (!minutes) {
          minutes = new Map();
          next.set(k, minutes);
        }
        minutes.set(Number(row.minute), { count: Number(row.n), errors: Number(row.e) });
      }
      byKey = next;
      // The miner may have widened a local template's text since: look the keys up again.
      localKeys.clear();
    },
  };
}
