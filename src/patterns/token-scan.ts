/**
 * The masker's single scan (masks.ts): cut a message into tokens, note each token's characters,
 * watch for text a spanning mask could match, and mask each token once (then look it up: see
 * token-memo.ts). ASCII lines are read as bytes (one `encodeInto` per line; a byte is cheaper to
 * read than a character of a sliced string), other lines as characters; both give the same
 * tokens. Pure apart from its memos.
 */
import { ByteMemo, HASH_START, hashStep, MEMO_MAX_TOKEN, TokenMemo } from './token-memo.js';

/** Token flags: which characters a token has (gates of the per-token masks in masks.ts). */
export const F_DIGIT = 1;
export const F_COLON = 2;
export const F_SLASH = 4;
export const F_AT = 8;
export const F_EQ = 16;
export const F_DOT = 32;
export const F_DASH = 64;

/** A character that ends a token for the masks: space, tab, LF, CR. */
const C_SPACE = 255;
/** A vertical tab or form feed: tokenize.ts splits there, the masks do not. */
const C_SPLIT = 254;
/** A size unit's first letter: a digit right before one may start a size (`12KB`). */
const C_UNIT = 128;
/** ASCII character → its token flag (F_*), C_SPACE, C_SPLIT, C_UNIT, or 0 for any other. */
const CHAR_CLASS = (() => {
  const t = new Uint8Array(128);
  for (let c = 48; c <= 57; c++) t[c] = F_DIGIT;
  t[58] = F_COLON;
  t[47] = F_SLASH;
  t[92] = F_SLASH;
  t[64] = F_AT;
  t[61] = F_EQ;
  t[46] = F_DOT;
  t[45] = F_DASH;
  for (const ch of 'KMGTPEkmgtbB') t[ch.charCodeAt(0)] = C_UNIT;
  for (const c of [32, 9, 10, 13]) t[c] = C_SPACE;
  t[11] = C_SPLIT;
  t[12] = C_SPLIT;
  return t;
})();

/** Lines longer than this are read as characters (the byte buffer stays small). */
const MAX_BYTE_LINE = 1 << 16;

/**
 * Masks one token cut by the scan: `flags` are its characters (F_*), `spanIn` says a spanning
 * mask could match inside it (the spanning regexes run on the token first).
 */
export type MaskCut = (token: string, flags: number, spanIn: boolean) => string;

/** The scan of one masker (its settings and memos). */
export class TokenScanner {
  readonly #maskCut: MaskCut;
  readonly #sizeOn: boolean;
  readonly #timeOn: boolean;
  readonly #encoder = new TextEncoder();
  #bytes = new Uint8Array(1024);
  // One memo per mode: after the spanning regexes ran over the message (`spanChecked`), a token
  // is masked without them, so its answer may differ.
  readonly #bytesPlain = new ByteMemo(15);
  readonly #bytesChecked = new ByteMemo(11);
  readonly #charsPlain = new TokenMemo(13);
  readonly #charsChecked = new TokenMemo(10);

  constructor(maskCut: MaskCut, sizeOn: boolean, timeOn: boolean) {
    this.#maskCut = maskCut;
    this.#sizeOn = sizeOn;
    this.#timeOn = timeOn;
  }

