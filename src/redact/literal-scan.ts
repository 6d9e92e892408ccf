/**
 * One pass over a text that finds which of many short ASCII literals it holds (pure): the
 * redaction prefilter. Each rule names literals it cannot match without; a single scan marks the
 * rules whose literals occur, so a record skips every other rule without a regex of its own.
 *
 * A table indexed by the first two characters of each literal (both cases for case-insensitive
 * ones) rejects almost every position with one lookup; a hit is confirmed by comparing the rest.
 * One alternation regex over the ~70 literals cost about 4x as much: V8 tries the alternatives
 * at every position.
 */

/** A literal and the rule it triggers. */
export interface TriggerLiteral {
  /** ASCII text that must occur for the rule to match. */
  literal: string;
  /** Compare without regard to ASCII case. */
  ignoreCase: boolean;
  /** Index of the rule this literal marks. */
  rule: number;
}

/**
 * A rule that cannot match without a maximal run of exactly `length` characters from `chars`
 * (a bare 40-character AWS secret): checked in the same pass.
 */
export interface TriggerRun {
  /** The characters of a run (printable ASCII). */
  chars: string;
  length: number;
  rule: number;
}

/** Finds the trigger literals in a text. */
export interface LiteralScanner {
  /**
   * Set `hits[rule] = 1` for every rule with a literal in `text` (entries for other rules are left
   * as they were: clear them first). Returns how many literals were found (0: none at all).
   */
  scan(text: string, hits: Uint8Array): number;
}

interface Entry {
  /** Lower-cased when `ignoreCase`. */
  literal: string;
  ignoreCase: boolean;
  rule: number;
}

const lower = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);
const upper = (c: number) => (c >= 97 && c <= 122 ? c - 32 : c);
const variants = (c: number, ignoreCase: boolean) => (ignoreCase && lower(c) !== upper(c) ? [lower(c), upper(c)] : [c]);

/** Does `text` hold `literal` (lower case) at `at`, ignoring ASCII case? */
function matchesCaseless(text: string, at: number, literal: string): boolean {
  if (at + literal.length > text.length) return false;
  for (let j = 2; j < literal.length; j++) {
    if (lower(text.charCodeAt(at + j)) !== literal.charCodeAt(j)) return false;
  }
  return true;
}

/** Compile a scanner for a set of literals (each at least one ASCII character) and at most one run. */
export function literalScanner(literals: readonly TriggerLiteral[], run?: TriggerRun): LiteralScanner {
  const buckets: Entry[][] = [];
  /** Bucket index + 1 for each pair of 7-bit characters, 0 when no literal starts with that pair. */
  const table = new Uint16Array(128 * 128);
  /** Single-character literals: looked up with indexOf (memchr speed). */
  const singles: Array<{ chars: string[]; rule: number }> = [];
  for (const { literal, ignoreCase, rule } of literals) {
    if (literal.length === 0 || !/^[\x20-\x7e]+$/.test(literal)) {
      throw new Error(`trigger literal must be printable ASCII: ${JSON.stringify(literal)}`);
    }
    const lit = ignoreCase ? literal.toLowerCase() : literal;
    if (lit.length === 1) {
      const c = lit.charCodeAt(0);
      singles.push({ chars: variants(c, ignoreCase).map((x) => String.fromCharCode(x)), rule });
      continue;
    }
    for (const a of variants(lit.charCodeAt(0), ignoreCase)) {
      for (const b of variants(lit.charCodeAt(1), ignoreCase)) {
        const key = (a << 7) | b;
        if (table[key] === 0) {
          buckets.push([]);
          table[key] = buckets.length;
        }
        buckets[(table[key] ?? 0) - 1]?.push({ literal: lit, ignoreCase, rule });
      }
    }
  }
  const inRun = new Uint8Array(128);
  for (const ch of run?.chars ?? '') inRun[ch.charCodeAt(0) & 127] = 1;
  // No run rule: a length no run can have (a run ends at most at the text's end).
  const runLength = run ? run.length : -1;
  const runRule = run ? run.rule : 0;
  return {
    scan(text, hits) {
      let found = 0;
      for (const s of singles) {
        for (const c of s.chars) {
          if (text.includes(c)) {
            hits[s.rule] = 1;
            found++;
            break;
          }
        }
      }
      const n = text.length;
      let prev = 128;
      let runStart = 0;
      let runHit = false;
      for (let i = 0; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c < 128) {
          if (prev < 128) {
            const k = table[(prev << 7) | c] as number;
            if (k !== 0) found += confirm(buckets[k - 1] as Entry[], text, i - 1, hits);
          }
          if (inRun[c] === 1) {
            prev = c;
            continue;
          }
        }
        if (i - runStart === runLength) runHit = true;
        runStart = i + 1;
        prev = c;
      }
      if (runHit || n - runStart === runLength) {
        hits[runRule] = 1;
        found++;
      }
      return found;
    },
  };
}

/** Mark the rules of the bucket's literals that occur at `at`; returns how many did. */
function confirm(bucket: readonly Entry[], text: string, at: number, hits: Uint8Array): number {
  let found = 0;
  for (const e of bucket) {
    if (
      e.literal.length === 2 ||
      (e.ignoreCase ? matchesCaseless(text, at, e.literal) : text.startsWith(e.literal, at))
    ) {
      hits[e.rule] = 1;
      found++;
    }
  }
  return found;
}
