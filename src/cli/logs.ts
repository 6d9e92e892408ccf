import { once } from 'node:events';
import { createWriteStream, existsSync, openSync } from 'node:fs';
import type { Command } from 'commander';
import { DancerError } from '../errors.js';
import { redactForSinks } from '../redact/index.js';
import {
  buildClaudeDigest,
  csvHeader,
  type Db,
  type ErrorGroup,
  errorGroups,
  estimateTokens,
  followLogs,
  iterateLogs,
  LEVELS,
  type LogFilter,
  type LogStats,
  lastLogId,
  levelName,
  listLogs,
  logStats,
  logToCsv,
  logToJson,
  openStore,
  parseTimeArg,
  redactedLog,
  type StoredLog,
  searchLogs,
} from '../store/index.js';
import { dbPathFor, type GlobalOptions, withDbOption } from './common.js';
import { type Colors, makeColors, printJson, printNdjson, progress, renderTable } from './output.js';

/** Options of the `dancer logs` subcommands (commander's camelCase names). */
interface LogsOptions extends GlobalOptions {
  since?: string;
  until?: string;
  level?: string;
  source?: string;
  request?: string;
  template?: string;
  limit?: string;
}

/** Register `dancer logs list|search|errors|stats|export|follow`. */
export function register(program: Command): void {
  const logs = program
    .command('logs')
    .description('Read the captured logs: list, search, errors, stats, export, follow')
    .addHelpText(
      'after',
      '\nTimes (--since, --until): a duration before now (30s, 15m, 2h, 7d, 1w) or an ISO time (2026-11-25T14:00:00Z).\n' +
        'Levels (--level): trace, debug, info, warn, error, fatal or a pino number; means "this level and above".\n',
    );

  filters(logs.command('list'))
    .description('List records, newest last (default: the last 100)')
    .option('--json', 'one JSON record per line (NDJSON)')
    .action((options: LogsOptions) => listCommand(options));

  filters(logs.command('search'))
    .description('Full-text search over message, error and stack (FTS5: "phrase", prefix*, AND/OR/NOT)')
    .argument('<query>', 'FTS5 query, e.g. \'"connection refused" OR timeout*\'')
    .option('--json', 'one JSON record per line (NDJSON)')
    .action((query: string, options: LogsOptions) => searchCommand(query, options));

  filters(logs.command('errors'))
    .description('Error records (error and fatal) grouped by pattern, error or message; most recent last')
    .option('--json', 'one JSON group per line (NDJSON)')
    .action((options: LogsOptions) => errorsCommand(options));

  filters(logs.command('stats'), { limit: false })
    .description('Rows, records, per-level counts, dropped records, database size, time range')
    .option('--json', 'one JSON object: rows, records, levels, dropped, dbBytes, oldest, newest')
    .action((options: LogsOptions) => statsCommand(options));

  filters(logs.command('export'))
    .description('Export records as NDJSON, CSV, or a compact digest for Claude within a token budget')
    .option('--format <format>', 'json (NDJSON), csv or claude', 'json')
    .option('--max-tokens <n>', 'token budget of the claude digest (estimated as characters / 4)', '8000')
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .action((options: ExportOptions) => exportCommand(options));

  filters(logs.command('follow'))
    .description('Print the last records, then new ones as they arrive (Ctrl-C to stop)')
    .option('--json', 'one JSON record per line (NDJSON)')
    .option('--interval <ms>', 'poll interval in ms', '250')
    .action((options: LogsOptions & { interval: string }) => followCommand(options));
}

function filters(command: Command, { limit = true } = {}): Command {
  withDbOption(command)
    .option('--since <time>', 'records since TIME (2h, 30m, 7d or ISO)')
    .option('--until <time>', 'records until TIME (2h, 30m, 7d or ISO)')
    .option('--level <level>', 'minimum level: trace, debug, info, warn, error, fatal')
    .option('--source <source>', 'source (module / logger name); * is a wildcard')
    .option('--request <id>', 'records of one request id')
    .option('--template <id>', 'records of one pattern (template id)');
  if (limit) command.option('--limit <n>', 'at most N rows (the newest)');
  return command;
}

