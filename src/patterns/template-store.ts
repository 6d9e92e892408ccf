/**
 * Persistence of the template miner in the `templates` table (migration 10), and the log-writer
 * plugin that mines every record at ingest. A restart loads every template back with
 * {@link TemplateStore.loadMiner}, so the same messages get the same ids.
 */
import { DancerError } from '../errors.js';
import type { BatchPlugin, Db, LogRecord, WrittenRow } from '../store/index.js';
import { prepareTemplateRelink } from '../store/index.js';
import { DEFAULT_MINER_OPTIONS, type MinerOptions, type TemplateInfo, TemplateMiner } from './miner.js';
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
  readonly #mustKeep;

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
    this.#mustKeep = db
      .prepare(
        `SELECT 1 FROM templates WHERE id = @id AND status IN ${KEPT_STATUSES}
         UNION ALL SELECT 1 FROM decisions WHERE template_id = @id AND outcome = 'fire'
         UNION ALL SELECT 1 FROM pattern_ignores WHERE template_id = @id
         LIMIT 1`,
      )
      .pluck();
  }

  /**
   * May the miner never evict this template? True when its pattern triggered (a fired decision),
   * is ignored, or is being fixed, fixed or ignored by a fix: the detector, the fixes and humans
   * know it by this id, so its shape must keep it.
   */
  mustKeep(id: number): boolean {
    return this.#mustKeep.get({ id }) !== undefined;
  }

  /**
   * A miner holding the persisted templates, ids as stored, that evicts through
   * {@link mustKeep}. With a cap (`maxTemplates`), at most that many live templates are loaded,
   * the most recently seen, plus every one {@link mustKeep} pins, and the merged ones that point
   * at them; new ids start above every stored one.
   *
   * @throws {DancerError} `DANCER_MINER_STATE_INVALID` when a row cannot be read back.
   */
  loadMiner(options: MinerOptions = {}): TemplateMiner {
    const miner = new TemplateMiner({ mustKeep: (id) => this.mustKeep(id), ...options });
    const cap = options.maxTemplates ?? DEFAULT_MINER_OPTIONS.maxTemplates;
    if (cap <= 0) {
      for (const t of this.all()) miner.restore(t);
      return miner;
    }
    const rows = (sql: string, ...params: unknown[]) =>
      (this.#db.prepare(sql).all(...params) as TemplateDbRow[]).map(rowToInfo);
    const live = rows(
      'SELECT * FROM templates WHERE merged_into IS NULL ORDER BY last_seen DESC, id DESC LIMIT ?',
      cap,
    );
    const loaded = new Set(live.map((t) => t.id));
    const pinned = this.#db
      .prepare(
        `SELECT id FROM templates WHERE merged_into IS NULL AND (status IN ${KEPT_STATUSES}
           OR id IN (SELECT template_id FROM decisions WHERE outcome = 'fire')
           OR id IN (SELECT template_id FROM pattern_ignores))`,
      )
      .pluck()
      .all() as number[];
    for (const id of pinned) {
      if (loaded.has(id)) continue;
      live.push(...rows('SELECT * FROM templates WHERE id = ?', id));
      loaded.add(id);
    }
    // Oldest first, so the most recently seen ends first in the eviction order.
    for (const t of live.reverse()) miner.restore(t);
    // Merged templates whose chain ends at a loaded one.
    const into = new Map(
      (
        this.#db.prepare('SELECT id, merged_into FROM templates WHERE merged_into IS NOT NULL').raw().all() as Array<
          [number, number]
        >
      ).map(([id, to]) => [id, to]),
    );
    const rootOf = (id: number): number => {
      let at = id;
      for (let hops = 0; into.has(at) && hops < 1000; hops++) at = into.get(at) as number;
      return at;
    };
    const merged = [...into.keys()].filter((id) => loaded.has(rootOf(id))).sort((a, b) => a - b);
    for (const id of merged) for (const t of rows('SELECT * FROM templates WHERE id = ?', id)) miner.restore(t);
    const max = this.#db.prepare('SELECT MAX(id) FROM templates').pluck().get() as number | null;
    if (max !== null) miner.reserveIds(max);
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
    const evicted = miner.takeEvicted();
    const write = () => {
      if (evicted > 0) addEvictions(this.#db, evicted);
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

/** Statuses whose templates the miner never evicts (see {@link TemplateStore.mustKeep}). */
const KEPT_STATUSES = "('fixing', 'fixed', 'ignored')";
const EVICTED_KEY = 'miner_evicted_templates';

function addEvictions(db: Db, n: number): void {
  db.prepare(
    `INSERT INTO detector_state (key, value) VALUES (?, ?)
     ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER) AS TEXT)`,
  ).run(EVICTED_KEY, String(n));
}

/**
 * Templates the miner evicted from memory to stay under `patterns.miner.maxTemplates`, over the
 * store's life (their rows stay).
 */
export function minerEvictions(db: Db): number {
  const row = db.prepare('SELECT value FROM detector_state WHERE key = ?').pluck().get(EVICTED_KEY) as
    | string
    | undefined;
  return row === undefined ? 0 : Number(row);
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
