import { LEVELS } from '../store/index.js';

const NAMED: Record<string, number> = {
  trace: LEVELS.trace,
  verbose: LEVELS.debug,
  debug: LEVELS.debug,
  dbg: LEVELS.debug,
  info: LEVELS.info,
  information: LEVELS.info,
  informational: LEVELS.info,
  notice: LEVELS.info,
  log: LEVELS.info,
  warn: LEVELS.warn,
  warning: LEVELS.warn,
  wrn: LEVELS.warn,
  error: LEVELS.error,
  err: LEVELS.error,
  eror: LEVELS.error,
  severe: LEVELS.error,
  fatal: LEVELS.fatal,
  critical: LEVELS.fatal,
  crit: LEVELS.fatal,
  panic: LEVELS.fatal,
  emerg: LEVELS.fatal,
  emergency: LEVELS.fatal,
  alert: LEVELS.fatal,
};

/**
 * A level field's value as a pino level number: numbers pass through (pino and bunyan use the
 * same scale), names map case-insensitively (`warning` → 40, `critical` → 60), numeric strings
 * are read as numbers. Unknown values give undefined.
 */
export function levelFromValue(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value !== 'string') return undefined;
  const key = value.trim().toLowerCase();
  const named = NAMED[key];
  if (named !== undefined) return named;
  if (/^\d{1,3}$/.test(key)) return Number(key);
  return undefined;
}

// Two alternations: bare words count in upper case only ("no error found" is not an error), the
// bracketed and key=value forms in any case. The earliest marker in the line wins ("INFO retry
// after ERROR" is info).
const WORDS = new RegExp(
  [
    '(?<fatal>\\b(?:FATAL|PANIC|CRITICAL|CRIT|EMERG|EMERGENCY|ALERT)\\b|^panic: |^fatal error: )',
    '(?<error>\\b(?:ERROR|ERR|SEVERE|EXCEPTION)\\b|^Traceback \\(most recent call last\\):|^Exception in thread |^Uncaught |^Unhandled |(?:^|\\s)(?:[\\w$]+\\.)*(?:[A-Z][\\w$]*)?(?:Error|Exception)(?::\\s|:?$))',
    '(?<warn>\\b(?:WARN|WARNING)\\b|^(?:[A-Z]\\w*)?Warning: )',
    '(?<info>\\b(?:INFO|NOTICE)\\b)',
    '(?<debug>\\b(?:DEBUG|VERBOSE)\\b)',
    '(?<trace>\\bTRACE\\b)',
  ].join('|'),
);
const FORMS = new RegExp(
  [
    '(?<fatal>\\[(?:fatal|panic|critical|crit|emerg)\\]|\\blevel=["\']?(?:fatal|panic|critical|crit)\\b)',
    '(?<error>\\[(?:error|err|severe)\\]|\\blevel=["\']?(?:error|err)\\b)',
    '(?<warn>\\[(?:warn|warning)\\]|\\blevel=["\']?(?:warn|warning)\\b)',
    '(?<info>\\[(?:info|notice)\\]|\\blevel=["\']?(?:info|notice)\\b)',
    '(?<debug>\\[(?:debug|verbose)\\]|\\blevel=["\']?debug\\b)',
    '(?<trace>\\[trace\\]|\\blevel=["\']?trace\\b)',
  ].join('|'),
  'i',
);

function levelOfMatch(m: RegExpExecArray): number {
  const g = m.groups ?? {};
  if (g.fatal !== undefined) return LEVELS.fatal;
  if (g.error !== undefined) return LEVELS.error;
  if (g.warn !== undefined) return LEVELS.warn;
  if (g.info !== undefined) return LEVELS.info;
  if (g.debug !== undefined) return LEVELS.debug;
  return LEVELS.trace;
}

/** A level read from a plain text line, and whether a marker was found at all. */
export interface InferredLevel {
  level: number;
  /** True when a marker decided the level; false when `fallback` was used. */
  fromMarker: boolean;
}

/**
 * Infer the level of a plain text line from the earliest common marker in it: `ERROR`, `WARN`,
 * `[error]`, `level=error`, `FATAL`, `panic:`, `Traceback (most recent call last):`,
 * `TypeError: ...` and friends. Bare words count only in upper case (`ERROR`, not "error").
 */
export function inferLevel(text: string, fallback: number = LEVELS.info): InferredLevel {
  const probe = text.length > 4096 ? text.slice(0, 4096) : text;
  const a = WORDS.exec(probe);
  const b = FORMS.exec(probe);
  const m = a === null ? b : b === null ? a : b.index < a.index ? b : a;
  if (m === null) return { level: fallback, fromMarker: false };
  return { level: levelOfMatch(m), fromMarker: true };
}
