/**
 * The prefix loggers put before a plain text message (`2026-11-25 14:00:00,123 ERROR `,
 * `[12:00:00.000] INFO (42): `, `fatal: `), read and removed so the stored message is what the
 * code logged: one template per log statement, whatever the timestamp. Pure.
 */
import { LEVELS } from '../store/index.js';

/** What a line's prefix said. */
export interface LinePrefix {
  /** The message without the prefix. */
  message: string;
  /** The time, when the prefix had a full date. */
  ts?: number;
  /** The level, when the prefix named one. */
  level?: number;
}

const DATE_TIME = /^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s+/;
const CLOCK = /^\[\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?\]\s+/;
const LEVEL_NAMES: Record<string, number> = {
  trace: LEVELS.trace,
  debug: LEVELS.debug,
  info: LEVELS.info,
  notice: LEVELS.info,
  warn: LEVELS.warn,
  warning: LEVELS.warn,
  error: LEVELS.error,
  err: LEVELS.error,
  fatal: LEVELS.fatal,
  critical: LEVELS.fatal,
  crit: LEVELS.fatal,
};
const NAMES = Object.keys(LEVEL_NAMES);
const WORDS = NAMES.join('|');
const UPPER = WORDS.toUpperCase();
const ANY_CASE = [
  ...NAMES,
  ...NAMES.map((w) => w.toUpperCase()),
  ...NAMES.map((w) => w[0]?.toUpperCase() + w.slice(1)),
].join('|');
// `[error] `, `ERROR `, `ERROR: `, `INFO (42): `, `INFO (42 on host): `, and lower case only with a colon (`fatal: `).
const LEVEL = new RegExp(
  `^(?:\\[(${ANY_CASE})\\]|(${UPPER})\\b|(${WORDS})(?=:\\s))(?:\\s*\\(\\d+(?:\\s+on\\s+[^)]*)?\\))?:?\\s+`,
);

/** Read and remove the time and level prefix of a plain text line (the first line of a record). */
export function splitLinePrefix(text: string): LinePrefix {
  let rest = text;
  let ts: number | undefined;
  const dt = DATE_TIME.exec(rest);
  if (dt?.[1] !== undefined) {
    const t = Date.parse(dt[1].replace(' ', 'T').replace(',', '.'));
    if (Number.isFinite(t)) ts = t;
    rest = rest.slice(dt[0].length);
  } else {
    const clock = CLOCK.exec(rest);
    if (clock) rest = rest.slice(clock[0].length);
  }
  let level: number | undefined;
  const lm = LEVEL.exec(rest);
  if (lm) {
    const bracketed = lm[1];
    const upper = lm[2];
    const lower = lm[3];
    // Bare words count in upper case only ("Error: x" is a JS error head, "info about" is prose).
    const word =
      bracketed ??
      (upper !== undefined && upper === upper.toUpperCase() ? upper : undefined) ??
      (lower !== undefined && lower === lower.toLowerCase() ? lower : undefined);
    if (word !== undefined) {
      level = LEVEL_NAMES[word.toLowerCase()];
      rest = rest.slice(lm[0].length);
    }
  }
  if (rest.trim() === '') return { message: text, ...(ts !== undefined ? { ts } : {}) };
  return { message: rest, ...(ts !== undefined ? { ts } : {}), ...(level !== undefined ? { level } : {}) };
}
