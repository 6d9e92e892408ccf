/**
 * The fleet's local side in the host's SQLite: the outbox of events waiting for PostgreSQL, the
 * cursor of counts shipped, and the per-minute counts read from the store's template buckets.
 */
import { type TemplateMinute, templateIdentity, templateMinutesSince } from '../patterns/index.js';
import type { Db } from '../store/index.js';

/** An event waiting to reach the control plane. */
export interface OutboxEvent {
  id: number;
  createdAt: number;
  kind: 'decision' | 'audit' | 'fix_event' | 'voice';
  payload: Record<string, unknown>;
}

/** Queue an event locally; it is shipped (in order) when PostgreSQL answers. */
export function enqueueFleetEvent(
  db: Db,
  kind: OutboxEvent['kind'],
  payload: Record<string, unknown>,
  now: number,
): void {
  db.prepare('INSERT INTO fleet_outbox (created_at, kind, payload) VALUES (?, ?, ?)').run(
    now,
    kind,
    JSON.stringify(payload),
  );
}

/** The oldest `limit` queued events. */
export function pendingFleetEvents(db: Db, limit = 500): OutboxEvent[] {
  const rows = db
    .prepare('SELECT id, created_at, kind, payload FROM fleet_outbox ORDER BY id LIMIT ?')
    .all(limit) as Array<{ id: number; created_at: number; kind: OutboxEvent['kind']; payload: string }>;
  return rows.map((r) => ({ id: r.id, createdAt: r.created_at, kind: r.kind, payload: JSON.parse(r.payload) }));
}

/** Drop shipped events up to and including `id`. */
export function dropFleetEvents(db: Db, upToId: number): void {
  db.prepare('DELETE FROM fleet_outbox WHERE id <= ?').run(upToId);
}

/** A small local value (cursors). */
export function fleetLocal(db: Db, key: string): string | undefined {
  return (db.prepare('SELECT value FROM fleet_local WHERE key = ?').get(key) as { value: string } | undefined)?.value;
}

/** Set a small local value. */
export function setFleetLocal(db: Db, key: string, value: string): void {
  db.prepare(
    'INSERT INTO fleet_local (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  ).run(key, value);
}

/** A local per-minute count with the template it belongs to. */
export type LocalCount = TemplateMinute;

/** Local counts from minute `sinceMinute` on (the store's template buckets, never pruned). */
export function localCountsSince(db: Db, sinceMinute: number, limit = 5000): LocalCount[] {
  return templateMinutesSince(db, sinceMinute, limit);
}

/** A local template's text and stack fingerprint (the key of its fleet-wide id), if it exists. */
export function localTemplateKey(db: Db, templateId: number): { text: string; fingerprint: string } | undefined {
  return templateIdentity(db, templateId);
}
