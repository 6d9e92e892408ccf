import { redactDeepForSinks, redactForSinks } from '../redact/index.js';
import { LOG_COLUMNS } from './log-rows.js';
import { levelName, type StoredLog } from './records.js';

/**
 * A stored row as one JSON object (the `--json` NDJSON line and `export --format json`): the
 * {@link StoredLog} fields plus `time` (ISO of `ts`) and `levelName`, absent fields left out.
 */
export function logToJson(log: StoredLog): Record<string, unknown> {
  const { id, ts, lastTs, count, level, ...rest } = log;
  return { id, time: new Date(ts).toISOString(), ts, lastTs, count, level, levelName: levelName(level), ...rest };
}

/** CSV columns of `export --format csv`: every `logs` column, `time` and `level_name`, `extra` last. */
export const CSV_COLUMNS: readonly string[] = [
  'id',
  'time',
  'level_name',
  ...Object.keys(LOG_COLUMNS).slice(1),
  'extra',
];

const FIELD_OF: Record<string, string> = { ...LOG_COLUMNS };

/** Quote one CSV field (RFC 4180: quoted when it holds a comma, quote, CR or LF). */
export function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV header line (with CRLF, as RFC 4180 has it). */
export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

/** One row as a CSV line (with CRLF). */
export function logToCsv(log: StoredLog): string {
  const record = log as unknown as Record<string, unknown>;
  const cells = CSV_COLUMNS.map((column) => {
    if (column === 'time') return csvField(new Date(log.ts).toISOString());
    if (column === 'level_name') return levelName(log.level);
    if (column === 'extra') return csvField(log.extra);
    return csvField(record[FIELD_OF[column] as string]);
  });
  return `${cells.join(',')}\r\n`;
}

/**
 * A row with its free text redacted for a sink (`dancer logs export` in every format): message,
 * error message, stack, route and every extra field. Rows stored with `store.redactAtIngest`
 * come back unchanged; older rows, or a store that turned it off, are redacted here.
 */
export function redactedLog(log: StoredLog): StoredLog {
  const out: StoredLog = { ...log, message: redactForSinks(log.message) };
  if (log.errMessage) out.errMessage = redactForSinks(log.errMessage);
  if (log.stack) out.stack = redactForSinks(log.stack);
  if (log.httpRoute) out.httpRoute = redactForSinks(log.httpRoute);
  if (log.extra) out.extra = redactDeepForSinks(log.extra);
  return out;
}
