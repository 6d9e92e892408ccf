/** The `decisions` and `pattern_ignores` tables: storing decisions and reading them back. */
import type { Db } from '../store/index.js';
import type { Decision, StoredDecisionHead } from './decisions.js';

/** A decision read back from the store. */
export interface StoredDecision extends Decision {
  id: number;
  triggerId: string | null;
}

interface Row {
  id: number;
  at: number;
  rule: Decision['rule'];
  key: string;
  template_id: number | null;
  outcome: Decision['outcome'];
  urgent: number;
  reason_code: Decision['reasonCode'];
  reason: string;
  numbers: string;
  trigger_id: string | null;
}

function fromRow(r: Row): StoredDecision {
  return {
    id: r.id,
    at: r.at,
    rule: r.rule,
    key: r.key,
    templateId: r.template_id ?? undefined,
    outcome: r.outcome,
    urgent: r.urgent === 1,
    reasonCode: r.reason_code,
    reason: r.reason,
    numbers: JSON.parse(r.numbers) as Record<string, unknown>,
    triggerId: r.trigger_id,
  };
}

/** Store one decision; returns its row id. */
export function insertDecision(db: Db, d: Decision, triggerId?: string): number {
  const info = db
    .prepare(
      `INSERT INTO decisions (at, rule, key, template_id, outcome, urgent, reason_code, reason, numbers, trigger_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      d.at,
      d.rule,
      d.key,
      d.templateId ?? null,
      d.outcome,
      d.urgent ? 1 : 0,
      d.reasonCode,
      d.reason,
      JSON.stringify(d.numbers),
      triggerId ?? null,
    );
  return Number(info.lastInsertRowid);
}

/** The last stored decision for a key (outcome, reason code, time), or undefined. */
export function lastDecisionHead(db: Db, key: string): StoredDecisionHead | undefined {
  const row = db
    .prepare(
      'SELECT outcome, reason_code AS reasonCode, at FROM decisions WHERE key = ? ORDER BY at DESC, id DESC LIMIT 1',
    )
    .get(key) as StoredDecisionHead | undefined;
  return row;
}

/** When each key last fired. */
export function lastFireTimes(db: Db): Map<string, number> {
  const rows = db
    .prepare("SELECT key, MAX(at) AS at FROM decisions WHERE outcome = 'fire' GROUP BY key")
    .all() as Array<{ key: string; at: number }>;
  return new Map(rows.map((r) => [r.key, r.at]));
}

/** When a rule last fired (e.g. the last scheduled review), or undefined. */
export function lastFireOf(db: Db, rule: Decision['rule']): number | undefined {
  const row = db.prepare("SELECT MAX(at) AS at FROM decisions WHERE rule = ? AND outcome = 'fire'").get(rule) as {
    at: number | null;
  };
  return row.at ?? undefined;
}

/** The last `limit` decisions about a template, newest first. */
export function decisionsForTemplate(db: Db, templateId: number, limit = 10): StoredDecision[] {
  const rows = db
    .prepare('SELECT * FROM decisions WHERE template_id = ? ORDER BY at DESC, id DESC LIMIT ?')
    .all(templateId, limit) as Row[];
  return rows.map(fromRow);
}

/** Decisions in time order (oldest first), optionally since `since` ms and only one outcome. */
export function listDecisions(
  db: Db,
  options: { since?: number; outcome?: Decision['outcome']; limit?: number } = {},
): StoredDecision[] {
  const rows = db
    .prepare(`SELECT * FROM decisions WHERE at >= ? AND (? IS NULL OR outcome = ?) ORDER BY at, id LIMIT ?`)
    .all(options.since ?? 0, options.outcome ?? null, options.outcome ?? null, options.limit ?? -1) as Row[];
  return rows.map(fromRow);
}

/** The rate each ignored template had when it was ignored. */
export function ignoredRates(db: Db): Map<number, number> {
  const rows = db.prepare('SELECT template_id AS id, rate_per_min AS rate FROM pattern_ignores').all() as Array<{
    id: number;
    rate: number;
  }>;
  return new Map(rows.map((r) => [r.id, r.rate]));
}

/** Remember the rate a template had when it was ignored (replaces an earlier one). */
export function recordIgnore(db: Db, templateId: number, ratePerMinute: number, at: number, actor?: string): void {
  db.prepare(
    `INSERT INTO pattern_ignores (template_id, at, rate_per_min, actor) VALUES (?, ?, ?, ?)
     ON CONFLICT (template_id) DO UPDATE SET at = excluded.at, rate_per_min = excluded.rate_per_min, actor = excluded.actor`,
  ).run(templateId, at, ratePerMinute, actor ?? null);
}

/** Forget an ignore. */
export function clearIgnore(db: Db, templateId: number): void {
  db.prepare('DELETE FROM pattern_ignores WHERE template_id = ?').run(templateId);
}

/** One decision by row id. */
export function decisionById(db: Db, id: number): StoredDecision | undefined {
  const row = db.prepare('SELECT * FROM decisions WHERE id = ?').get(id) as Row | undefined;
  return row === undefined ? undefined : fromRow(row);
}