/** Parse `--level`: a level name or a pino number. */
export function parseLevel(input: string): number {
  const name = input.trim().toLowerCase();
  if (Object.hasOwn(LEVELS, name)) return LEVELS[name as keyof typeof LEVELS];
  if (/^\d+$/.test(name)) return Number(name);
  throw new DancerError(
    'DANCER_USAGE',
    `Unknown level "${input}" (use trace, debug, info, warn, error, fatal or a number).`,
    {
      details: { level: input },
    },
  );
}

function positiveInt(input: string, flag: string): number {
  if (!/^\d+$/.test(input.trim()) || Number(input) <= 0) {
    throw new DancerError('DANCER_USAGE', `${flag} needs a positive whole number, got "${input}".`, {
      details: { flag, input },
    });
  }
  return Number(input);
}

/** Turn the command's flags into a {@link LogFilter} (times relative to `now`). */
export function filterFromOptions(options: LogsOptions, now: number, defaultLimit?: number): LogFilter {
  const filter: LogFilter = {};
  if (options.since !== undefined) filter.since = parseTimeArg(options.since, now);
  if (options.until !== undefined) filter.until = parseTimeArg(options.until, now);
  if (options.level !== undefined) filter.minLevel = parseLevel(options.level);
  if (options.source !== undefined) filter.source = options.source;
  if (options.request !== undefined) filter.requestId = options.request;
  if (options.template !== undefined) filter.templateId = positiveInt(options.template, '--template');
  if (options.limit !== undefined) filter.limit = positiveInt(options.limit, '--limit');
  else if (defaultLimit !== undefined) filter.limit = defaultLimit;
  return filter;
}

/** Open the database read-only for a reader command (works while the writer is running: WAL). */
function openReader(options: GlobalOptions): { db: Db; file: string } {
  const file = dbPathFor(options);
  if (!existsSync(file)) {
    throw new DancerError(
      'DANCER_STORE_OPEN_FAILED',
      `No database at ${file}: capture some logs first (dancer ingest, dancer run) or pass --db PATH.`,
      { details: { file } },
    );
  }
  return { db: openStore(file, { readonly: true }), file };
}

function withReader<T>(options: GlobalOptions, fn: (db: Db, file: string) => T): T {
  const { db, file } = openReader(options);
  try {
    return fn(db, file);
  } finally {
    db.close();
  }
}

// ---- human formatting ---------------------------------------------------------------------------

/** `2026-11-25 15:35:50.123` (UTC). */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

function colorLevel(level: number, c: Colors): string {
  const name = levelName(level).toUpperCase();
  if (level >= 50) return c.red(c.bold(name));
  if (level >= 40) return c.yellow(name);
  if (level >= 30) return c.green(name);
  return c.dim(name);
}

function messageCell(log: StoredLog, c: Colors): string {
  const lines = log.message.split('\n');
  let text = lines[0] ?? '';
  if (lines.length > 1) text += c.dim(` (+${lines.length - 1} lines)`);
  if (log.count > 1) text += ` ${c.magenta(c.bold(`×${log.count}`))}`;
  if (log.errType || log.errMessage)
    text += ` ${c.red(`${log.errType ?? 'Error'}: ${(log.errMessage ?? '').split('\n')[0]}`)}`;
  if (log.requestId) text += c.dim(` req=${log.requestId}`);
  return text;
}

function logRow(log: StoredLog, c: Colors): string[] {
  return [c.dim(formatTime(log.ts)), colorLevel(log.level, c), c.cyan(log.source ?? '-'), messageCell(log, c)];
}

/** Render rows as the human table of list/search. */
export function renderLogTable(logs: StoredLog[], c: Colors): string {
  return renderTable(
    ['TIME (UTC)', 'LEVEL', 'SOURCE', 'MESSAGE'],
    logs.map((log) => logRow(log, c)),
    c,
  );
}

/** One line for `follow` (fixed-width level, no table header). */
export function renderLogLine(log: StoredLog, c: Colors): string {
  const [time, level, source, message] = logRow(log, c);
  const pad = 5 - levelName(log.level).length;
  const sourcePad = Math.max(0, 12 - (log.source ?? '-').length);
  return `${time}  ${level}${' '.repeat(pad)}  ${source}${' '.repeat(sourcePad)}  ${message}\n`;
}

