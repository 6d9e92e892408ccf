/**
 * The live detector: records stored -> evaluation -> decision. It plugs into the store's
 * {@link LogWriter} as a {@link BatchPlugin}: inside each ingest transaction it adds the batch to
 * `template_buckets`; after the commit it evaluates the templates the batch touched (new pattern,
 * template spike), the overall error rate (when the batch had errors) and crash records, runs the
 * gates, stores every decision and emits a `trigger` event for each one that fires. A timer
 * (`start()`) folds completed minutes into the baselines, promotes `new` templates to `known`,
 * and runs the scheduled review.
 *
 * Events (Node `EventEmitter`):
 * - `trigger` ({@link TriggerEvent}): a decision fired; the consultation stage consumes it and calls
 *   {@link Detector.complete} with its `id` when the consultation ends (that frees the slot).
 * - `decision` ({@link StoredDecision}): every stored decision, fire or suppress.
 * - `error` is never emitted; failures go to `onError` (default `process.emitWarning`).
 *
 * Evaluation is synchronous and uses the clock given in the options (`now`), so replay drives
 * the same code on a virtual clock.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { TriggersConfig } from '../config/index.js';
import { DancerError, errorMessage } from '../errors.js';
import type { BatchPlugin, LogRecord, WrittenRow } from '../store/index.js';
import { type Db, toStoreError } from '../store/index.js';
import { advanceBaselines, type BaselineState, ERRORS_KEY, type MinuteSummary, templateKey } from './baselines.js';
import type { BucketDelta } from './buckets.js';
import { RecentBuckets } from './buckets-recent.js';
import { bucketRows, firstBucketMinute, perTemplateWindow, writeRecordBuckets } from './buckets-store.js';
import { type ActiveConsultation, type Decision, decide, type StoredDecisionHead, shouldStore } from './decisions.js';
import {
  ignoredRates,
  insertDecision,
  lastDecisionHead,
  lastFireOf,
  lastFireTimes,
  type StoredDecision,
} from './decisions-store.js';
import { getState, loadBaselines, saveBaselines, setState } from './detector-store.js';
import { hasTemplatesTable, promoteKnown, type TemplateRow, templatesById } from './pattern-queries.js';
import {
  type CrashInput,
  crashTrigger,
  errorRateSpikeRule,
  isCrashRecord,
  newPatternRule,
  nextReviewAt,
  type ReviewEntry,
  reviewRule,
  type Signal,
  type TemplateStatus,
  type TriggerKind,
  templateSpikeRule,
} from './triggers.js';
import { type BucketCounts, countAtLeast, MINUTE_MS, minuteOf, windowRange } from './windows.js';

/** What the consultation stage receives when a decision fires. */
export interface TriggerEvent {
  /** Unique id; pass it to {@link Detector.complete} when the consultation ends. */
  id: string;
  kind: TriggerKind;
  templateId?: number | undefined;
  urgent: boolean;
  /** The numbers the rule saw. */
  numbers: Record<string, unknown>;
  /** Why it fired, in plain words. */
  reason: string;
  /** Decision time (ms since epoch, detector clock). */
  at: number;
  /** Row id of the decision in the `decisions` table. */
  decisionId: number;
}

/**
 * Occurrences of a template that other hosts of a fleet saw in minutes `from..to` (src/fleet),
 * added to this host's own in the new-pattern window. Spikes stay per host: a host's count is
 * compared with its own baseline.
 */
export type RemoteCounts = (
  templateId: number,
  fromMinute: number,
  toMinute: number,
) => { count: number; errors: number } | undefined;

/** Options for {@link Detector}. */
export interface DetectorOptions {
  /** The store (the same database the writer writes). */
  db: Db;
  /** `patterns.triggers` from the config. */
  config: TriggersConfig;
  /** The clock (ms since epoch). Default `Date.now`. */
  now?: () => number;
  /**
   * Consultations running now. Default: the detector's own view (every fired trigger until
   * {@link Detector.complete}). The consultation stage may pass its persisted view instead.
   */
  activeConsultations?: () => readonly ActiveConsultation[];
  /** Told about failures (the detector never throws into the writer). Default `process.emitWarning`. */
  onError?: (error: DancerError) => void;
  /** Timer period for baselines and reviews, ms. Default 5000. */
  tickMs?: number;
  /** Fleet-wide counts (see {@link RemoteCounts}); also settable later with `setRemoteCounts`. */
  remoteCounts?: RemoteCounts | undefined;
}

