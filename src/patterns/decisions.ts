/**
 * The gates between a rule that holds and a trigger that fires, and the plain-words explanation
 * of a decision: pure functions over plain data, the clock passed in.
 *
 * For each signal, in priority order (urgent first, then crash, new pattern, spike, review, then
 * by how far over threshold), the first gate that applies suppresses it:
 * 1. dedupe: the pattern is being fixed (status `fixing`) or is being consulted right now;
 * 2. ignored: the pattern is ignored and its rate has not risen by `ignoredFactor` since;
 * 3. cooldown: the same key fired less than its cooldown ago;
 * 4. concurrency: `maxConcurrent` consultations are already running.
 * Otherwise it fires.
 */
import type { TriggersConfig } from '../config/index.js';
import type { Signal, TemplateStatus, TriggerKind } from './triggers.js';
import { MINUTE_MS } from './windows.js';

/** Fire, or keep quiet. */
export type Outcome = 'fire' | 'suppress';

/** Stable codes for why a decision went the way it did. */
export type ReasonCode =
  | 'fired'
  | 'fired_ignored_rate_rose'
  | 'dedupe_fixing'
  | 'dedupe_active'
  | 'ignored'
  | 'cooldown'
  | 'concurrency_limit';

/** One decision, fire or suppress, as stored in the `decisions` table. */
export interface Decision {
  /** ms since epoch (detector clock). */
  at: number;
  rule: TriggerKind;
  key: string;
  templateId?: number | undefined;
  outcome: Outcome;
  urgent: boolean;
  reasonCode: ReasonCode;
  /** Plain words: what the rule saw and why it fired or was suppressed. */
  reason: string;
  /** The numbers the rule and the gate saw. */
  numbers: Record<string, unknown>;
}

/** A consultation in flight (it holds a slot and dedupes its pattern). */
export interface ActiveConsultation {
  triggerId?: string | undefined;
  key: string;
  templateId?: number | undefined;
}

/** What the gates know besides the signals. */
export interface GateContext {
  now: number;
  /** Consultations running now. */
  active: readonly ActiveConsultation[];
  /** When each key last fired (ms). */
  lastFireAt: ReadonlyMap<string, number>;
  /** Status of each template the signals name. */
  statuses: ReadonlyMap<number, TemplateStatus>;
  /** Rate (events per minute) each ignored template had when it was ignored. */
  ignoredRates: ReadonlyMap<number, number>;
}

const KIND_ORDER: Record<TriggerKind, number> = { crash: 0, new_pattern: 1, spike: 2, review: 3 };

/** Signals in the order they compete for slots. */
export function prioritise(signals: readonly Signal[]): Signal[] {
  return [...signals].sort(
    (a, b) =>
      Number(b.urgent) - Number(a.urgent) ||
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      b.magnitude - a.magnitude ||
      a.key.localeCompare(b.key),
  );
}

/** The cooldown (ms) that applies to a signal's key. Reviews have none (they run on a schedule). */
export function cooldownMs(signal: Pick<Signal, 'kind'>, config: TriggersConfig): number {
  if (signal.kind === 'review') return 0;
  if (signal.kind === 'crash') return config.crash.cooldownMinutes * MINUTE_MS;
  return config.cooldownMinutes * MINUTE_MS;
}

/** Apply the gates to every signal; one decision per signal, in priority order. */
export function decide(signals: readonly Signal[], ctx: GateContext, config: TriggersConfig): Decision[] {
  const active = [...ctx.active];
  const decisions: Decision[] = [];
  for (const signal of prioritise(signals)) {
    const d = gate(signal, active, ctx, config);
    decisions.push(d);
    if (d.outcome === 'fire') active.push({ key: signal.key, templateId: signal.templateId });
  }
  return decisions;
}

