/**
 * Hand-written scanners (pure) for rules a regex scans slowly: emails (from each `@` outwards),
 * bare 40-character AWS secret keys, and the Luhn check of card numbers.
 */
import type { Placeholder } from './keys.js';

/** Luhn checksum over a digit string. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

const isLocalChar = (c: number) =>
  (c >= 97 && c <= 122) ||
  (c >= 65 && c <= 90) ||
  (c >= 48 && c <= 57) ||
  c === 46 ||
  c === 95 ||
  c === 37 ||
  c === 43 ||
  c === 45;
const isDomainChar = (c: number) =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46;
const isAlpha = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90);

/** Replace email addresses, scanning from each `@` outwards (linear, unlike a regex from every word start). */
export function redactEmails(text: string, ph: Placeholder): string {
  let out = '';
  let last = 0;
  let at = text.indexOf('@');
  while (at !== -1) {
    let start = at;
    while (start > 0 && at - start < 64 && isLocalChar(text.charCodeAt(start - 1))) start--;
    let end = at + 1;
    while (end < text.length && end - at < 255 && isDomainChar(text.charCodeAt(end))) end++;
    // Trim trailing dots/hyphens, then require a dotted domain ending in 2+ letters.
    while (end > at + 1 && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--;
    const domain = text.slice(at + 1, end);
    const dot = domain.lastIndexOf('.');
    const tld = dot > 0 ? domain.slice(dot + 1) : '';
    let ok = start < at && start >= last && dot > 0 && tld.length >= 2 && tld.length <= 24;
    for (let i = 0; ok && i < tld.length; i++) ok = isAlpha(tld.charCodeAt(i));
    if (ok && start > 0 && isLocalChar(text.charCodeAt(start - 1))) ok = false;
    if (ok) {
      out += text.slice(last, start) + ph('email', end - start);
      last = end;
      at = text.indexOf('@', end);
    } else {
      at = text.indexOf('@', at + 1);
    }
  }
  return last === 0 ? text : out + text.slice(last);
}

const isB64 = (c: number) =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 47 || c === 43;
/** Characters that glue a run to a bigger token (`sha1-…`, `a_…`; after it also `…=` padding). */
const gluesBefore = (c: number) => isB64(c) || c === 95 || c === 45;
const gluesAfter = (c: number) => gluesBefore(c) || c === 61;

/**
 * A bare AWS secret access key: exactly 40 base64 characters standing alone, with upper and
 * lower case letters and a digit, not a path (no leading `/`), and varied like a random string
 * (at least 20 distinct characters). A git SHA (hex, lower case) never qualifies.
 */
export function looksLikeAwsSecret(run: string): boolean {
  if (run.length !== 40 || run.charCodeAt(0) === 47) return false;
  let upper = false;
  let lower = false;
  let digit = false;
  let slashes = 0;
  const seen = new Set<number>();
  for (let i = 0; i < 40; i++) {
    const c = run.charCodeAt(i);
    if (c >= 65 && c <= 90) upper = true;
    else if (c >= 97 && c <= 122) lower = true;
    else if (c >= 48 && c <= 57) digit = true;
    else if (c === 47) slashes++;
    seen.add(c);
  }
  return upper && lower && digit && slashes <= 4 && seen.size >= 20;
}

/**
 * Replace bare AWS secret access keys (see {@link looksLikeAwsSecret}). One pass over the char
 * codes, measuring runs of base64 characters: a regex for 40-character runs tried every position
 * and cost five times as much on ordinary log lines.
 */
export function redactAwsSecrets(text: string, ph: Placeholder): string {
  let out = '';
  let last = 0;
  let start = 0;
  const n = text.length;
  for (let i = 0; i <= n; i++) {
    if (i < n && isB64(text.charCodeAt(i))) continue;
    // A run [start, i) just ended.
    if (
      i - start === 40 &&
      (start === 0 || !gluesBefore(text.charCodeAt(start - 1))) &&
      (i === n || !gluesAfter(text.charCodeAt(i)))
    ) {
      const run = text.slice(start, i);
      if (looksLikeAwsSecret(run)) {
        out += text.slice(last, start) + ph('aws_secret_key', 40);
        last = i;
      }
    }
    start = i + 1;
  }
  return last === 0 ? text : out + text.slice(last);
}
