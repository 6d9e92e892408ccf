import type { LogRecord } from './records.js';

/**
 * The fields two records must share to collapse into one row: every stored field except the time
 * and `extra` (compared separately, as serialized JSON). A record with a request id never
 * collapses (each request's lines stay separate rows for correlation).
 */
export const COLLAPSE_FIELDS = [
  'level',
  'source',
  'message',
  'templateId',
  'errType',
  'errMessage',
  'errCode',
  'stack',
  'pid',
  'thread',
  'hostname',
  'requestId',
  'sessionId',
  'userId',
  'tenantId',
  'traceId',
  'spanId',
  'httpMethod',
  'httpRoute',
  'httpStatus',
  'durationMs',
  'memBytes',
  'file',
  'line',
  'func',
  'stream',
  'flags',
  'originalBytes',
] as const satisfies readonly (keyof LogRecord)[];

/**
 * True when `next` may collapse into the run started by `prev` (see {@link COLLAPSE_FIELDS}):
 * neither carries a request id and every listed field is equal (missing and null are equal).
 * `extra`, the time window and the arrival order are checked by the writer.
 */
export function sameRun(prev: LogRecord, next: LogRecord): boolean {
  if (next.requestId != null || prev.requestId != null) return false;
  for (const field of COLLAPSE_FIELDS) {
    const a = prev[field];
    const b = next[field];
    if (a !== b && !(a == null && b == null)) return false;
  }
  return true;
}
