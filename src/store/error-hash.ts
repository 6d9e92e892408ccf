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
  // The same error tends to repeat many times in a row: reuse its hash instead of splitting the
  // stack, running the frame regexes and hashing again. The key encodes every input unambiguously
  // (length-prefixed), so a hit is exact; very long inputs are not cached (bounded memory).
  if (
    last !== undefined &&
    last.errType === errType &&
    last.errCode === errCode &&
    last.errMessage === errMessage &&
    last.stack === stack
  )
    return last.hash;
  const key = `${part(errType)}${part(errCode)}${part(errMessage)}${part(stack)}`;
  let hash: string | undefined;
  if (key.length > MAX_CACHED_KEY) hash = computeHash(errType, errCode, errMessage, stack);
  else {
    hash = cache.get(key);
    if (hash === undefined) {
      hash = computeHash(errType, errCode, errMessage, stack);
      if (cache.size >= CACHE_SIZE) cache.clear();
      cache.set(key, hash);
    }
  }
  last = { errType, errCode, errMessage, stack, hash };
  return hash;
}

function part(value: string | undefined): string {
  return value === undefined ? '-' : `${value.length}:${value}`;
}

/** Recent inputs -> hash; cleared when full (cheap, and a hot error is back after one miss). */
const cache = new Map<string, string>();
const CACHE_SIZE = 512;
/** The previous input and its hash: the common case of one error repeated, without building a key. */
let last:
  | {
      errType?: string | undefined;
      errCode?: string | undefined;
      errMessage?: string | undefined;
      stack?: string | undefined;
      hash: string;
    }
  | undefined;
const MAX_CACHED_KEY = 16_384;

function computeHash(
  errType: string | undefined,
  errCode: string | undefined,
  errMessage: string | undefined,
  stack: string | undefined,
): string {
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
