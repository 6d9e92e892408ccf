import { existsSync } from 'node:fs';
/**
 * `dancer patterns [list|show ID|why ID|ignore ID|unignore ID]`: the mined patterns, their
 * counts and trends, why the detector fired or stayed quiet, and ignoring noise.
 */
import type { Command } from 'commander';
import { DancerError } from '../errors.js';
import {
  addCounts,
  type BucketCounts,
  clearIgnore,
  decisionsForKey,
  decisionsForTemplate,
  emptyCounts,
  explainDecision,
  hasTemplatesTable,
  ignoredRates,
  listTemplates,
  loadBaselines,
  MINUTE_MS,
  minuteOf,
  recordIgnore,
  setTemplateStatus,
  type TemplateRow,
  TemplateStore,
  templateById,
  templateExamples,
  templateKey,
  templateSeries,
  templateWindow,
  withMergedIds,
} from '../patterns/index.js';
import { type Db, LEVELS, type LevelName, levelName, openStore, parseTimeArg } from '../store/index.js';
import { configFor, dbPathFor, type GlobalOptions, withDbOption } from './common.js';
import { type Colors, makeColors, printJson, renderTable } from './output.js';
import { type RetryOptions, retryPatternCommand } from './patterns-retry.js';

const BARS = '▁▂▃▄▅▆▇█';

/** A sparkline of `values` (one character per value; blank for 0, then 8 heights). */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values
    .map((v) => (v <= 0 || max <= 0 ? ' ' : (BARS[Math.min(7, Math.floor((v / max) * 7.999))] ?? '█')))
    .join('');
}

/** Sum a per-minute series into `n` equal buckets (the last bucket ends at the series end). */
export function rebucket(series: readonly number[], n: number): number[] {
  const out = new Array<number>(n).fill(0);
  if (series.length === 0) return out;
  const per = series.length / n;
  series.forEach((v, i) => {
    const b = Math.min(n - 1, Math.floor(i / per));
    out[b] = (out[b] ?? 0) + v;
  });
  return out;
}

/** Per-minute counts of a template (and the templates merged into it) over `from..to`. */
function seriesOf(db: Db, id: number, from: number, to: number): number[] {
  const out = new Array<number>(Math.max(0, to - from + 1)).fill(0);
  for (const one of withMergedIds(db, id)) {
    templateSeries(db, one, from, to).forEach((v, i) => {
      out[i] = (out[i] ?? 0) + v;
    });
  }
  return out;
}

/** Bucket sums of a template (and the templates merged into it) over `from..to`. */
function windowOf(db: Db, id: number, from: number, to: number): BucketCounts {
  const total = emptyCounts();
  for (const one of withMergedIds(db, id)) addCounts(total, templateWindow(db, one, from, to));
  return total;
}

interface ListOptions extends GlobalOptions {
  minCount?: string;
  since?: string;
  level?: string;
}

function parseId(raw: string): number {
  const id = Number(raw);
  if (!Number.isInteger(id) || id <= 0) {
    throw new DancerError('DANCER_USAGE', `Not a pattern id: "${raw}" (use the number from \`dancer patterns\`).`, {
      details: { id: raw },
    });
  }
  return id;
}

function parseLevel(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (raw in LEVELS) return LEVELS[raw as LevelName];
  const n = Number(raw);
  if (Number.isInteger(n) && n > 0) return n;
  throw new DancerError('DANCER_USAGE', `Not a level: "${raw}" (use ${Object.keys(LEVELS).join(', ')} or a number).`, {
    details: { level: raw },
  });
}

function parseCount(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new DancerError('DANCER_USAGE', `--min-count wants a whole number, got "${raw}".`, {
      details: { minCount: raw },
    });
  }
  return n;
}

function withStore<T>(
  options: GlobalOptions,
  readonly: boolean,
  fn: (db: Db, loaded: ReturnType<typeof configFor>) => T,
): T {
  const loaded = configFor(options);
  const file = dbPathFor(options, loaded);
  if (!existsSync(file)) {
    throw new DancerError(
      'DANCER_STORE_OPEN_FAILED',
      `No database at ${file}: capture some logs first (dancer ingest, dancer run) or pass --db PATH.`,
      { details: { file } },
    );
  }
  const db = openStore(file, { readonly });
  try {
    if (!hasTemplatesTable(db)) {
      throw new DancerError('DANCER_NOT_FOUND', 'This database has no patterns yet (the miner has not run).');
    }
    return fn(db, loaded);
  } finally {
    db.close();
  }
}

