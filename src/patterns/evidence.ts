/**
 * When does a position of a template become a variable? From evidence, not at the first
 * mismatch. Pure functions, shared by the miner and its tests.
 *
 * - A token's shape: numbers, ids, addresses and the like are masked before mining (masks.ts),
 *   so what is left differs in words. A *word* (letters, with `.`, `-`, `_` inside, outer
 *   punctuation aside: `started`, `GET`, `nginx`, `java.io.IOException`, `(primary)`) is taken
 *   for a constant: two messages that differ in a word do not join by similarity.
 * - Upper-case keywords (`RUNNING`, `GET`) are constants whatever the evidence, except codes
 *   (`EUR`, `USD`: two or three letters, one length across the position; see {@link codeLength}),
 *   which follow the evidence rule below like words.
 * - The number of distinct values and their spread: the templates that differ in one word only
 *   (everything else equal) are siblings. When enough distinct words have been seen there, and
 *   they are spread thin (not a few values repeated many times, as event names and verbs are),
 *   the position is a variable and the siblings become one template.
 */
import { WILDCARD } from './masks.js';

/** Longest word (its core, outer punctuation aside) taken for a constant. */
const MAX_WORD = 40;

/**
 * A word: once outer punctuation is stripped, letters with `.`, `-`, `_` or `'` inside, no
 * digit and no `<*>`. Such tokens are constants until the evidence says otherwise.
 */
export function isWordToken(token: string): boolean {
  let a = 0;
  let b = token.length;
  while (a < b && !isLetter(token.charCodeAt(a))) {
    if (isDigit(token.charCodeAt(a))) return false;
    a++;
  }
  while (b > a && !isLetter(token.charCodeAt(b - 1))) {
    if (isDigit(token.charCodeAt(b - 1))) return false;
    b--;
  }
  if (a === b || b - a > MAX_WORD) return false;
  for (let i = a; i < b; i++) {
    const c = token.charCodeAt(i);
    if (isLetter(c)) continue;
    // `.`, `-`, `_`, `'`
    if (c === 46 || c === 45 || c === 95 || c === 39) continue;
    return false;
  }
  // `<*>` never survives the scan above (`<`, `*`, `>` are not allowed inside).
  return !token.includes(WILDCARD);
}

/**
 * The word a token stands for, as a constant: the token itself, or the value of a `key=value`
 * or `key:value` token (`method=GET`, `user=alice`), whose key stays in the template. Undefined when the token
 * (or its value) is not a word or keyword.
 */
export function constantWord(token: string): string | undefined {
  let eq = token.lastIndexOf('=');
  // `key:value` too (`action:android.intent.action.TIME_TICK`), but not a trailing `key:`.
  if (eq < 0) {
    const colon = token.indexOf(':');
    if (colon > 0 && colon < token.length - 1) eq = colon;
  }
  const value = eq > 0 ? token.slice(eq + 1) : token;
  return isWordToken(value) || isKeyword(value) ? value : undefined;
}

/** Do two different tokens differ in a constant word (same key, if any)? Then they never join by similarity. */
export function differInWord(a: string, b: string): boolean {
  const wa = constantWord(a);
  if (wa === undefined) return false;
  const wb = constantWord(b);
  if (wb === undefined) return false;
  const ka = a.length - wa.length;
  return ka === b.length - wb.length && a.startsWith(b.slice(0, ka));
}

/**
 * An upper-case identifier (`RUNNING`, `FAIL_TASK_CLEANUP`, `HTTPS`, `GET`): an enum constant or
 * keyword from the code. It never becomes a `<*>`, whatever the evidence.
 */
export function isKeyword(token: string): boolean {
  let start = 0;
  let end = token.length;
  while (start < end && !isAlnum(token.charCodeAt(start))) start++;
  while (end > start && !isAlnum(token.charCodeAt(end - 1))) end--;
  if (end - start < 2) return false;
  let upper = 0;
  for (let i = start; i < end; i++) {
    const c = token.charCodeAt(i);
    if (c >= 65 && c <= 90) upper++;
    else if (!((c >= 48 && c <= 57) || c === 95)) return false;
  }
  return upper >= 2;
}

/**
 * A code (`EUR`, `USD`, `DE`, `LHR`): an upper-case keyword of two or three letters only, outer
 * punctuation aside. Codes are values from a standard table (currencies, countries, languages,
 * airports), not names from the code: a position whose words are all codes of one length may
 * become a variable by the evidence rule like any word. Every other keyword (`GET`, `POST`,
 * `RUNNING`, `NEW_SAVING`, `INFO`, `HTTPS`) stays a constant whatever the evidence; enums mix
 * lengths, codes from one table do not.
 */
export function codeLength(token: string): number {
  let start = 0;
  let end = token.length;
  while (start < end && !isAlnum(token.charCodeAt(start))) start++;
  while (end > start && !isAlnum(token.charCodeAt(end - 1))) end--;
  const n = end - start;
  if (n < 2 || n > 3) return 0;
  for (let i = start; i < end; i++) {
    const c = token.charCodeAt(i);
    if (c < 65 || c > 90) return 0;
  }
  return n;
}

/** The evidence rule's settings (fixed for every system; see docs/patterns-miner.md). */
export interface EvidenceRule {
  /** Distinct words needed in one position before it may become a variable. */
  minDistinct: number;
  /**
   * Spread: how many of those words must be rare (seen at most twice, the new one included).
   * Event names and verbs are a few words, each seen again and again; a variable keeps bringing
   * words seen once or twice, even when one value (`root`) dominates. 0 turns the test off.
   */
  minRare: number;
}

/** The default rule: four distinct words, two of them rare. */
export const DEFAULT_EVIDENCE: EvidenceRule = Object.freeze({ minDistinct: 4, minRare: 2 });

/** A word seen at most this often counts as rare. */
const RARE = 2;

/**
 * Is a position a variable, given the counts of the distinct words seen there (one entry per
 * word, messages per word)?
 */
export function isVariablePosition(counts: readonly number[], rule: EvidenceRule = DEFAULT_EVIDENCE): boolean {
  if (counts.length < rule.minDistinct) return false;
  let rare = 0;
  for (const c of counts) if (c <= RARE) rare++;
  return rare >= rule.minRare;
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isAlnum(c: number): boolean {
  return isLetter(c) || isDigit(c);
}
