/**
 * Reads of the patterns tables (`templates`, `template_buckets`, `decisions`) for the other
 * stages: the brief and the store tools, the changelog, the healing loop, the fleet agent, the
 * bot's store watcher and the demo. Each answers one question; a table an older or fresh store
 * does not have yet reads as empty.
 */
import type { Db } from '../store/index.js';
import { tableExists } from '../store/index.js';
import type { Decision } from './decisions.js';
import type { TemplateRow } from './pattern-queries.js';
import type { TemplateStatus } from './triggers.js';

/** Whether template `id` exists (merged ones included). */
export function templateExists(db: Db, id: number): boolean {
  return tableExists(db, 'templates') && db.prepare('SELECT 1 FROM templates WHERE id = ?').get(id) !== undefined;
}

/** A template's text and stack fingerprint (`''` without a stack), or undefined. */
export function templateIdentity(db: Db, id: number): { text: string; fingerprint: string } | undefined {
  if (!tableExists(db, 'templates')) return undefined;
  const row = db.prepare('SELECT text, fingerprint FROM templates WHERE id = ?').get(id) as
    | { text: string; fingerprint: string | null }
    | undefined;
  return row && { text: row.text, fingerprint: row.fingerprint ?? '' };
}

/** What {@link templatesSeenSince} filters on. */
export interface TemplatesSeenFilter {
  /** Only templates whose highest level is at least this (pino number). */
  minLevel: number;
  /** Only templates seen at or after this time (ms). */
  since: number;
  status?: TemplateStatus | undefined;
  limit: number;
}

/**
 * Templates seen since `filter.since` at `filter.minLevel` or above, most frequent first, merged
 * ones included (unlike `listTemplates`): what the store tools list to the agent.
 */
export function templatesSeenSince(db: Db, filter: TemplatesSeenFilter): TemplateRow[] {
  if (!tableExists(db, 'templates')) return [];
  return db
    .prepare(
      `SELECT id, text, first_seen AS firstSeen, last_seen AS lastSeen, count, max_level AS maxLevel, status
       FROM templates WHERE max_level >= ? AND last_seen >= ? AND (? IS NULL OR status = ?)
       ORDER BY count DESC, id LIMIT ?`,
    )
    .all(filter.minLevel, filter.since, filter.status ?? null, filter.status ?? null, filter.limit) as TemplateRow[];
}

/** Template `templateId`'s count per minute over minutes `from..to` (inclusive), minutes without records left out. */
export function templateMinuteCounts(
  db: Db,
  templateId: number,
  from: number,
  to: number,
): Array<{ minute: number; n: number }> {
  if (!tableExists(db, 'template_buckets')) return [];
  return db
    .prepare(
      'SELECT minute, count AS n FROM template_buckets WHERE template_id = ? AND minute BETWEEN ? AND ? ORDER BY minute',
    )
    .all(templateId, from, to) as Array<{ minute: number; n: number }>;
}

/** Template `templateId`'s records over minutes [from, to). */
export function templateCountBetween(db: Db, templateId: number, from: number, to: number): number {
  if (!tableExists(db, 'template_buckets')) return 0;
  return (
    db
      .prepare(
        'SELECT COALESCE(SUM(count), 0) AS n FROM template_buckets WHERE template_id = ? AND minute >= ? AND minute < ?',
      )
      .get(templateId, from, to) as { n: number }
  ).n;
}

/** One minute of one template, with its text and fingerprint (what the fleet agent ships). */
export interface TemplateMinute {
  localId: number;
  text: string;
  fingerprint: string;
  minute: number;
  count: number;
  errors: number;
}

/** Every template's counts per minute from minute `sinceMinute` on, by minute then template (at most `limit`). */
export function templateMinutesSince(db: Db, sinceMinute: number, limit = 5000): TemplateMinute[] {
  return db
    .prepare(
      `SELECT b.template_id AS localId, t.text AS text, t.fingerprint AS fingerprint, b.minute AS minute,
              b.count AS count, b.n_error + b.n_fatal AS errors
       FROM template_buckets b JOIN templates t ON t.id = b.template_id
       WHERE b.template_id > 0 AND b.minute >= ? ORDER BY b.minute, b.template_id LIMIT ?`,
    )
    .all(sinceMinute, limit) as TemplateMinute[];
}

/** A decision row as the watchers read it. */
export interface DecisionHead {
  id: number;
  at: number;
  rule: Decision['rule'];
  outcome: Decision['outcome'];
  templateId: number | null;
  reasonCode: Decision['reasonCode'];
  reason: string;
}

/** Decisions recorded after decision `afterId`, oldest first (only `outcome` when set; at most `limit`). */
export function decisionsAfter(
  db: Db,
  afterId: number,
  options: { outcome?: Decision['outcome'] | undefined; limit?: number | undefined } = {},
): DecisionHead[] {
  if (!tableExists(db, 'decisions')) return [];
  return db
    .prepare(
      `SELECT id, at, rule, outcome, template_id AS templateId, reason_code AS reasonCode, reason FROM decisions
       WHERE id > ? AND (? IS NULL OR outcome = ?) ORDER BY id LIMIT ?`,
    )
    .all(afterId, options.outcome ?? null, options.outcome ?? null, options.limit ?? -1) as DecisionHead[];
}

/** The id of the newest decision (0 when there is none). */
export function lastDecisionId(db: Db): number {
  if (!tableExists(db, 'decisions')) return 0;
  return (db.prepare('SELECT COALESCE(MAX(id), 0) AS m FROM decisions').get() as { m: number }).m;
}