  /**
   * Write the masked tokens of `message` into `out` from index 0 and return their number (`out`
   * keeps its old length: the caller trims it, so the array's storage is reused, never dropped
   * and regrown). A value inside one token is masked with the token (a regex match inside a token
   * is the same over the token as over the message: its edges are whitespace or the ends of the
   * text, both non-word characters). Returns -1, with `out` partly written, when a spanning value
   * could cross a space (`12 KB`, `2024-01-02 10:00`): the caller then runs the spanning regexes
   * over the whole message and scans the result with `spanChecked` set.
   */
  scan(message: string, out: string[], spanChecked: boolean): number {
    const n = message.length;
    if (n <= MAX_BYTE_LINE) {
      if (this.#bytes.length < n) this.#bytes = new Uint8Array(Math.max(n, this.#bytes.length * 2));
      const r = this.#encoder.encodeInto(message, this.#bytes);
      if (r.read === n && r.written === n) return this.#scanBytes(message, this.#bytes, n, out, spanChecked);
    }
    return this.#scanChars(message, out, spanChecked);
  }

  #scanBytes(message: string, b: Uint8Array, n: number, out: string[], spanChecked: boolean): number {
    let count = 0;
    const memo = spanChecked ? this.#bytesChecked : this.#bytesPlain;
    const sizeOn = this.#sizeOn;
    const timeOn = this.#timeOn;
    let i = 0;
    while (i < n) {
      let c = b[i] as number;
      if (CHAR_CLASS[c] === C_SPACE) {
        i++;
        continue;
      }
      const start = i;
      let flags = 0;
      let run = 0; // length of the current digit run
      let split = false; // a vertical tab or form feed inside (tokenize splits there, masks do not)
      let spanIn = false; // a spanning mask could match inside this token
      let h = HASH_START;
      while (i < n) {
        c = b[i] as number;
        const k = CHAR_CLASS[c] as number;
        if (k === 0) {
          h = hashStep(h, c);
          run = 0;
          i++;
          continue;
        }
        if (k === C_SPACE) break;
        h = hashStep(h, c);
        if (k === F_DIGIT) {
          flags |= F_DIGIT;
          run++;
          i++;
          continue;
        }
        if (run > 0 && !spanChecked && spanAfterDigits(run, c, sizeOn, timeOn)) spanIn = true;
        run = 0;
        if (k === C_SPLIT) split = true;
        else flags |= k & ~C_UNIT;
        i++;
      }
      if (run > 0 && !spanChecked && i + 1 < n && b[i] === 32) {
        const next = b[i + 1] as number;
        if (crossesSpace(message, i, run, next, sizeOn, timeOn)) return -1;
      }
      const length = i - start;
      if (split || length > MEMO_MAX_TOKEN) {
        count = putCut(out, count, this.#maskCut(message.slice(start, i), flags, spanIn), split);
        continue;
      }
      let masked = memo.get(b, start, length, h);
      if (masked === undefined) {
        masked = this.#maskCut(ownCopy(message.slice(start, i)), flags, spanIn);
        memo.set(b, start, length, h, masked);
      }
      out[count++] = masked;
    }
    return count;
  }

  #scanChars(message: string, out: string[], spanChecked: boolean): number {
    let count = 0;
    const memo = spanChecked ? this.#charsChecked : this.#charsPlain;
    const sizeOn = this.#sizeOn;
    const timeOn = this.#timeOn;
    const n = message.length;
    let i = 0;
    while (i < n) {
      let c = message.charCodeAt(i);
      if (c < 128 && CHAR_CLASS[c] === C_SPACE) {
        i++;
        continue;
      }
      const start = i;
      let flags = 0;
      let run = 0;
      let split = false;
      let spanIn = false;
      let h = HASH_START;
      while (i < n) {
        c = message.charCodeAt(i);
        const k = c < 128 ? (CHAR_CLASS[c] as number) : 0;
        if (k === 0) {
          h = hashStep(h, c);
          run = 0;
          i++;
          continue;
        }
        if (k === C_SPACE) break;
        h = hashStep(h, c);
        if (k === F_DIGIT) {
          flags |= F_DIGIT;
          run++;
          i++;
          continue;
        }
        if (run > 0 && !spanChecked && spanAfterDigits(run, c, sizeOn, timeOn)) spanIn = true;
        run = 0;
        if (k === C_SPLIT) split = true;
        else flags |= k & ~C_UNIT;
        i++;
      }
      if (run > 0 && !spanChecked && i + 1 < n && message.charCodeAt(i) === 32) {
        if (crossesSpace(message, i, run, message.charCodeAt(i + 1), sizeOn, timeOn)) return -1;
      }
      const length = i - start;
      if (split || length > MEMO_MAX_TOKEN) {
        count = putCut(out, count, this.#maskCut(message.slice(start, i), flags, spanIn), split);
        continue;
      }
      let masked = memo.get(message, start, length, h);
      if (masked === undefined) {
        const token = ownCopy(message.slice(start, i));
        masked = this.#maskCut(token, flags, spanIn);
        memo.set(token, h, masked);
      }
      out[count++] = masked;
    }
    return count;
  }
}

/** The character flags (F_*) of a token, as the scan notes them. */
export function tokenFlags(token: string): number {
  let f = 0;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c >= 48 && c <= 57) f |= F_DIGIT;
    else if (c === 58) f |= F_COLON;
    else if (c === 47 || c === 92) f |= F_SLASH;
    else if (c === 64) f |= F_AT;
    else if (c === 61) f |= F_EQ;
    else if (c === 46) f |= F_DOT;
    else if (c === 45) f |= F_DASH;
  }
  return f;
}