function gate(
  signal: Signal,
  active: readonly ActiveConsultation[],
  ctx: GateContext,
  config: TriggersConfig,
): Decision {
  const base = {
    at: ctx.now,
    rule: signal.kind,
    key: signal.key,
    templateId: signal.templateId,
    urgent: signal.urgent,
  };
  const suppress = (reasonCode: ReasonCode, why: string, extra: Record<string, unknown> = {}): Decision => ({
    ...base,
    outcome: 'suppress',
    reasonCode,
    reason: `suppressed: ${why}; ${signal.reason}`,
    numbers: { ...signal.numbers, ...extra },
  });
  const id = signal.templateId;
  const status = id === undefined ? undefined : ctx.statuses.get(id);

  // 1. dedupe
  if (status === 'fixing') return suppress('dedupe_fixing', 'a fix for this pattern is in progress');
  const busy = active.find((a) => a.key === signal.key || (id !== undefined && a.templateId === id));
  if (busy !== undefined) {
    return suppress('dedupe_active', 'this pattern is being consulted now', { activeTrigger: busy.triggerId ?? null });
  }
  // An error-rate spike that is mostly one pattern already being handled is that pattern's spike.
  if (signal.contributors !== undefined && signal.contributors.length > 0) {
    const total = Number(signal.numbers.count ?? 0);
    const handled = signal.contributors.filter(
      (c) => active.some((a) => a.templateId === c.templateId) || ctx.statuses.get(c.templateId) === 'fixing',
    );
    const share = handled.reduce((n, c) => n + c.count, 0);
    if (total > 0 && share * 2 >= total) {
      const ids = handled.map((c) => c.templateId).join(', ');
      return suppress(
        'dedupe_active',
        `most of these errors (${share} of ${total}) belong to pattern(s) ${ids}, already being consulted or fixed`,
        { handledErrors: share },
      );
    }
  }

  // 2. ignored
  let firedCode: ReasonCode = 'fired';
  let firedNote = '';
  const extra: Record<string, unknown> = {};
  if (status === 'ignored' && id !== undefined) {
    const ignoredRate = Math.max(ctx.ignoredRates.get(id) ?? 0, config.baseline.minRatePerMinute);
    const rate = signal.ratePerMinute ?? 0;
    const needed = ignoredRate * config.ignoredFactor;
    extra.ignoredRatePerMinute = round(ignoredRate);
    extra.ratePerMinute = round(rate);
    if (!(rate >= needed) || signal.kind === 'review') {
      return suppress(
        'ignored',
        `the pattern is ignored and its rate (${round(rate)}/min) has not reached ${config.ignoredFactor}x ` +
          `the ${round(ignoredRate)}/min it had when ignored`,
        extra,
      );
    }
    firedCode = 'fired_ignored_rate_rose';
    firedNote = ` (ignored, but its rate rose to ${round(rate)}/min, ${config.ignoredFactor}x or more the ${round(ignoredRate)}/min it had when ignored)`;
  }

  // 3. cooldown
  const last = ctx.lastFireAt.get(signal.key);
  const cool = cooldownMs(signal, config);
  if (last !== undefined && cool > 0 && ctx.now - last < cool) {
    const remaining = (cool - (ctx.now - last)) / MINUTE_MS;
    return suppress(
      'cooldown',
      `it fired ${round((ctx.now - last) / MINUTE_MS)} min ago (cooldown ${round(cool / MINUTE_MS)} min)`,
      {
        ...extra,
        lastFiredAt: last,
        cooldownRemainingMinutes: round(remaining),
      },
    );
  }

  // 4. concurrency
  if (active.length >= config.maxConcurrent) {
    return suppress(
      'concurrency_limit',
      `${active.length} consultation(s) already running (limit ${config.maxConcurrent})`,
      { ...extra, running: active.length, maxConcurrent: config.maxConcurrent },
    );
  }
  return {
    ...base,
    outcome: 'fire',
    reasonCode: firedCode,
    reason: `fired: ${signal.reason}${firedNote}`,
    numbers: { ...signal.numbers, ...extra },
  };
}

/** The last stored decision for a key, as {@link shouldStore} needs it. */
export interface StoredDecisionHead {
  outcome: Outcome;
  reasonCode: string;
  at: number;
}

/**
 * Whether to store a decision: every fire is stored; a suppress is stored when it differs from the
 * last stored decision for its key (outcome or reason), or the last one is older than
 * `repeatSuppressMinutes` (so a condition that holds for an hour leaves a few rows, not thousands).
 */
export function shouldStore(d: Decision, last: StoredDecisionHead | undefined, config: TriggersConfig): boolean {
  if (d.outcome === 'fire' || last === undefined) return true;
  if (last.outcome !== d.outcome || last.reasonCode !== d.reasonCode) return true;
  return d.at - last.at >= config.repeatSuppressMinutes * MINUTE_MS;
}

const RULE_WORDS: Record<TriggerKind, string> = {
  new_pattern: 'new-pattern rule',
  spike: 'spike rule',
  crash: 'crash rule',
  review: 'scheduled review',
};

/** A decision in plain words, e.g. for `dancer patterns why`. */
export function explainDecision(d: Decision): string {
  const when = new Date(d.at)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  const verb = d.outcome === 'fire' ? 'FIRED' : 'stayed quiet';
  const urgent = d.urgent && d.outcome === 'fire' ? ' (urgent)' : '';
  const reason = d.reason.replace(/^(fired|suppressed): /, '');
  const parts = reason.split('; ');
  if (d.outcome === 'suppress' && parts.length > 1) {
    const [why, ...rest] = parts;
    return `${when}: the ${RULE_WORDS[d.rule]} held (${rest.join('; ')}), but it ${verb} because ${why}.`;
  }
  return `${when}: the ${RULE_WORDS[d.rule]} ${verb}${urgent}: ${reason}.`;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