/** Events of a {@link Detector}. */
export interface DetectorEvents {
  trigger: [TriggerEvent];
  decision: [StoredDecision];
}

/** How far back baselines are rebuilt from buckets when none were persisted (7 days). */
const BOOTSTRAP_MINUTES = 7 * 24 * 60;

/** The live detector. See the module comment for the event contract. */
export class Detector extends EventEmitter<DetectorEvents> {
  readonly #db: Db;
  readonly #config: TriggersConfig;
  readonly #now: () => number;
  readonly #activeFn: (() => readonly ActiveConsultation[]) | undefined;
  readonly #onError: (error: DancerError) => void;
  readonly #tickMs: number;
  #remoteCounts: RemoteCounts | undefined;
  readonly #active = new Map<string, ActiveConsultation>();
  /** One-shot signals (crash, review) held back by the concurrency limit, by key. */
  readonly #pending = new Map<string, Signal>();
  readonly #heads = new Map<string, StoredDecisionHead | null>();
  #lastFire: Map<string, number>;
  #baselines: Map<string, BaselineState>;
  #foldedTo: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reviewAnchor: number;
  readonly #recent: RecentBuckets;
  #pendingDeltas: BucketDelta[] = [];

  /**
   * Load the persisted state (cooldowns, baselines, review schedule) from the store.
   *
   * @throws {DancerError} `DANCER_STORE_LOCKED` / `DANCER_STORE_WRITE_FAILED` / `DANCER_STORE_OPEN_FAILED`
   * when the state cannot be read (e.g. a database without the patterns migrations).
   */
  constructor(options: DetectorOptions) {
    super();
    this.#db = options.db;
    this.#config = options.config;
    this.#now = options.now ?? Date.now;
    this.#activeFn = options.activeConsultations;
    this.#onError = options.onError ?? ((e) => process.emitWarning(`${e.code}: ${e.message}`));
    this.#tickMs = options.tickMs ?? 5000;
    this.#remoteCounts = options.remoteCounts;
    this.#recent = new RecentBuckets(
      this.#db,
      Math.max(options.config.newPattern.windowMinutes, options.config.spike.windowMinutes),
    );
    try {
      this.#lastFire = lastFireTimes(this.#db);
      this.#baselines = loadBaselines(this.#db);
      const folded = getState(this.#db, 'baselines.foldedTo');
      this.#foldedTo = folded === undefined ? undefined : Number(folded);
      const anchor = getState(this.#db, 'review.anchor');
      if (anchor === undefined) {
        this.#reviewAnchor = this.#now();
        setState(this.#db, 'review.anchor', String(this.#reviewAnchor));
      } else {
        this.#reviewAnchor = Number(anchor);
      }
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /**
   * The writer plugin: buckets in the ingest transaction, evaluation after the commit. Put it
   * after the miner's plugin (whose `prepare` sets `templateId`).
   */
  plugin(): BatchPlugin {
    return {
      name: 'patterns-detector',
      inTransaction: (db, rows) => {
        this.#pendingDeltas = [];
        this.#pendingDeltas = writeRecordBuckets(
          db,
          rows.map((r) => r.record),
          this.#config.review.slowRequestMs,
        );
      },
      afterCommit: (rows) => {
        this.#recent.apply(this.#pendingDeltas);
        this.#pendingDeltas = [];
        this.onCommitted(rows);
      },
    };
  }

  /** Evaluate a committed batch (called by the plugin). Never throws. */
  onCommitted(rows: readonly WrittenRow[]): StoredDecision[] {
    return this.#guard('evaluate', () => {
      const ids = new Set<number>();
      let errors = false;
      const crashes: LogRecord[] = [];
      const errorLevel = this.#levelNumber(this.#config.spike.errorLevel);
      for (const { record } of rows) {
        if (record.templateId !== undefined && record.templateId > 0) ids.add(record.templateId);
        if (record.level >= errorLevel) errors = true;
        if (this.#config.crash.enabled && isCrashRecord(record)) crashes.push(record);
      }
      const signals: Signal[] = [];
      if (crashes.length > 0) {
        const crash = crashTrigger({ lastRecords: crashes });
        if (crash !== null) signals.push(crash);
      }
      return this.evaluate(ids, { errors, extraSignals: signals });
    });
  }

  /**
   * Evaluate templates (and optionally the overall error rate) now: run the rules, the gates,
   * store the decisions and emit triggers. Synchronous; returns the decisions stored.
   */
  evaluate(
    templateIds: Iterable<number>,
    options: { errors?: boolean; extraSignals?: readonly Signal[]; now?: number } = {},
  ): StoredDecision[] {
    const now = options.now ?? this.#now();
    this.#advanceBaselines(now);
    const config = this.#config;
    const signals: Signal[] = [...(options.extraSignals ?? [])];
    const nw = windowRange(now, config.newPattern.windowMinutes);
    const sw = windowRange(now, config.spike.windowMinutes);
    const ids = [...new Set(templateIds)];
    this.#recent.ensure(ids, minuteOf(now));
    // Only templates whose window counts could pass a rule need their row and the rules.
    const windows = new Map<number, { newWindow: BucketCounts; spikeWindow: BucketCounts }>();
    for (const id of ids) {
      const newWindow = withRemote(this.#recent.template(id, nw.from, nw.to), this.#remoteCounts?.(id, nw.from, nw.to));
      const spikeWindow = this.#recent.template(id, sw.from, sw.to);
      const maybeNew =
        config.newPattern.enabled && countAtLeast(newWindow, config.newPattern.minLevel) > config.newPattern.minCount;
      const maybeSpike = config.spike.enabled && config.spike.templates && spikeWindow.count >= config.spike.minEvents;
      if (maybeNew || maybeSpike) windows.set(id, { newWindow, spikeWindow });
    }
    const templates =
      windows.size > 0 && this.#hasTemplates()
        ? templatesById(this.#db, windows.keys())
        : new Map<number, TemplateRow>();
    for (const t of templates.values()) {
      const w = windows.get(t.id);
      if (w === undefined) continue;
      const view = {
        id: t.id,
        text: t.text,
        status: t.status,
        firstSeen: t.firstSeen,
        maxLevel: t.maxLevel,
        newWindow: w.newWindow,
        spikeWindow: w.spikeWindow,
        baseline: this.#baselines.get(templateKey(t.id)),
      };
      const fresh = newPatternRule(view, now, config);
      if (fresh !== null) signals.push(fresh);
      const spike = templateSpikeRule(view, now, config);
      if (spike !== null) signals.push(spike);
    }
    if (options.errors) {
      const spike = errorRateSpikeRule(this.#recent.overall(sw.from, sw.to), this.#baselines.get(ERRORS_KEY), config);
      if (spike !== null) {
        // Rare: only when the rule holds. Which patterns make up the errors, for the dedupe gate.
        const contributors = [...perTemplateWindow(this.#db, sw.from, sw.to)]
          .map(([templateId, c]) => ({ templateId, count: countAtLeast(c, config.spike.errorLevel) }))
          .filter((c) => c.count > 0 && c.templateId > 0)
          .sort((a, b) => b.count - a.count)
          .slice(0, 5);
        signals.push({ ...spike, contributors, numbers: { ...spike.numbers, topTemplates: contributors } });
      }
    }
    return this.#decideAndStore(signals, now, templates);
  }

  /**
   * The supervisor's hook: the process exited (or is about to be restarted) with `exitCode` /
   * `signal`, having logged `lastRecords`. Fires an urgent crash trigger unless the exit was
   * clean or a gate holds it (a crash held by the concurrency limit fires when a slot frees).
   * Returns the stored decision, or null when there was nothing to decide. Never throws.
   */
  crashTrigger(input: CrashInput): StoredDecision | null {
    return (
      this.#guard('crash', () => {
        if (!this.#config.crash.enabled) return [];
        const signal = crashTrigger(input);
        if (signal === null) return [];
        return this.#decideAndStore([signal], this.#now(), new Map());
      })[0] ?? null
    );
  }

  /**
   * Periodic work: fold completed minutes into the baselines, promote templates older than the
   * new-pattern period to `known`, retry held one-shot triggers, and run the scheduled review
   * when due. Called by the timer; replay calls it on its virtual clock. Never throws.
   */
  tick(now: number = this.#now()): StoredDecision[] {
    return this.#guard('tick', () => {
      this.#advanceBaselines(now);
      this.#recent.prune(minuteOf(now));
      if (this.#hasTemplates()) {
        promoteKnown(this.#db, now - this.#config.newPattern.firstSeenWithinMinutes * MINUTE_MS);
      }
      const out = this.#retryPending(now);
      const review = this.#reviewSignal(now);
      if (review !== null) out.push(...this.#decideAndStore([review], now, new Map()));
      return out;
    });
  }

  /** Use fleet-wide counts from now on (undefined: this host's own only). */
  setRemoteCounts(counts: RemoteCounts | undefined): void {
    this.#remoteCounts = counts;
  }

  /** A consultation started by trigger `id` ended: free its slot (and retry held triggers). */
  complete(id: string): void {
    if (this.#active.delete(id)) this.#guard('complete', () => this.#retryPending(this.#now()));
  }

  /** The consultations the detector counts as running. */
  activeConsultations(): readonly ActiveConsultation[] {
    return this.#activeFn ? this.#activeFn() : [...this.#active.values()];
  }

  /** Start the timer (unref'd). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.tick(), this.#tickMs);
    this.#timer.unref();
  }

  /** Stop the timer. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The in-memory baselines (read-only view, for tests and the CLI). */
  baselines(): ReadonlyMap<string, BaselineState> {
    return this.#baselines;
  }

  #guard(phase: string, fn: () => StoredDecision[]): StoredDecision[] {
    try {
      return fn();
    } catch (error) {
      this.#onError(
        error instanceof DancerError && error.code === 'DANCER_DETECTOR_FAILED'
          ? error
          : new DancerError('DANCER_DETECTOR_FAILED', `Detector ${phase} failed: ${errorMessage(error)}`, {
              cause: error,
              details: { phase },
            }),
      );
      return [];
    }
  }

  #templatesTable = false;

  #hasTemplates(): boolean {
    if (!this.#templatesTable) this.#templatesTable = hasTemplatesTable(this.#db);
    return this.#templatesTable;
  }

  #levelNumber(name: string): number {
    return { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }[name] ?? 50;
  }

  /** Fold every minute up to `now - spike window` that is not folded yet. */
  #advanceBaselines(now: number): void {
    const target = minuteOf(now) - this.#config.spike.windowMinutes;
    let from = this.#foldedTo === undefined ? firstBucketMinute(this.#db) : this.#foldedTo + 1;
    if (from === undefined || from > target) return;
    from = Math.max(from, target - BOOTSTRAP_MINUTES);
    const summaries = new Map<number, { total: number; errors: number; byTemplate: Map<number, number> }>();
    for (const row of bucketRows(this.#db, from, target)) {
      let s = summaries.get(row.minute);
      if (s === undefined) {
        s = { total: 0, errors: 0, byTemplate: new Map() };
        summaries.set(row.minute, s);
      }
      s.total += row.counts.count;
      s.errors += countAtLeast(row.counts, this.#config.spike.errorLevel);
      if (row.templateId > 0) s.byTemplate.set(row.templateId, row.counts.count);
    }
    const minutes: MinuteSummary[] = [...summaries].map(([minute, s]) => ({ minute, ...s }));
    const changed = advanceBaselines(this.#baselines, minutes, this.#config.baseline);
    this.#db.transaction(() => {
      saveBaselines(this.#db, changed);
      setState(this.#db, 'baselines.foldedTo', String(target));
    })();
    for (const [key, state] of changed) this.#baselines.set(key, state);
    this.#foldedTo = target;
  }

  #reviewSignal(now: number): Signal | null {
    if (!this.#config.review.enabled) return null;
    const last = lastFireOf(this.#db, 'review');
    const dueAt = nextReviewAt(last, this.#reviewAnchor, this.#config);
    if (now < dueAt) return null;
    const since = last ?? this.#reviewAnchor;
    if (this.activeConsultations().length >= this.#config.maxConcurrent) {
      // It cannot fire now: skip the 6-hour aggregation, the gates record why it waits.
      return reviewRule([], since, now, dueAt, this.#config);
    }
    const sums = perTemplateWindow(this.#db, minuteOf(since), minuteOf(now));
    const texts = this.#hasTemplates() ? templatesById(this.#db, sums.keys()) : new Map();
    const entries: ReviewEntry[] = [...sums].map(([templateId, c]) => ({
      templateId,
      text: texts.get(templateId)?.text,
      count: c.count,
      warn: c.warn,
      error: c.error,
      fatal: c.fatal,
      slow: c.slow,
      durMax: c.durMax,
    }));
    return reviewRule(entries, since, now, dueAt, this.#config);
  }

  #retryPending(now: number): StoredDecision[] {
    if (this.#pending.size === 0) return [];
    const signals = [...this.#pending.values()];
    this.#pending.clear();
    return this.#decideAndStore(signals, now, new Map());
  }

  #decideAndStore(
    signals: Signal[],
    now: number,
    known: ReadonlyMap<number, { status: TemplateStatus }>,
  ): StoredDecision[] {
    if (signals.length === 0) return [];
    const statuses = new Map<number, TemplateStatus>();
    const missing: number[] = [];
    for (const s of signals) {
      const ids = [
        ...(s.templateId === undefined ? [] : [s.templateId]),
        ...(s.contributors ?? []).map((c) => c.templateId),
      ];
      for (const id of ids) {
        const t = known.get(id);
        if (t) statuses.set(id, t.status);
        else missing.push(id);
      }
    }
    if (missing.length > 0 && this.#hasTemplates()) {
      for (const [id, t] of templatesById(this.#db, missing)) statuses.set(id, t.status);
    }
    const decisions = decide(
      signals,
      {
        now,
        active: this.activeConsultations(),
        lastFireAt: this.#lastFire,
        statuses,
        ignoredRates: ignoredRates(this.#db),
      },
      this.#config,
    );
    const stored: StoredDecision[] = [];
    const fired: TriggerEvent[] = [];
    for (const d of decisions) {
      const signal = signals.find((s) => s.key === d.key && s.kind === d.rule);
      if (d.outcome === 'suppress' && d.reasonCode === 'concurrency_limit' && signal && signal.kind === 'crash') {
        this.#pending.set(signal.key, signal);
      }
      if (!shouldStore(d, this.#head(d.key), this.#config)) continue;
      const triggerId = d.outcome === 'fire' ? randomUUID() : undefined;
      const id = insertDecision(this.#db, d, triggerId);
      this.#heads.set(d.key, { outcome: d.outcome, reasonCode: d.reasonCode, at: d.at });
      const row: StoredDecision = { ...d, id, triggerId: triggerId ?? null };
      stored.push(row);
      if (triggerId !== undefined) {
        this.#lastFire.set(d.key, d.at);
        this.#active.set(triggerId, { triggerId, key: d.key, templateId: d.templateId });
        fired.push(toEvent(row, triggerId));
      }
    }
    for (const row of stored) this.emit('decision', row);
    for (const event of fired) this.emit('trigger', event);
    return stored;
  }

  #head(key: string): StoredDecisionHead | undefined {
    if (!this.#heads.has(key)) this.#heads.set(key, lastDecisionHead(this.#db, key) ?? null);
    return this.#heads.get(key) ?? undefined;
  }
}

function toEvent(d: Decision & { id: number }, triggerId: string): TriggerEvent {
  return {
    id: triggerId,
    kind: d.rule,
    templateId: d.templateId,
    urgent: d.urgent,
    numbers: d.numbers,
    reason: d.reason,
    at: d.at,
    decisionId: d.id,
  };
}

/** `local` plus other hosts' occurrences (their errors counted at level error, the rest at info). */
function withRemote(local: BucketCounts, remote: { count: number; errors: number } | undefined): BucketCounts {
  if (!remote || remote.count <= 0) return local;
  const errors = Math.min(remote.errors, remote.count);
  return {
    ...local,
    count: local.count + remote.count,
    error: local.error + errors,
    info: local.info + remote.count - errors,
  };
}