/**
 * A token ending in a run of `run` digits at `message[at]`, a space there and `next` after it:
 * could a spanning mask match across that space? `12 KB` (a size unit, whole); `2024-01-02 10:00`
 * (a date, then a digit). A necessary condition: when it holds, the regexes decide.
 */
function crossesSpace(message: string, at: number, run: number, next: number, size: boolean, time: boolean): boolean {
  if (size && isUnitStart(next) && unitAt(message, at + 1)) return true;
  return time && run === 2 && next >= 48 && next <= 57 && message.charCodeAt(at - 3) === 45;
}

/**
 * Write a masked token at `out[at]`, split at vertical tabs and form feeds when `split`
 * (tokenize.ts splits there too); returns the index after the last token written.
 */
function putCut(out: string[], at: number, token: string, split: boolean): number {
  if (!split) {
    out[at] = token;
    return at + 1;
  }
  let k = at;
  let from = 0;
  for (let i = 0; i <= token.length; i++) {
    const c = i < token.length ? token.charCodeAt(i) : 11;
    if (c !== 11 && c !== 12) continue;
    if (i > from) out[k++] = token.slice(from, i);
    from = i + 1;
  }
  return k;
}

/**
 * `s` as a string of its own: a slice of a longer line (13 characters or more) would keep the
 * whole line alive for as long as a memo holds it.
 */
function ownCopy(s: string): string {
  return s.length < 13 ? s : ` ${s}`.slice(1);
}

/** A size unit's first letter (`KB`, `kb`, `bytes`, `B`). */
function isUnitStart(c: number): boolean {
  return c < 128 && CHAR_CLASS[c] === C_UNIT;
}

/**
 * Does a size unit of the `size` mask (`[KMGTPE]i?B|[kmgt]b|bytes?|B`, then a word boundary)
 * start at `s[j]`? Each form is tried with its boundary, as the regex backtracks.
 */
function unitAt(s: string, j: number): boolean {
  const c = s.charCodeAt(j);
  if (c === 66) return endsWord(s, j + 1); // B
  if (c === 98) {
    // b: `byte`, `bytes`
    if (s.charCodeAt(j + 1) !== 121 || s.charCodeAt(j + 2) !== 116 || s.charCodeAt(j + 3) !== 101) return false;
    return endsWord(s, j + 4) || (s.charCodeAt(j + 4) === 115 && endsWord(s, j + 5));
  }
  if (c === 107 || c === 109 || c === 103 || c === 116) return s.charCodeAt(j + 1) === 98 && endsWord(s, j + 2);
  // K M G T P E, then `B` or `iB`
  if (s.charCodeAt(j + 1) === 66) return endsWord(s, j + 2);
  return s.charCodeAt(j + 1) === 105 && s.charCodeAt(j + 2) === 66 && endsWord(s, j + 3);
}

/** Is `s[j]` the end of the text or not `[A-Za-z0-9_]` (a word boundary after a word character)? */
function endsWord(s: string, j: number): boolean {
  if (j >= s.length) return true;
  const c = s.charCodeAt(j);
  return !((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95);
}

/**
 * At character `c`, right after a run of `run` digits: could a spanning mask match here?
 * A size unit right after the digits; a time (`\b\d{1,2}:\d{2}\b`); a date (`\b\d{4}-`). A
 * necessary condition only: when it holds, the regexes decide.
 */
function spanAfterDigits(run: number, c: number, size: boolean, time: boolean): boolean {
  if (size && isUnitStart(c)) return true;
  if (!time) return false;
  if (c === 58 && run <= 2) return true;
  return c === 45 && run === 4;
}