function printLogs(logs: StoredLog[], json: boolean | undefined): void {
  if (json) {
    for (const log of logs) printNdjson(logToJson(log));
    return;
  }
  if (logs.length === 0) {
    progress('No records match.');
    return;
  }
  process.stdout.write(renderLogTable(logs, makeColors()));
}

// ---- commands -----------------------------------------------------------------------------------

function listCommand(options: LogsOptions): void {
  guardStdout();
  const filter = filterFromOptions(options, Date.now(), 100);
  withReader(options, (db) => printLogs(listLogs(db, filter), options.json));
}

function searchCommand(query: string, options: LogsOptions): void {
  guardStdout();
  const filter = filterFromOptions(options, Date.now(), 100);
  withReader(options, (db) => printLogs(searchLogs(db, query, filter), options.json));
}

function groupJson(group: ErrorGroup): Record<string, unknown> {
  return {
    key: group.key,
    records: group.records,
    rows: group.rows,
    first: new Date(group.firstTs).toISOString(),
    last: new Date(group.lastTs).toISOString(),
    level: group.level,
    levelName: levelName(group.level),
    sample: logToJson(group.sample),
  };
}

function errorsCommand(options: LogsOptions): void {
  guardStdout();
  const filter = filterFromOptions(options, Date.now(), 50);
  withReader(options, (db) => {
    const groups = errorGroups(db, filter, { order: 'recent' });
    if (options.json) {
      for (const group of groups) printNdjson(groupJson(group));
      return;
    }
    if (groups.length === 0) {
      progress('No error records match.');
      return;
    }
    const c = makeColors();
    const rows = groups.map((g) => [
      c.magenta(c.bold(`×${g.records}`)),
      colorLevel(g.level, c),
      c.dim(formatTime(g.firstTs)),
      c.dim(formatTime(g.lastTs)),
      c.cyan(g.sample.source ?? '-'),
      messageCell({ ...g.sample, count: 1 }, c),
    ]);
    process.stdout.write(renderTable(['COUNT', 'LEVEL', 'FIRST (UTC)', 'LAST (UTC)', 'SOURCE', 'MESSAGE'], rows, c));
  });
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** The human view of `stats`. */
export function renderStats(stats: LogStats, file: string, c: Colors): string {
  const levels = Object.entries(stats.levels)
    .map(([name, n]) => `${name} ${n}`)
    .join('  ');
  const dropped = Object.entries(stats.dropped);
  const rows = [
    ['database', file],
    ['size', formatBytes(stats.dbBytes)],
    ['rows', String(stats.rows)],
    ['records', String(stats.records)],
    ['levels', levels],
    ['dropped', dropped.length === 0 ? 'none' : c.yellow(dropped.map(([reason, n]) => `${reason} ${n}`).join('  '))],
    ['oldest', stats.oldest ?? '-'],
    ['newest', stats.newest ?? '-'],
  ];
  return `${rows.map(([k, v]) => `${c.bold((k ?? '').padEnd(9))}${v}`).join('\n')}\n`;
}

function statsCommand(options: LogsOptions): void {
  guardStdout();
  const filter = filterFromOptions(options, Date.now());
  withReader(options, (db, file) => {
    const stats = logStats(db, filter);
    if (options.json) printJson(stats);
    else process.stdout.write(renderStats(stats, file, makeColors()));
  });
}

interface ExportOptions extends LogsOptions {
  format: string;
  maxTokens: string;
  output?: string;
}

/** Write `chunks` to `out`, honouring backpressure; stops early when `out` is closed (EPIPE). */
async function writeAll(out: NodeJS.WritableStream, chunks: Iterable<string>): Promise<number> {
  let n = 0;
  const stream = out as NodeJS.WritableStream & { destroyed?: boolean };
  for (const chunk of chunks) {
    if (stream.destroyed) break;
    n++;
    if (!out.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done);
          out.off('close', done);
          out.off('error', done);
          resolve();
        };
        out.on('drain', done);
        out.on('close', done);
        out.on('error', done);
      });
    }
  }
  return n;
}