function requireTemplate(db: Db, id: number, newWindowMs: number): TemplateRow {
  const t = templateById(db, id);
  if (t === undefined) throw new DancerError('DANCER_NOT_FOUND', `No pattern ${id}.`, { details: { id } });
  return effective(t, newWindowMs);
}

/**
 * The status to show: a `new` template older than the new-pattern period is `known` (the
 * detector's timer writes that too, but the store may have been filled without a detector).
 */
function effective(t: TemplateRow, newWindowMs: number, now = Date.now()): TemplateRow {
  return t.status === 'new' && now - t.firstSeen > newWindowMs ? { ...t, status: 'known' } : t;
}

function newWindowMs(loaded: ReturnType<typeof configFor>): number {
  return loaded.config.patterns.triggers.newPattern.firstSeenWithinMinutes * MINUTE_MS;
}

function time(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function statusColor(status: string, c: Colors): string {
  if (status === 'new') return c.yellow(status);
  if (status === 'fixing') return c.cyan(status);
  if (status === 'fixed') return c.green(status);
  if (status === 'ignored') return c.dim(status);
  return status;
}

function levelColor(level: number, c: Colors): string {
  const name = levelName(level);
  return level >= 50 ? c.red(name) : level >= 40 ? c.yellow(name) : name;
}

/** The trend of a template over the 24 h before `now`, in 24 hourly bars. */
function trend(db: Db, id: number, now: number, since?: number): { series: number[]; line: string; span: string } {
  const to = minuteOf(now);
  const from = since === undefined ? to - 24 * 60 + 1 : minuteOf(since);
  const series = rebucket(seriesOf(db, id, from, to), 24);
  const spanMin = to - from + 1;
  return { series, line: sparkline(series), span: spanMin >= 120 ? `${Math.round(spanMin / 60)}h` : `${spanMin}m` };
}

function listCommand(options: ListOptions): void {
  const now = Date.now();
  const minCount = parseCount(options.minCount);
  const since = options.since === undefined ? undefined : parseTimeArg(options.since, now);
  const minLevel = parseLevel(options.level);
  withStore(options, true, (db, loaded) => {
    const rows = listTemplates(db, { minCount, since, minLevel }).map((t) => effective(t, newWindowMs(loaded)));
    const out = rows.map((t) => ({ ...t, trend: trend(db, t.id, now, since) }));
    if (options.json) {
      printJson(
        out.map((t) => ({
          id: t.id,
          status: t.status,
          count: t.count,
          maxLevel: levelName(t.maxLevel),
          firstSeen: new Date(t.firstSeen).toISOString(),
          lastSeen: new Date(t.lastSeen).toISOString(),
          trend: t.trend.series,
          template: t.text,
        })),
      );
      return;
    }
    const c = makeColors();
    if (out.length === 0) {
      process.stdout.write('No patterns match.\n');
      return;
    }
    const span = out[0]?.trend.span ?? '24h';
    process.stdout.write(
      renderTable(
        ['ID', 'STATUS', 'COUNT', 'LEVEL', 'FIRST SEEN', 'LAST SEEN', `TREND (${span})`, 'TEMPLATE'],
        out.map((t) => [
          String(t.id),
          statusColor(t.status, c),
          String(t.count),
          levelColor(t.maxLevel, c),
          time(t.firstSeen),
          time(t.lastSeen),
          c.cyan(t.trend.line),
          t.text.length > 100 ? `${t.text.slice(0, 99)}…` : t.text,
        ]),
        c,
      ),
    );
  });
}

function levelTotals(db: Db, id: number): BucketCounts {
  return windowOf(db, id, 0, Number.MAX_SAFE_INTEGER);
}

function showCommand(rawId: string, options: ListOptions): void {
  const id = parseId(rawId);
  const now = Date.now();
  withStore(options, true, (db, loaded) => {
    const t = requireTemplate(db, id, newWindowMs(loaded));
    const totals = levelTotals(db, id);
    const day = trend(db, id, now);
    const hour = seriesOf(db, id, minuteOf(now) - 59, minuteOf(now));
    const baseline = loadBaselines(db).get(templateKey(id)) ?? null;
    // Every template (no cap): the one shown may be older than the miner's in-memory cap.
    const miner = new TemplateStore(db).loadMiner({ maxTemplates: 0 });
    const examples = templateExamples(db, t, 5, (message, templateId) => miner.parametersOf(message, templateId));
    const decisions = decisionsForTemplate(db, id, 3);
    if (options.json) {
      printJson({
        id: t.id,
        template: t.text,
        status: t.status,
        count: t.count,
        maxLevel: levelName(t.maxLevel),
        firstSeen: new Date(t.firstSeen).toISOString(),
        lastSeen: new Date(t.lastSeen).toISOString(),
        levels: {
          trace: totals.trace,
          debug: totals.debug,
          info: totals.info,
          warn: totals.warn,
          error: totals.error,
          fatal: totals.fatal,
        },
        slowRequests: totals.slow,
        trend24h: day.series,
        lastHour: hour,
        baseline,
        examples: examples.map((e) => ({ ...e, ts: new Date(e.ts).toISOString(), level: levelName(e.level) })),
        decisions: decisions.map((d) => ({ ...d, explanation: explainDecision(d) })),
      });
      return;
    }
    const c = makeColors();
    const lines = [
      `${c.bold(`Pattern ${t.id}`)}  ${statusColor(t.status, c)}  ${levelColor(t.maxLevel, c)}`,
      `  ${t.text}`,
      '',
      `  count       ${t.count}  (${(['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const)
        .filter((k) => totals[k] > 0)
        .map((k) => `${k} ${totals[k]}`)
        .join(', ')}${totals.slow > 0 ? `, ${totals.slow} slow` : ''})`,
      `  first seen  ${time(t.firstSeen)}`,
      `  last seen   ${time(t.lastSeen)}`,
      `  24h trend   ${c.cyan(day.line)}  (hourly, max ${Math.max(0, ...day.series)}/h)`,
      `  last hour   ${c.cyan(sparkline(hour))}  (per minute, max ${Math.max(0, ...hour)}/min)`,
      baseline
        ? `  baseline    ${baseline.mean.toFixed(2)}/min ± ${Math.sqrt(baseline.variance).toFixed(2)} over ${baseline.samples} active minutes`
        : '  baseline    none yet',
      '',
      c.bold('  Examples'),
    ];
    if (examples.length === 0) lines.push('    (no stored records; retention may have removed them)');
    for (const e of examples) {
      lines.push(
        `    #${e.id} ${time(e.ts)} ${levelColor(e.level, c)}${e.count > 1 ? ` x${e.count}` : ''}  ${e.message.split('\n', 1)[0]}`,
      );
      if (e.parameters && e.parameters.length > 0) {
        lines.push(c.dim(`      parameters: ${e.parameters.map((p) => JSON.stringify(p)).join(', ')}`));
      }
    }
    if (decisions.length > 0) {
      lines.push('', c.bold('  Last decisions'));
      for (const d of decisions) lines.push(`    ${explainDecision(d)}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}

/** Keys `why` accepts besides a pattern id. */
const RULE_KEYS = ['errors', 'crash', 'review'] as const;

function whyCommand(rawId: string, options: ListOptions & { limit?: string }): void {
  const limit = parseCount(options.limit) ?? 10;
  if ((RULE_KEYS as readonly string[]).includes(rawId)) {
    withStore(options, true, (db) => whyKey(db, rawId, limit, options));
    return;
  }
  const id = parseId(rawId);
  withStore(options, true, (db, loaded) => {
    const t = requireTemplate(db, id, newWindowMs(loaded));
    const decisions = decisionsForTemplate(db, id, limit);
    if (options.json) {
      printJson({
        id,
        template: t.text,
        status: t.status,
        decisions: decisions.map((d) => ({ ...d, explanation: explainDecision(d) })),
      });
      return;
    }
    const lines = [`Pattern ${id} (${t.status}): ${t.text}`];
    if (decisions.length === 0) {
      lines.push(
        `No decisions recorded: no trigger rule has held for this pattern yet (seen ${t.count} times, ` +
          `first ${time(t.firstSeen)}, last ${time(t.lastSeen)}).`,
      );
    } else {
      lines.push(`Last ${decisions.length} decision(s), newest first:`);
      for (const d of decisions) lines.push(`- ${explainDecision(d)}`);
    }
    if (t.status === 'ignored') {
      const rate = ignoredRates(db).get(id);
      if (rate !== undefined) {
        lines.push(
          `It is ignored at ${rate.toFixed(2)}/min; it stays quiet until its rate changes by an order of magnitude.`,
        );
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}

/** `why errors|crash|review`: the decisions of the overall error rate, crashes or reviews. */
function whyKey(db: Db, key: string, limit: number, options: GlobalOptions): void {
  const decisions = decisionsForKey(db, key, limit);
  if (options.json) {
    printJson({ key, decisions: decisions.map((d) => ({ ...d, explanation: explainDecision(d) })) });
    return;
  }
  const what = key === 'errors' ? 'the overall error rate' : key === 'crash' ? 'crashes' : 'scheduled reviews';
  const lines =
    decisions.length === 0
      ? [`No decisions recorded for ${what} yet.`]
      : [
          `Last ${decisions.length} decision(s) about ${what}, newest first:`,
          ...decisions.map((d) => `- ${explainDecision(d)}`),
        ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function ignoreCommand(rawId: string, ignore: boolean, options: ListOptions): void {
  const id = parseId(rawId);
  const now = Date.now();
  withStore(options, false, (db, loaded) => {
    const t = requireTemplate(db, id, newWindowMs(loaded));
    const triggers = loaded.config.patterns.triggers;
    let rate = 0;
    db.transaction(() => {
      if (ignore) {
        const to = minuteOf(now);
        const hour = windowOf(db, id, to - 59, to).count;
        const baseline = loadBaselines(db).get(templateKey(id));
        rate = Math.max(hour / 60, baseline?.mean ?? 0);
        setTemplateStatus(db, id, 'ignored');
        recordIgnore(db, id, rate, now, process.env.USER);
      } else {
        const fresh = now - t.firstSeen <= triggers.newPattern.firstSeenWithinMinutes * MINUTE_MS;
        setTemplateStatus(db, id, fresh ? 'new' : 'known');
        clearIgnore(db, id);
      }
    })();
    const after = requireTemplate(db, id, newWindowMs(loaded));
    if (options.json) {
      printJson({ id, status: after.status, ...(ignore ? { ignoredRatePerMinute: rate } : {}) });
      return;
    }
    process.stdout.write(
      ignore
        ? `Pattern ${id} ignored at ${rate.toFixed(2)}/min; it stays quiet until its rate reaches ${(rate * triggers.ignoredFactor).toFixed(2)}/min (${triggers.ignoredFactor}x).\n`
        : `Pattern ${id} is ${after.status} again; the triggers watch it as before.\n`,
    );
  });
}

/** Register `dancer patterns`. */
export function register(program: Command): void {
  const patterns = program
    .command('patterns')
    .description('Mined log patterns: counts, trends, status, and why the detector fired or stayed quiet.')
    .addHelpText(
      'after',
      `
Without a command, lists the patterns: dancer patterns [--min-count N] [--since 2h] [--level error] [--json]
Every command takes --db FILE, --config FILE and --json. See docs/patterns-triggers.md.`,
    );
  const common = (cmd: Command) => withDbOption(cmd).option('--json', 'print JSON on stdout');
  common(
    patterns
      .command('list', { isDefault: true })
      .description('List patterns, most frequent first (the default).')
      .option('--min-count <n>', 'only patterns seen at least N times')
      .option('--since <time>', 'only patterns seen since (30m, 2h, 7d or an ISO time); the trend covers this period')
      .option('--level <level>', 'only patterns that reached this level (trace..fatal)'),
  ).action((options: ListOptions) => listCommand(options));
  common(
    patterns
      .command('show <id>')
      .description('One pattern: counts per level, trend, baseline, examples with parameters.'),
  ).action((id: string, options: ListOptions) => showCommand(id, options));
  common(
    patterns
      .command('why <id>')
      .description('Explain the last trigger decisions for a pattern (or errors, crash, review) in plain words.')
      .option('--limit <n>', 'how many decisions', '10'),
  ).action((id: string, options: ListOptions & { limit?: string }) => whyCommand(id, options));
  common(
    patterns
      .command('ignore <id>')
      .description('Ignore a pattern: it stays quiet until its rate changes by an order of magnitude.'),
  ).action((id: string, options: ListOptions) => ignoreCommand(id, true, options));
  common(patterns.command('unignore <id>').description('Watch an ignored pattern again.')).action(
    (id: string, options: ListOptions) => ignoreCommand(id, false, options),
  );
  common(
    patterns
      .command('retry <id>')
      .description('Reopen a pattern escalated after too many fix attempts: fixes may be tried again.')
      .option('--reason <text>', 'why (kept with the pattern)'),
  ).action((id: string, options: RetryOptions) => retryPatternCommand(id, options));
}
