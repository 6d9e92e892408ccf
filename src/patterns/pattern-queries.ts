/**
 * Reads of the `templates` table (owned by the miner, migration 10) that the detector and the
 * `dancer patterns` CLI need, plus status changes made by the detector and the CLI.
 */
import type { Db } from '../store/index.js';
import { newestLogsOfTemplate, tableExists } from '../store/index.js';
import { decisionById, type StoredDecision } from './decisions-store.js';
import type { TemplateStatus } from './triggers.js';

/** One row of `templates`, as the detector and CLI see it. */
export interface TemplateRow {
  id: number;
  text: string;
  /** ms since epoch. */
  firstSeen: number;
  /** ms since epoch. */
  lastSeen: number;
  count: number;
  maxLevel: number;
  status: TemplateStatus;
}

const SELECT =
  'SELECT id, text, first_seen AS firstSeen, last_seen AS lastSeen, count, max_level AS maxLevel, status FROM templates';

/** Templates by id (missing ids are left out). */
export function templatesById(db: Db, ids: Iterable<number>): Map<number, TemplateRow> {
  const list = [...new Set(ids)];
  const out = new Map<number, TemplateRow>();
  for (let i = 0; i < list.length; i += 500) {
    const chunk = list.slice(i, i + 500);
    const rows = db.prepare(`${SELECT} WHERE id IN (${chunk.map(() => '?').join(',')})`).all(...chunk) as TemplateRow[];
    for (const row of rows) out.set(row.id, row);
  }
  return out;
}

/** One template, or undefined. */
export function templateById(db: Db, id: number): TemplateRow | undefined {
  return db.prepare(`${SELECT} WHERE id = ?`).get(id) as TemplateRow | undefined;
}

/** Filters for {@link listTemplates}. */
export interface TemplateFilter {
  /** Only templates with at least this many records. */
  minCount?: number | undefined;
  /** Only templates seen at or after this time (ms). */
  since?: number | undefined;
  /** Only templates whose highest level is at least this (pino number). */
  minLevel?: number | undefined;
  status?: TemplateStatus | undefined;
  limit?: number | undefined;
}

/** Templates, most frequent first. */
export function listTemplates(db: Db, filter: TemplateFilter = {}): TemplateRow[] {
  return db
    .prepare(
      `${SELECT} WHERE merged_into IS NULL AND count >= ? AND last_seen >= ? AND max_level >= ?
         AND (? IS NULL OR status = ?)
       ORDER BY count DESC, id LIMIT ?`,
    )
    .all(
      filter.minCount ?? 0,
      filter.since ?? 0,
      filter.minLevel ?? 0,
      filter.status ?? null,
      filter.status ?? null,
      filter.limit ?? -1,
    ) as TemplateRow[];
}

/** Set a template's status. Returns false when there is no such template. */
export function setTemplateStatus(db: Db, id: number, status: TemplateStatus): boolean {
  return db.prepare('UPDATE templates SET status = ? WHERE id = ?').run(status, id).changes > 0;
}

/**
 * Promote `new` templates first seen before `cutoff` (ms) to `known`; returns how many changed.
 * A template is new for `patterns.triggers.newPattern.firstSeenWithinMinutes` after it first appears.
 */
export function promoteKnown(db: Db, cutoff: number): number {
  return db.prepare("UPDATE templates SET status = 'known' WHERE status = 'new' AND first_seen < ?").run(cutoff)
    .changes;
}

/** Whether the `templates` table exists (the miner's migration has run). */
export function hasTemplatesTable(db: Db): boolean {
  return tableExists(db, 'templates');
}

/**
 * The values of `message` for the `<*>` of `template`, in order, or undefined when the message
 * does not fit. Whitespace runs match any whitespace; a `<*>` matches the shortest text that lets
 * the rest fit.
 */
export function templateParameters(template: string, message: string): string[] | undefined {
  const parts = template.trim().split('<*>');
  const pattern = parts
    .map((p) => p.trim().split(/\s+/).filter(Boolean).map(escapeRegex).join('\\s+'))
    .join('\\s*(.*?)\\s*');
  const match = new RegExp(`^\\s*${pattern}\\s*$`, 's').exec(message);
  return match ? match.slice(1).map((v) => v ?? '') : undefined;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One example record of a template. */
export interface TemplateExample {
  id: number;
  ts: number;
  level: number;
  count: number;
  message: string;
  parameters: string[] | undefined;
}

/**
 * The newest `limit` records of a template, with their parameters: from `parametersOf` (the
 * miner's own extraction) when given and it fits, else from the template text.
 */
export function templateExamples(
  db: Db,
  template: Pick<TemplateRow, 'id' | 'text'>,
  limit = 5,
  parametersOf?: (message: string, templateId: number) => string[] | undefined,
): TemplateExample[] {
  return newestLogsOfTemplate(db, template.id, limit).map((r) => ({
    ...r,
    parameters: parametersOf?.(r.message, template.id) ?? templateParameters(template.text, r.message),
  }));
}

/** A template id and the ids of every template merged into it (directly or through others). */
export function withMergedIds(db: Db, id: number): number[] {
  const rows = db
    .prepare(
      `WITH RECURSIVE m(id) AS (SELECT ? UNION SELECT t.id FROM templates t JOIN m ON t.merged_into = m.id)
       SELECT id FROM m`,
    )
    .all(id) as Array<{ id: number }>;
  return rows.map((r) => r.id);
}

/** The last `limit` decisions whose key is `key` or starts with `key:`, newest first. */
export function decisionsForKey(db: Db, key: string, limit = 10): StoredDecision[] {
  const ids = db
    .prepare('SELECT id FROM decisions WHERE key = ? OR key LIKE ? ORDER BY at DESC, id DESC LIMIT ?')
    .all(key, `${key}:%`, limit) as Array<{ id: number }>;
  return ids.map((r) => decisionById(db, r.id)).filter((d): d is StoredDecision => d !== undefined);
}

/** How many mined patterns have each status (empty without the templates table). */
export function templateCountsByStatus(db: Db): Array<{ status: string; count: number }> {
  if (!hasTemplatesTable(db)) return [];
  return db.prepare('SELECT status, COUNT(*) AS count FROM templates GROUP BY status ORDER BY status').all() as Array<{
    status: string;
    count: number;
  }>;
}
