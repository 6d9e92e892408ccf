import { createHash } from 'node:crypto';
import type { LogRecord } from './records.js';

/** How many stack frames take part in {@link errorHash}. */
export const ERROR_HASH_FRAMES = 8;

const FRAME = /^\s*at\s/;
const LINE_COL = /:\d+(:\d+)?(?=\)?$)/;

/**
 * A short, stable hash that groups occurrences of the same error: the error type, the error code
 * and the top {@link ERROR_HASH_FRAMES} stack frames with line and column numbers removed (so a
 * redeploy that shifts lines keeps the hash). Without frames, the message with digits masked
 * stands in for them. Returns undefined for records that carry no error.
 */
export function errorHash(record: Pick<LogRecord, 'errType' | 'errCode' | 'errMessage' | 'stack'>): string | undefined {
  const errType = text(record.errType);
  const errCode = text(record.errCode);
  const errMessage = text(record.errMessage);
  const stack = text(record.stack);
  if (errType === undefined && stack === undefined && errCode === undefined) return undefined;
  const frames: string[] = [];
  if (stack !== undefined) {
    for (const line of stack.split('\n')) {
      if (!FRAME.test(line)) continue;
      frames.push(line.trim().replace(LINE_COL, ''));
      if (frames.length >= ERROR_HASH_FRAMES) break;
    }
  }
  const tail = frames.length > 0 ? frames.join('\n') : (errMessage ?? '').replace(/\d+/g, '0');
  return createHash('sha1')
    .update(`${errType ?? ''}\u0000${errCode ?? ''}\u0000${tail}`)
    .digest('hex')
    .slice(0, 16);
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : String(value);
}
