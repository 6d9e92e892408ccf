/**
 * The token rule of masking (masks.ts, the `numbers` mask): within one whitespace-separated token,
 * runs of letters and digits that are numbers or numeric identifiers become `<*>`, and adjacent
 * variable runs joined by `.`, `:`, `-`, `_`, `/` or `@` become one. Pure functions.
 */
const WILDCARD = '<*>';

const hasDigit = (s: string): boolean => /\d/.test(s);

/** Apply the token rule (see the module comment) to every whitespace-separated token. */
export function maskNumbers(s: string): string {
  if (!hasDigit(s)) return s;
  let out = '';
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      out += s[i];
      i++;
      continue;
    }
    let j = i;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d === 32 || d === 9 || d === 10 || d === 13) break;
      j++;
    }
    out += maskToken(s.slice(i, j));
    i = j;
  }
  return out;
}

/** `[A-Za-z0-9_]`. */
export const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isDigitCode = (c: number): boolean => c >= 48 && c <= 57;

/** Separators across which adjacent variable runs join into one value: `.`, `:`, `-`, `_`, `/`, `@` (see joinerSpan). */

/**
 * Is a run of `[A-Za-z0-9_]` a variable? Numbers (`42`, `007`), numbers with a short unit
 * (`65020ms`, `5s`, `100k`), identifiers with an all-digit `_` segment (`rdd_2_1`,
 * `job_1445144423722_0020Job`) and hex-looking strings (or `_` parts) of six or more with a digit
 * and a letter (`8a2a501`, `req_5f3a9b1c`).
 * Words with an embedded digit (`log4j`, `ssh2`, `jk2_init`, `SOCKS5`) stay constant.
 */
export function isVariableRun(run: string): boolean {
  if (run === '<*>') return true;
  let digits = 0;
  for (let k = 0; k < run.length; k++) if (isDigitCode(run.charCodeAt(k))) digits++;
  if (digits === 0) return false;
  if (digits === run.length) return true;
  if (/^\d+[a-zA-Z]{1,3}$/.test(run)) return true;
  if (run.includes('_')) {
    for (const part of run.split('_')) {
      if (part.length > 0 && /^\d+[a-zA-Z]{0,3}$/.test(part)) return true;
      if (part.length >= 6 && /^[0-9a-fA-F]+$/.test(part) && /\d/.test(part) && /[a-fA-F]/.test(part)) return true;
    }
  }
  if (run.length >= 6 && /^[0-9a-fA-F]+$/.test(run) && /[a-fA-F]/.test(run)) return true;
  return false;
}

/** Scratch space of {@link maskToken}: one entry per piece (start, end, kind bits). */
let pieceStart = new Int32Array(64);
let pieceEnd = new Int32Array(64);
let pieceKind = new Uint8Array(64);
const P_WORD = 1;
const P_VAR = 2;

/**
 * Mask the numeric runs of one token (no whitespace inside). The token is cut into pieces, word
 * runs (`[A-Za-z0-9_]`, `<*>` counts as one) and the text between them, held as offsets in
 * reused arrays: nothing is allocated but the answer.
 */
export function maskToken(token: string): string {
  const n = token.length;
  let digits = 0;
  for (let k = 0; k < n; k++) if (isDigitCode(token.charCodeAt(k))) digits++;
  if (digits === 0) return token;
  if (digits === n) return WILDCARD;
  if (n > pieceStart.length) {
    pieceStart = new Int32Array(n * 2);
    pieceEnd = new Int32Array(n * 2);
    pieceKind = new Uint8Array(n * 2);
  }
  const ps = pieceStart;
  const pe = pieceEnd;
  const pk = pieceKind;
  let count = 0;
  let i = 0;
  while (i < n) {
    if (token.startsWith(WILDCARD, i)) {
      ps[count] = i;
      pe[count] = i + WILDCARD.length;
      pk[count++] = P_WORD | P_VAR;
      i += WILDCARD.length;
      continue;
    }
    let j = i + 1;
    if (isWordChar(token.charCodeAt(i))) {
      let runDigits = isDigitCode(token.charCodeAt(i)) ? 1 : 0;
      while (j < n && isWordChar(token.charCodeAt(j))) {
        if (isDigitCode(token.charCodeAt(j))) runDigits++;
        j++;
      }
      ps[count] = i;
      pe[count] = j;
      pk[count++] =
        runDigits === 0 ? P_WORD : runDigits === j - i || isVariableRun(token.slice(i, j)) ? P_WORD | P_VAR : P_WORD;
    } else {
      while (j < n && !isWordChar(token.charCodeAt(j)) && !token.startsWith(WILDCARD, j)) j++;
      ps[count] = i;
      pe[count] = j;
      pk[count++] = 0;
    }
    i = j;
  }
  // A sign directly before a number belongs to it (`-1`, `(-5`, `=+3`, `blk_-42`), unless it is
  // a hyphen between two words (`msra-sa-41`).
  for (let k = 1; k < count; k++) {
    if (((pk[k] as number) & P_VAR) === 0 || ((pk[k - 1] as number) & P_WORD) !== 0) continue;
    const prevEnd = pe[k - 1] as number;
    if (prevEnd <= (ps[k - 1] as number)) continue;
    const sign = token.charCodeAt(prevEnd - 1);
    if (sign !== 45 && sign !== 43) continue;
    if (prevEnd - (ps[k - 1] as number) > 1 || k < 2 || endsWithUnderscore(token, k - 2)) {
      pe[k - 1] = prevEnd - 1;
      ps[k] = (ps[k] as number) - 1;
    }
  }
  // An identifier prefix ending in `_` directly before a signed number (`blk_-42`) is one value.
  for (let k = 0; k + 1 < count; k++) {
    if (((pk[k] as number) & (P_WORD | P_VAR)) !== P_WORD || !endsWithUnderscore(token, k)) continue;
    const next = k + 1;
    const after = ((pk[next] as number) & P_WORD) === 0 && pe[next] === ps[next] ? k + 2 : next;
    if (after < count && ((pk[after] as number) & P_VAR) !== 0) pk[k] = (pk[k] as number) | P_VAR;
  }
  let out = '';
  let k = 0;
  while (k < count) {
    if (((pk[k] as number) & P_VAR) === 0) {
      out += token.slice(ps[k], pe[k]);
      k++;
      continue;
    }
    // Extend the variable over joiners followed by more variables.
    let end = k;
    let m = k + 1;
    while (m < count) {
      if (((pk[m] as number) & P_VAR) !== 0) {
        end = m;
        m++;
        continue;
      }
      if (
        ((pk[m] as number) & P_WORD) === 0 &&
        joinerSpan(token, ps[m] as number, pe[m] as number) &&
        m + 1 < count &&
        ((pk[m + 1] as number) & P_VAR) !== 0
      ) {
        end = m + 1;
        m += 2;
        continue;
      }
      break;
    }
    out += WILDCARD;
    k = end + 1;
  }
  return out;
}

/** Does piece `k` (of {@link maskToken}'s scratch arrays) end in `_`? */
function endsWithUnderscore(token: string, k: number): boolean {
  const e = pieceEnd[k] as number;
  return e > (pieceStart[k] as number) && token.charCodeAt(e - 1) === 95;
}

/** Is `token[a, b)` made of joiners only (empty counts)? */
function joinerSpan(token: string, a: number, b: number): boolean {
  for (let i = a; i < b; i++) {
    const c = token.charCodeAt(i);
    // . : - _ / @
    if (c !== 46 && c !== 58 && c !== 45 && c !== 95 && c !== 47 && c !== 64) return false;
  }
  return true;
}
