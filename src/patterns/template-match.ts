/**
 * Token-level matching of templates and messages, shared by the miner: coverage (does a template
 * take a message, across token counts too), generalisation of two tokens into `<*>`, and the
 * regex that reads a template's parameters from a raw message. Pure functions.
 */
import { WILDCARD } from './masks.js';

/**
 * Anchor tokens of a template or message: its first constant token that is a plain word, used to
 * find templates of other token counts. Empty when there is none.
 */
export function anchorsOf(tokens: readonly string[]): string[] {
  const a = firstAnchor(tokens);
  return a === undefined ? [] : [a];
}

/** The one anchor of {@link anchorsOf}, or undefined: for a caller that allocates nothing. */
export function firstAnchor(tokens: readonly string[]): string | undefined {
  for (const t of tokens) {
    if (!t.includes(WILDCARD) && t.length > 1) return t;
  }
  return undefined;
}

export function allWild(tokens: readonly string[]): boolean {
  for (const t of tokens) if (t !== WILDCARD) return false;
  return true;
}

/** The token that stands for two different tokens: `<*>`, keeping shared outer punctuation. */
export function generalize(a: string, b: string): string {
  let p = 0;
  const max = Math.min(a.length, b.length);
  while (p < max && a[p] === b[p] && !isAlnum(a.charCodeAt(p)) && a[p] !== '<') p++;
  if (p === 0) {
    // A shared `key=` or `key:` prefix stays: `user=root` and `user=bob` give `user=<*>`.
    let q = 0;
    while (q < max && a[q] === b[q]) q++;
    const cut = Math.max(a.lastIndexOf('=', q - 1), a.lastIndexOf(':', q - 1));
    if (cut > 0 && cut < q && !a.slice(0, cut).includes(WILDCARD)) p = cut + 1;
  }
  let s = 0;
  while (
    s < max - p &&
    a[a.length - 1 - s] === b[b.length - 1 - s] &&
    !isAlnum(a.charCodeAt(a.length - 1 - s)) &&
    a[a.length - 1 - s] !== '>'
  )
    s++;
  if (p === 0 && s === 0) return WILDCARD;
  return `${a.slice(0, p)}${WILDCARD}${a.slice(a.length - s)}`;
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Does template `t` cover tokens `m` of the same length (every constant token equal)? */
export function covers(t: readonly string[], m: readonly string[]): boolean {
  if (t.length !== m.length) return false;
  for (let i = 0; i < t.length; i++) {
    const tt = t[i] as string;
    if (tt !== WILDCARD && tt !== m[i] && !tokenCovers(tt, m[i] as string)) return false;
  }
  return true;
}

/** Does template `t` cover template `o` (same length, or a length its wildcards absorb)? */
export function coversTemplate(t: readonly string[], o: readonly string[]): boolean {
  if (t.length === o.length) return covers(t, o);
  return flexCovers(t, o);
}

/** Does a partly variable token (`<*>).`) match a token (`3).`, `<*>).`)? */
export function tokenCovers(tt: string, mt: string): boolean {
  const i = tt.indexOf(WILDCARD);
  if (i < 0) return false;
  const pre = tt.slice(0, i);
  const post = tt.slice(i + WILDCARD.length);
  if (post.includes(WILDCARD)) return false;
  return mt.length >= pre.length + post.length && mt.startsWith(pre) && mt.endsWith(post);
}

/**
 * Alignment of a template with a longer message (or template): each `<*>` token of the template
 * (`<*>`, or `pre<*>post` such as `<*>,`) takes one or more tokens, every other token must be equal (or covered). A `<*>` that takes
 * several tokens must take mostly variable ones (half or more contain `<*>`), and no `key=value`
 * token: `<1 sec` or `18846 bytes (18.4 KB)` are one value, `invalid user bob` and
 * `rhost=<*> user=root` are not. At most 8 extra tokens.
 */
export function flexCovers(t: readonly string[], m: readonly string[]): boolean {
  const extra = m.length - t.length;
  if (extra < 0 || extra > 8) return false;
  if (extra === 0) return covers(t, m);
  const cols = m.length + 1;
  const memo = new Uint8Array((t.length + 1) * cols); // 0 unknown, 1 true, 2 false
  const go = (i: number, j: number): boolean => {
    if (i === t.length) return j === m.length;
    if (j >= m.length) return false;
    const slot = i * cols + j;
    const known = memo[slot];
    if (known) return known === 1;
    const tt = t[i] as string;
    let ok = false;
    const w = tt.indexOf(WILDCARD);
    if (w >= 0 && tt.indexOf(WILDCARD, w + 1) < 0) {
      // `<*>` or `pre<*>post`: the first token taken must start with pre, the last end with post.
      const pre = tt.slice(0, w);
      const post = tt.slice(w + WILDCARD.length);
      const first = m[j] as string;
      if (tt === first || (first.startsWith(pre) && (post === '' || first.length > pre.length))) {
        if (tt === first || tokenCovers(tt, first) || tt === WILDCARD) ok = go(i + 1, j + 1);
        const room = m.length - j - (t.length - i);
        let vars = first.includes(WILDCARD) ? 1 : 0;
        for (let span = 2; span <= room + 1 && !ok; span++) {
          const last = m[j + span - 1] as string;
          // A `key=value` token is a field of its own, never part of another value.
          if (last.includes('=')) break;
          if (last.includes(WILDCARD)) vars++;
          if (vars * 2 < span || !last.endsWith(post)) continue;
          ok = go(i + 1, j + span);
        }
      }
    } else {
      const mt = m[j] as string;
      ok = (tt === mt || tokenCovers(tt, mt)) && go(i + 1, j + 1);
    }
    memo[slot] = ok ? 1 : 2;
    return ok;
  };
  return go(0, 0);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regex that matches a raw message against a template and captures each `<*>`. */
export function templateRegex(tokens: readonly string[]): RegExp {
  const parts = tokens.map((t) => t.split(WILDCARD).map(escapeRegex).join('(.*?)'));
  return new RegExp(`^\\s*${parts.join('\\s+')}\\s*$`, 's');
}

/**
 * Templates longer than this (tokens) are read word by word: V8 cannot build a regex of ~5,000
 * tokens (stack overflow) or of ~100,000 characters (too large).
 */
export const MAX_REGEX_TOKENS = 1000;
/** Templates longer than this (characters of tokens) are read word by word too. */
export const MAX_REGEX_CHARS = 20_000;

/**
 * The values of a raw message for a template's `<*>`, in order, or undefined when the message does
 * not fit. Up to {@link MAX_REGEX_TOKENS} tokens and {@link MAX_REGEX_CHARS} characters, by the
 * template's regex (cached on `t.paramRe`; a `<*>` may span words). Past that, word by word: the
 * message's words must pair one to one with the template's tokens (a `<*>` takes one word), so a
 * message whose variable part spans words gives undefined there. Linear in the message, never a
 * throw.
 */
export function templateParameters(
  t: { tokens: readonly string[]; paramRe?: RegExp },
  message: string,
): string[] | undefined {
  const tokens = t.tokens;
  let chars = 0;
  for (const x of tokens) chars += x.length + 1;
  if (tokens.length <= MAX_REGEX_TOKENS && chars <= MAX_REGEX_CHARS) {
    t.paramRe ??= templateRegex(tokens);
    const m = t.paramRe.exec(message);
    return m ? m.slice(1).map((v) => v ?? '') : undefined;
  }
  const words = message.trim().split(/\s+/);
  if (words.length !== tokens.length) return undefined;
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const tt = tokens[i] as string;
    const w = words[i] as string;
    if (tt === WILDCARD) out.push(w);
    else if (!tt.includes(WILDCARD)) {
      if (tt !== w) return undefined;
    } else if (!tokenParameters(tt, w, out)) return undefined;
  }
  return out;
}

/**
 * The values of one word for a token with `<*>` in it (`id=<*>,`), appended to `out`; false when
 * the word does not fit. Each `<*>` takes as little as it can, as the regex's `(.*?)` does.
 */
function tokenParameters(tt: string, w: string, out: string[]): boolean {
  const pieces = tt.split(WILDCARD);
  const first = pieces[0] as string;
  const last = pieces[pieces.length - 1] as string;
  if (!w.startsWith(first) || w.length < first.length + last.length) return false;
  const end = w.length - last.length;
  if (!w.endsWith(last)) return false;
  let at = first.length;
  for (let p = 1; p < pieces.length - 1; p++) {
    const piece = pieces[p] as string;
    const found = w.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    out.push(w.slice(at, found));
    at = found + piece.length;
  }
  out.push(w.slice(at, end));
  return true;
}

/**
 * The union of two same-length templates that are compatible (every position equal, or `<*>` in
 * one of them) and each variable where the other is not; undefined otherwise.
 */
export function unionOf(a: readonly string[], b: readonly string[]): string[] | undefined {
  if (a.length !== b.length) return undefined;
  let aWild = false;
  let bWild = false;
  const out: string[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x === y) out.push(x);
    else if (x === WILDCARD || tokenCovers(x, y)) {
      aWild = true;
      out.push(x);
    } else if (y === WILDCARD || tokenCovers(y, x)) {
      bWild = true;
      out.push(y);
    } else return undefined;
  }
  return aWild && bWild ? out : undefined;
}
