/**
 * Tokenising: a masked message is split on runs of whitespace. Leading and trailing whitespace
 * is dropped, so a template is its tokens joined by single spaces. Pure functions.
 */

/** Split a (masked) message into tokens on runs of whitespace. */
export function tokenize(masked: string): string[] {
  const out: string[] = [];
  const n = masked.length;
  let i = 0;
  while (i < n) {
    let c = masked.charCodeAt(i);
    while (i < n && (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12)) c = masked.charCodeAt(++i);
    if (i >= n) break;
    let j = i + 1;
    while (j < n) {
      const d = masked.charCodeAt(j);
      if (d === 32 || d === 9 || d === 10 || d === 13 || d === 11 || d === 12) break;
      j++;
    }
    out.push(masked.slice(i, j));
    i = j;
  }
  return out;
}

/** Join template tokens into the template text. */
export function joinTokens(tokens: readonly string[]): string {
  return tokens.join(' ');
}
