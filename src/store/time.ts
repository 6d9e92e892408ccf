import { DancerError } from '../errors.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Parse a duration such as `30s`, `30m`, `2h`, `7d`, `1w` or `500ms` into milliseconds.
 *
 * @throws {DancerError} `DANCER_TIME_INVALID`
 */
export function parseDuration(input: string): number {
  const match = DURATION.exec(input.trim());
  if (!match) {
    throw new DancerError('DANCER_TIME_INVALID', `Not a duration: "${input}" (use e.g. 30s, 15m, 2h, 7d, 1w).`, {
      details: { input },
    });
  }
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

/**
 * Parse a time argument (`--since`, `--until`) into ms since the epoch: a duration means that long
 * before `now` (`2h`, `30m`, `7d`), `now` means now, otherwise an ISO 8601 date or date-time
 * (`2026-11-25`, `2026-11-25T14:00`, `2026-11-25T14:00:00.5Z`; without a zone it is UTC).
 *
 * @throws {DancerError} `DANCER_TIME_INVALID` naming the input and the accepted forms.
 */
export function parseTimeArg(input: string, now: number): number {
  const text = input.trim();
  if (text === 'now') return now;
  if (DURATION.test(text)) return now - parseDuration(text);
  if (ISO.test(text)) {
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text) && text.length > 10;
    const normal = text.replace(' ', 'T');
    const ms = Date.parse(hasZone || normal.length === 10 ? normal : `${normal}Z`);
    if (Number.isFinite(ms)) return ms;
  }
  throw new DancerError(
    'DANCER_TIME_INVALID',
    `Not a time: "${input}" (use a duration before now such as 30m, 2h, 7d, or an ISO time such as 2026-11-25T14:00:00Z).`,
    { details: { input } },
  );
}
