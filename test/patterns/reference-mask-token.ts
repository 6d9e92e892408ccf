/**
 * The token rule as it was written before the allocation-free rewrite (masks.ts maskToken): kept
 * as an oracle so that a test can check the two agree on any token.
 */
import { isVariableRun, WILDCARD } from '../../src/patterns/masks.js';

const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isDigitCode = (c: number): boolean => c >= 48 && c <= 57;
const JOINERS = new Set(['.', ':', '-', '_', '/', '@']);
function isJoiner(text: string): boolean {
  for (const ch of text) if (!JOINERS.has(ch)) return false;
  return true;
}

/** The reference token rule. */
export function referenceMaskToken(token: string): string {
  let digit = false;
  for (let k = 0; k < token.length; k++) {
    if (isDigitCode(token.charCodeAt(k))) {
      digit = true;
      break;
    }
  }
  if (!digit) return token;
  // Split into alternating pieces: word runs ([A-Za-z0-9_]) and the rest; `<*>` counts as a word.
  const pieces: { text: string; word: boolean; variable: boolean }[] = [];
  let i = 0;
  while (i < token.length) {
    if (token.startsWith(WILDCARD, i)) {
      pieces.push({ text: WILDCARD, word: true, variable: true });
      i += WILDCARD.length;
      continue;
    }
    const c = token.charCodeAt(i);
    let j = i + 1;
    if (isWordChar(c)) {
      while (j < token.length && isWordChar(token.charCodeAt(j))) j++;
      const text = token.slice(i, j);
      pieces.push({ text, word: true, variable: isVariableRun(text) });
    } else {
      while (j < token.length && !isWordChar(token.charCodeAt(j)) && !token.startsWith(WILDCARD, j)) j++;
      pieces.push({ text: token.slice(i, j), word: false, variable: false });
    }
    i = j;
  }
  // A sign directly before a number belongs to it (`-1`, `(-5`, `=+3`, `blk_-42`), unless it is
  // a hyphen between two words (`msra-sa-41`).
  for (let k = 1; k < pieces.length; k++) {
    const prev = pieces[k - 1] as (typeof pieces)[number];
    const cur = pieces[k] as (typeof pieces)[number];
    if (!cur.variable || prev.word) continue;
    const sign = prev.text.at(-1);
    if (sign !== '-' && sign !== '+') continue;
    const before = pieces[k - 2];
    if (prev.text.length > 1 || !before || before.text.endsWith('_')) {
      prev.text = prev.text.slice(0, -1);
      cur.text = `${sign}${cur.text}`;
    }
  }
  // An identifier prefix ending in `_` directly before a signed number (`blk_-42`) is one value.
  for (let k = 0; k + 1 < pieces.length; k++) {
    const cur = pieces[k];
    const next = pieces[k + 1];
    const after = next && !next.word && next.text === '' ? pieces[k + 2] : next;
    if (cur?.word && !cur.variable && cur.text.endsWith('_') && after?.variable) cur.variable = true;
  }
  let out = '';
  let k = 0;
  while (k < pieces.length) {
    const p = pieces[k] as (typeof pieces)[number];
    if (!p.variable) {
      out += p.text;
      k++;
      continue;
    }
    // Extend the variable over joiners followed by more variables.
    let end = k;
    let m = k + 1;
    while (m < pieces.length) {
      const sep = pieces[m] as (typeof pieces)[number];
      if (sep.variable) {
        end = m;
        m++;
        continue;
      }
      if (!sep.word && isJoiner(sep.text) && pieces[m + 1]?.variable) {
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
