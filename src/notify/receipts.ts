/**
 * Receipts for what another part hands this host's outboxes (the fleet's voice relay on the
 * leader): where a delivery's rows begin and end in `outbox` (Zulip) and `webhook_outbox`, whether
 * they have all left (sent, merged, superseded or failed for good), and dropping the ones still
 * pending (another leader posted the same events). Rows are found by id range: a delivery is
 * synchronous, so the rows it planned are exactly those between the marks taken around it.
 */
import type { Db } from '../store/index.js';

/** The newest row ids of the two outboxes. */
export interface OutboxMarks {
  zulip: number;
  webhook: number;
}

/** The outboxes' newest row ids now. */
export function outboxMarks(db: Db): OutboxMarks {
  const z = db.prepare('SELECT coalesce(max(id), 0) AS id FROM outbox').get() as { id: number };
  const w = db.prepare('SELECT coalesce(max(id), 0) AS id FROM webhook_outbox').get() as { id: number };
  return { zulip: z.id, webhook: w.id };
}

/** Have all rows with ids in (from, to] left both outboxes (none is pending)? */
export function outboxSettled(db: Db, from: OutboxMarks, to: OutboxMarks): boolean {
  const z = db
    .prepare("SELECT 1 FROM outbox WHERE id > ? AND id <= ? AND state = 'pending' LIMIT 1")
    .get(from.zulip, to.zulip);
  if (z) return false;
  const w = db
    .prepare("SELECT 1 FROM webhook_outbox WHERE id > ? AND id <= ? AND state = 'pending' LIMIT 1")
    .get(from.webhook, to.webhook);
  return !w;
}

/**
 * Drop the rows in (from, to] that are still pending: Zulip rows become `superseded`, webhook rows
 * `failed` with the reason. Returns how many rows were dropped.
 */
export function discardOutboxRange(db: Db, from: OutboxMarks, to: OutboxMarks, reason: string): number {
  return db.transaction(() => {
    const z = db
      .prepare("UPDATE outbox SET state = 'superseded', last_error = ? WHERE id > ? AND id <= ? AND state = 'pending'")
      .run(reason, from.zulip, to.zulip).changes;
    const w = db
      .prepare(
        "UPDATE webhook_outbox SET state = 'failed', last_error = ? WHERE id > ? AND id <= ? AND state = 'pending'",
      )
      .run(reason, from.webhook, to.webhook).changes;
    return z + w;
  })();
}