/**
 * A reader that closed our stdout early (`dancer logs list | head`) is not an error: stop quietly.
 * Other stdout errors are reported once with exit status 1.
 */
function guardStdout(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') return;
    process.stderr.write(`dancer: cannot write to stdout: ${error.message}\n`);
    process.exitCode = 1;
  });
}

async function exportCommand(options: ExportOptions): Promise<void> {
  guardStdout();
  const format = options.format;
  if (!['json', 'csv', 'claude'].includes(format)) {
    throw new DancerError('DANCER_USAGE', `Unknown export format "${format}" (use json, csv or claude).`, {
      details: { format },
    });
  }
  const maxTokens = positiveInt(options.maxTokens, '--max-tokens');
  const filter = filterFromOptions(options, Date.now());
  const { db } = openReader(options);
  let out: NodeJS.WritableStream = process.stdout;
  if (options.output) {
    try {
      out = createWriteStream('', { fd: openSync(options.output, 'w') });
    } catch (error) {
      db.close();
      throw new DancerError('DANCER_USAGE', `Cannot write ${options.output}: ${(error as Error).message}`, {
        cause: error,
        details: { file: options.output },
      });
    }
  }
  try {
    let count = 0;
    if (format === 'claude') {
      // Every format is redacted (rows before the digest cuts them, then the digest itself).
      const text = redactForSinks(
        buildClaudeDigest({
          groups: errorGroups(db, { ...filter, limit: 200 }, { order: 'count' }).map((g) => ({
            ...g,
            sample: redactedLog(g.sample),
          })),
          records: listLogs(db, { ...filter, limit: filter.limit ?? 2000 }).map(redactedLog),
          stats: logStats(db, { ...filter, limit: undefined }),
          maxTokens,
        }),
      );
      await writeAll(out, [text]);
      if (options.output) progress(`Wrote a digest of ~${estimateTokens(text)} tokens to ${options.output}`);
    } else if (format === 'csv') {
      count =
        (await writeAll(
          out,
          withHeader(
            csvHeader(),
            mapIter(rowsFor(db, filter), (log) => logToCsv(redactedLog(log))),
          ),
        )) - 1;
    } else {
      count = await writeAll(
        out,
        mapIter(rowsFor(db, filter), (log) => `${JSON.stringify(logToJson(redactedLog(log)))}\n`),
      );
    }
    if (options.output && format !== 'claude') progress(`Wrote ${count} records to ${options.output}`);
  } finally {
    db.close();
    if (options.output) {
      (out as NodeJS.WritableStream).end();
      await once(out, 'close');
    }
  }
}

/** Rows for an export: all matching (oldest first), or the newest `limit`. */
function rowsFor(db: Db, filter: LogFilter): Iterable<StoredLog> {
  return filter.limit === undefined ? iterateLogs(db, filter) : listLogs(db, filter);
}

function* mapIter<T, U>(items: Iterable<T>, fn: (item: T) => U): Generator<U> {
  for (const item of items) yield fn(item);
}

function* withHeader(header: string, rest: Iterable<string>): Generator<string> {
  yield header;
  yield* rest;
}

async function followCommand(options: LogsOptions & { interval: string }): Promise<void> {
  const interval = positiveInt(options.interval, '--interval');
  const filter = filterFromOptions(options, Date.now(), 10);
  const { db, file } = openReader(options);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  guardStdout();
  const onStdoutError = () => stop();
  process.stdout.on('error', onStdoutError);
  const c = makeColors();
  const print = (log: StoredLog) => {
    if (options.json) printNdjson(logToJson(log));
    else process.stdout.write(renderLogLine(log, c));
  };
  try {
    const start = lastLogId(db);
    for (const log of listLogs(db, filter)) {
      if (log.id <= start) print(log);
    }
    progress(`Following ${file} (Ctrl-C to stop)…`);
    const live = { ...filter, limit: undefined };
    for await (const log of followLogs(db, live, { afterId: start, intervalMs: interval, signal: controller.signal })) {
      print(log);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.stdout.off('error', onStdoutError);
    db.close();
  }
}
