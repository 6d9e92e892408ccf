/**
 * Persistence of the template miner in the `templates` table (migration 10), and the log-writer
 * plugin that mines every record at ingest. A restart loads every template back with
 * {@link TemplateStore.loadMiner}, so the same messages get the same ids.
 */
import { DancerError } from '../errors.js';
import type { BatchPlugin, Db, LogRecord, WrittenRow } from '../store/index.js';
import { prepareTemplateRelink } from '../store/index.js';
import { type MinerOptions, type TemplateInfo, TemplateMiner } from './miner.js';
import { patternText } from './pattern-text.js';

interface TemplateDbRow {
  id: number;
  text: string;
  tokens: string;
  token_count: number;
  fingerprint: string;
  first_seen: number;
  last_seen: number;
  count: number;
  max_level: number;
  status: string;
  example_log_ids: string;
  merged_into: number | null;
}

/** Per-template facts the miner does not track itself, gathered from a batch of records. */
export interface TemplateTouch {
  /** Highest pino level seen in the batch. */
  maxLevel: number;
  /** `logs.id` of records of this template in the batch, oldest first. */
  logIds: number[];
}

/** Options of {@link TemplateStore}. */
export interface TemplateStoreOptions {
  /** Example record ids kept per template (newest). Default 5. */
  maxExamples?: number;
}

/** Reads and writes the `templates` table for a {@link TemplateMiner}. */
export class TemplateStore {
  readonly #db: Db;
  readonly #maxExamples: number;
  readonly #upsert;
  readonly #touch;
  readonly #examples;
  readonly #setExamples;
  readonly #relink;
  readonly #level;

  constructor(db: Db, options: TemplateStoreOptions = {}) {
    this.#db = db;
    this.#maxExamples = options.maxExamples ?? 5;
    this.#upsert = db.prepare(
      `INSERT INTO templates (id, text, tokens, token_count, fingerprint, first_seen, last_seen, count, merged_into)
       VALUES (@id, @text, @tokens, @tokenCount, @fingerprint, @firstSeen, @lastSeen, @count, @mergedInto)
       ON CONFLICT (id) DO UPDATE SET text = excluded.text, tokens = excluded.tokens,
         first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen),
         count = excluded.count,
         merged_into = excluded.merged_into`,
    );
    this.#touch = db.prepare('UPDATE templates SET max_level = MAX(max_level, ?) WHERE id = ?');
    this.#examples = db.prepare('SELECT example_log_ids FROM templates WHERE id = ?').pluck();
    this.#setExamples = db.prepare('UPDATE templates SET example_log_ids = ? WHERE id = ?');
    this.#relink = prepareTemplateRelink(db);
    this.#level = db.prepare('SELECT max_level FROM templates WHERE id = ?').pluck();
  }

  /**
   * A miner holding every persisted template, ids as stored.
   *
   * @throws {DancerError} `DANCER_MINER_STATE_INVALID` when a row cannot be read back.
   */
  loadMiner(options: MinerOptions = {}): TemplateMiner {
    const miner = new TemplateMiner(options);
    for (const t of this.all()) miner.restore(t);
    return miner;
  }

  /** Every stored template (merged ones included), by id. */
  all(): TemplateInfo[] {
    const rows = this.#db.prepare('SELECT * FROM templates ORDER BY id').all() as TemplateDbRow[];
    return rows.map(rowToInfo);
  }

  /**
   * Write the templates the miner changed since the last save (in one transaction), record the
   * batch's levels and example ids, and point the log rows of merged templates at the template
   * that absorbed them. `now` stands in for first/last seen the miner does not know. Returns the
   * number of templates written.
   */
  save(miner: TemplateMiner, touched: ReadonlyMap<number, TemplateTouch> = new Map(), now = Date.now()): number {
    const ids = miner.takeDirty();
    const write = () => {
      for (const id of ids) {
        const c = miner.raw(id);
        if (!c) continue;
        this.#upsert.run({
          id: c.id,
          text: c.template,
          tokens: JSON.stringify(c.tokens),
          tokenCount: c.tokenCount,
          fingerprint: c.fingerprint,
          firstSeen: c.firstSeen ?? now,
          lastSeen: c.lastSeen ?? now,
          count: c.count,
          mergedInto: c.mergedInto ?? null,
        });
        if (c.mergedInto !== undefined) {
          const into = miner.resolveId(c.id) ?? c.mergedInto;
          this.#relink(into, c.id);
          this.#touch.run((this.#level.get(c.id) as number | undefined) ?? 0, into);
        }
      }
      for (const [id, touch] of touched) {
        const live = miner.resolveId(id) ?? id;
        this.#touch.run(touch.maxLevel, live);
        if (touch.logIds.length === 0 || this.#maxExamples === 0) continue;
        const current = parseIds(this.#examples.get(live) as string | undefined);
        const merged = [...current.filter((x) => !touch.logIds.includes(x)), ...touch.logIds];
        this.#setExamples.run(JSON.stringify(merged.slice(-this.#maxExamples)), live);
      }
    };
    if (this.#db.inTransaction) write();
    else this.#db.transaction(write).immediate();
    return ids.length;
  }
}

/** The stack lines of a record, for the fingerprint (the message line itself is skipped there). */
export function recordFrames(record: Pick<LogRecord, 'stack'>): string[] | undefined {
  return record.stack ? [record.stack] : undefined;
}

/**
 * A log-writer plugin that mines every record (`prepare` sets `templateId`) and saves the
 * changed templates in the batch's transaction. Put it before the detector's plugin.
 */
export function minerPlugin(store: TemplateStore, miner: TemplateMiner): BatchPlugin {
  return {
    name: 'patterns-miner',
    prepare(record) {
      const frames = recordFrames(record);
      const text = patternText(record);
      record.templateId = miner.addId(text, frames ? { frames, ts: record.ts } : { ts: record.ts });
    },
    inTransaction(_db, rows: WrittenRow[]) {
      const touched = new Map<number, TemplateTouch>();
      for (const row of rows) {
        const r = row.record;
        if (r.templateId === undefined) continue;
        // A template may have been merged later in the same batch: report the live one.
        const id = miner.resolveId(r.templateId) ?? r.templateId;
        r.templateId = id;
        let t = touched.get(id);
        if (!t) {
          t = { maxLevel: 0, logIds: [] };
          touched.set(id, t);
        }
        if (r.level > t.maxLevel) t.maxLevel = r.level;
        if (!t.logIds.includes(row.id)) t.logIds.push(row.id);
      }
      store.save(miner, touched);
    },
  };
}

function parseIds(json: string | undefined): number[] {
  if (!json) return [];
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : [];
  } catch {
    return [];
  }
}

function rowToInfo(row: TemplateDbRow): TemplateInfo {
  let tokens: unknown;
  try {
    tokens = JSON.parse(row.tokens);
  } catch (error) {
    throw new DancerError('DANCER_MINER_STATE_INVALID', `Template ${row.id} has unreadable tokens: ${row.tokens}`, {
      cause: error,
      details: { id: row.id },
    });
  }
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) {
    throw new DancerError('DANCER_MINER_STATE_INVALID', `Template ${row.id} has tokens that are not strings`, {
      details: { id: row.id },
    });
  }
  const info: TemplateInfo = {
    id: row.id,
    template: row.text,
    tokens: tokens as string[],
    tokenCount: row.token_count,
    fingerprint: row.fingerprint,
    count: row.count,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
  };
  if (row.merged_into !== null) info.mergedInto = row.merged_into;
  return info;
}
