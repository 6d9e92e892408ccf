import type { StoredLog } from './records.js';

/** `logs` column name → {@link StoredLog} field, for every column except `extra` and `first_ts`. */
export const LOG_COLUMNS = {
  id: 'id',
  ts: 'ts',
  last_ts: 'lastTs',
  count: 'count',
  level: 'level',
  source: 'source',
  message: 'message',
  template_id: 'templateId',
  err_type: 'errType',
  err_message: 'errMessage',
  err_code: 'errCode',
  err_hash: 'errHash',
  stack: 'stack',
  pid: 'pid',
  thread: 'thread',
  hostname: 'hostname',
  request_id: 'requestId',
  session_id: 'sessionId',
  user_id: 'userId',
  tenant_id: 'tenantId',
  trace_id: 'traceId',
  span_id: 'spanId',
  http_method: 'httpMethod',
  http_route: 'httpRoute',
  http_status: 'httpStatus',
  duration_ms: 'durationMs',
  mem_bytes: 'memBytes',
  file: 'file',
  line: 'line',
  func: 'func',
  stream: 'stream',
  flags: 'flags',
  original_bytes: 'originalBytes',
} as const satisfies Record<string, keyof StoredLog>;

const ENTRIES = Object.entries(LOG_COLUMNS) as Array<[string, keyof StoredLog]>;

/** The SELECT list for reading {@link StoredLog}s (`logs.` qualified). */
export const LOG_SELECT = [...Object.keys(LOG_COLUMNS), 'extra'].map((c) => `logs.${c}`).join(', ');

/**
 * Map a `logs` row to a {@link StoredLog}: camelCase fields, NULL columns left out, `flags` 0 left
 * out, `extra` parsed (kept as `{ extraText }` if it is somehow not valid JSON).
 */
export function rowToStoredLog(row: Record<string, unknown>): StoredLog {
  const out: Record<string, unknown> = {};
  for (const [column, field] of ENTRIES) {
    const value = row[column];
    if (value === null || value === undefined) continue;
    if (field === 'flags' && value === 0) continue;
    out[field] = value;
  }
  const extra = row.extra;
  if (typeof extra === 'string') {
    try {
      out.extra = JSON.parse(extra);
    } catch {
      out.extra = { extraText: extra };
    }
  }
  return out as unknown as StoredLog;
}
