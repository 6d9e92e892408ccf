/**
 * Masking: the first step of template mining. Variable parts of a log message (numbers, ids,
 * addresses, paths, ...) are replaced by the wildcard `<*>` before the message is tokenised, so
 * that the miner compares only the constant words. Pure functions, no I/O.
 *
 * Two kinds of mask run, in order:
 * 1. Regex masks over the whole message (URLs, emails, UUIDs, IP addresses, timestamps, paths,
 *    sizes, `key=value` values, booleans, hex, user-defined patterns). A regex mask may span
 *    spaces, so a value such as `12 KB` becomes one token. Quoted strings are not masked whole:
 *    the words inside are tokenised like any other (`quoted` is accepted and does nothing).
 * 2. The token rule (`numbers`): within each whitespace-separated token, runs of letters and
 *    digits that are numbers or numeric identifiers (`42`, `-1`, `3.5`, `65020ms`, `rdd_2_1`,
 *    `8a2a501`) become `<*>`; adjacent variable runs joined by `.`, `:`, `-`, `_`, `/` or `@`
 *    become a single `<*>` (`10.0.0.1:80` is one value), while `,`, `#`, `|` and `=` still
 *    separate values.
 */

import { BUILTIN_MASK_NAMES } from '../defaults.js';
import { isWordChar, maskToken } from './token-rule.js';
import { F_AT, F_COLON, F_DASH, F_DIGIT, F_DOT, F_EQ, F_SLASH, TokenScanner, tokenFlags } from './token-scan.js';

export { isVariableRun, maskNumbers, maskToken } from './token-rule.js';

/** The wildcard that marks a variable part in a masked message and in a template. */
export const WILDCARD = '<*>';

/**
 * The names of the built-in masks, in the order they run: defined once, with the `patterns.masks`
 * schema in src/config, and exported from this stage's face.
 */
export { BUILTIN_MASK_NAMES };

/** One of {@link BUILTIN_MASK_NAMES}. */
export type BuiltinMaskName = (typeof BUILTIN_MASK_NAMES)[number];

/** A user-defined mask: every match of `pattern` is replaced by `replacement` (default `<*>`). */
export interface CustomMask {
  /** A name, for docs and error messages. */
  name: string;
  /** A JavaScript regular expression source (no slashes); compiled with the `g` flag. */
  pattern: string;
  /** Replacement text; `$1`-style group references work. Default `<*>`. */
  replacement?: string;
}

/** Which masks to run: the `patterns.masks` section of `dancer.yaml`. */
export interface MaskConfig {
  /** Built-in masks to turn off, by name. */
  disable?: readonly string[];
  /** Extra masks, run before the built-ins (so they can claim text first). */
  custom?: readonly CustomMask[];
}

interface RegexMask {
  name: string;
  re: RegExp;
  /** Cheap precondition on the raw text; the regex is skipped when it returns false. */
  gate?: (s: string) => boolean;
  replace: string | ((match: string, ...groups: string[]) => string);
}

const hasDigit = (s: string): boolean => /\d/.test(s);

/** `::` or seven colons: a real IPv6 address, not a time like `12:30:45`. */
function ipv6Replace(match: string): string {
  const core = match.replace(/^\[/, '').replace(/\](:\d+)?$/, '');
  const colons = core.split(':').length - 1;
  if (!core.includes('::') && colons < 7) return match;
  if (core === '::') return match;
  return WILDCARD;
}

const BUILTIN_REGEX_MASKS: Record<Exclude<BuiltinMaskName, 'numbers'>, RegexMask> = {
  url: {
    name: 'url',
    re: /\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>)\]},]*/g,
    gate: (s) => s.includes('://'),
    replace: WILDCARD,
  },
  email: {
    name: 'email',
    re: /(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b/g,
    gate: (s) => s.includes('@'),
    replace: WILDCARD,
  },
  uuid: {
    name: 'uuid',
    re: /\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b/g,
    gate: (s) => s.includes('-'),
    replace: WILDCARD,
  },
  ipv6: {
    name: 'ipv6',
    re: /(?<![\w:.])\[?(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?:%\w+)?(?:\](?::\d{1,5})?)?(?![\w:])/g,
    gate: (s) => s.includes('::') || s.includes(':'),
    replace: ipv6Replace,
  },
  hostport: {
    name: 'hostport',
    re: /(?<![\w.-])(?:[A-Za-z0-9-]+\.)+[A-Za-z][A-Za-z0-9-]*:\d{1,5}(?![\w.])/g,
    gate: (s) => s.includes(':'),
    replace: WILDCARD,
  },
  ipv4: {
    name: 'ipv4',
    re: /(?:(?<![^\s([{=,])\/)?(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w-]|\.\w)/g,
    gate: (s) => s.includes('.'),
    replace: WILDCARD,
  },
  timestamp: {
    name: 'timestamp',
    re: /\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b|\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b/g,
    gate: (s) => (s.includes(':') || s.includes('-')) && hasDigit(s),
    replace: WILDCARD,
  },
  path: {
    name: 'path',
    re: /(?<![\w./~\\>*-])(?:~|\.{1,2})?(?:\/[\w.@%+~$*:-]+)+\/?|(?<![\w./-])[\w.-]+(?:\/[\w.@%+~$*-]+){2,}\/?|\b[A-Za-z]:\\[^\s"'<>|]*/g,
    gate: (s) => s.includes('/') || s.includes('\\'),
    replace: WILDCARD,
  },
  size: {
    name: 'size',
    re: /(?<![\w.])[-+]?\d+(?:\.\d+)? ?(?:[KMGTPE]i?B|[kmgt]b|bytes?|B)\b/g,
    gate: hasDigit,
    replace: WILDCARD,
  },
  quoted: {
    name: 'quoted',
    re: /"(?:[^"\\\n]|\\.)*"|(?<![\w'])'[^'\n]+'(?![\w'])/g,
    gate: (s) => s.includes('"') || s.includes("'"),
    replace: (m) => (m.startsWith('"') ? '"<*>"' : "'<*>'"),
  },
  keyvalue: {
    name: 'keyvalue',
    re: /(?<=^|[\s,;([{<])([A-Za-z_][\w.-]*)([=:])(?!\/\/)([^\s,;)\]}>=]*\d[^\s,;)\]}>=]*)/g,
    gate: (s) => s.includes('=') || s.includes(':'),
    replace: (_m, key: string, sep: string) => `${key}${sep}${WILDCARD}`,
  },
  hex: {
    name: 'hex',
    re: /\b0[xX][0-9a-fA-F]+\b/g,
    gate: (s) => s.includes('0x') || s.includes('0X'),
    replace: WILDCARD,
  },
  bool: {
    name: 'bool',
    re: /(?<![\w.-])(?:true|false|null|True|False|TRUE|FALSE|NULL)(?![\w-]|\.\w)/g,
    replace: WILDCARD,
  },
};

/** A compiled set of masks: turns a raw message into its masked form. */
export interface Masker {
  /** The masked message: variable parts replaced by `<*>` (whitespace as in the input). */
  mask(message: string): string;
  /**
   * The masked message's tokens, the same as `tokenize(mask(message))` (tokenize.ts), found in one
   * scan of the message with no masked string built in between.
   */
  tokens(message: string): string[];
  /**
   * {@link tokens} into `out` (emptied first), which is returned: for a caller that reuses one
   * array for every message.
   */
  tokensInto(message: string, out: string[]): string[];
  /** The names of the masks that run, in order. */
  readonly names: readonly string[];
}

/** Masks that may span whitespace: they run over the whole message, before tokens are looked at. */
const SPANNING: ReadonlySet<string> = new Set(['quoted', 'size', 'timestamp']);

/** Gates of the per-token masks, on a token's character flags (see {@link tokenFlags}). */
const all = (bits: number) => (f: number) => (f & bits) === bits;
const TOKEN_GATES: Record<string, (flags: number, token: string) => boolean> = {
  url: (_f, t) => t.includes('://'),
  email: all(F_AT | F_DOT),
  uuid: (f, t) => (f & F_DASH) !== 0 && t.length >= 36,
  ipv6: (f, t) => (f & F_COLON) !== 0 && (t.includes('::') || countChar(t, 58) >= 7),
  hostport: all(F_COLON | F_DOT | F_DIGIT),
  // Four dotted numbers: three dots at least (`0.25` never reaches the regex).
  ipv4: (f, t) => (f & (F_DOT | F_DIGIT)) === (F_DOT | F_DIGIT) && countChar(t, 46) >= 3,
  path: all(F_SLASH),
  keyvalue: (f) => (f & F_DIGIT) !== 0 && (f & (F_EQ | F_COLON)) !== 0,
  hex: (f, t) => (f & F_DIGIT) !== 0 && (t.includes('0x') || t.includes('0X')),
};

function countChar(s: string, code: number): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === code) n++;
  return n;
}

const BOOL_WORDS = new Set(['true', 'false', 'null', 'True', 'False', 'TRUE', 'FALSE', 'NULL']);

/**
 * Compile the masks named by `config` (all built-ins by default).
 *
 * Custom masks and the masks that may span spaces (quoted strings, sizes such as `12 KB`, date
 * and time) run over the whole message; the others run token by token, and only on tokens whose
 * characters could match (a plain word is never looked at twice). The result is the same as
 * running every mask over the whole message in order, at a fraction of the cost.
 *
 * @throws {Error} when a custom pattern is not a valid regular expression (the config loader
 * reports it with the file position).
 */
export function createMasker(config: MaskConfig = {}): Masker {
  const disabled = new Set(config.disable ?? []);
  const whole: RegexMask[] = [];
  const perToken: { mask: RegexMask; gate: (flags: number, token: string) => boolean }[] = [];
  for (const custom of config.custom ?? []) {
    whole.push({ name: custom.name, re: new RegExp(custom.pattern, 'g'), replace: custom.replacement ?? WILDCARD });
  }
  // `quoted` no longer masks a quoted string whole: its words are tokenised like the rest of the
  // message (`"GET /a HTTP/1.1"` keeps its verb), so the name is accepted and does nothing.
  for (const name of ['size', 'timestamp'] as const) {
    if (!disabled.has(name)) whole.push(BUILTIN_REGEX_MASKS[name]);
  }
  for (const name of BUILTIN_MASK_NAMES) {
    if (name === 'numbers' || name === 'bool' || SPANNING.has(name) || disabled.has(name)) continue;
    perToken.push({ mask: BUILTIN_REGEX_MASKS[name], gate: TOKEN_GATES[name] ?? (() => true) });
  }
  // The time-of-day part of `timestamp` also runs per token (after ipv6, which owns `::`).
  const bool = !disabled.has('bool');
  const numbers = !disabled.has('numbers');
  const names = [
    ...whole.map((m) => m.name),
    ...perToken.map((m) => m.mask.name),
    ...(bool ? ['bool'] : []),
    ...(numbers ? ['numbers'] : []),
  ];
  const maskOne = (token: string): string => maskFlagged(token, tokenFlags(token));
  const maskWhole = (message: string): string => {
    let s = message;
    for (const m of whole) {
      if (m.gate && !m.gate(s)) continue;
      m.re.lastIndex = 0;
      s = typeof m.replace === 'string' ? s.replace(m.re, m.replace) : s.replace(m.re, m.replace);
    }
    return s;
  };
  const custom = (config.custom?.length ?? 0) > 0;
  const sizeOn = !disabled.has('size');
  const timeOn = !disabled.has('timestamp');
  /** Mask one token cut by the scan (`flags`: its characters; `spanIn`: see scan). */
  const maskCut = (token: string, flags: number, spanIn: boolean): string => {
    let t = token;
    let f = flags;
    if (spanIn) {
      t = maskWhole(token);
      if (t !== token) f = tokenFlags(t);
    }
    return f === 0 ? (bool ? maskBool(t) : t) : maskFlagged(t, f);
  };
  const maskFlagged = (token: string, flags: number): string => {
    let t = token;
    if ((flags & (F_DIGIT | F_SLASH | F_AT)) !== 0) {
      for (const { mask, gate } of perToken) {
        if (!gate(flags, t)) continue;
        mask.re.lastIndex = 0;
        t = typeof mask.replace === 'string' ? t.replace(mask.re, mask.replace) : t.replace(mask.re, mask.replace);
      }
    }
    if ((flags & F_DIGIT) === 0) return bool ? maskBool(t) : t;
    return numbers ? maskToken(t) : t;
  };
  const scanner = new TokenScanner(maskCut, sizeOn, timeOn);
  /**
   * One scan of the message (token-scan.ts); only when a value could cross a space (`12 KB`), or
   * custom masks are set, do the whole-message masks run first and the scan read their result.
   */
  const tokensInto = (message: string, out: string[]): string[] => {
    // The scan writes from index 0 and the length is set once: `out.length = 0` would drop the
    // array's storage and every message would grow it again.
    let n = custom ? -1 : scanner.scan(message, out, false);
    if (n < 0) n = scanner.scan(maskWhole(message), out, true);
    if (out.length !== n) out.length = n;
    return out;
  };
  return {
    names,
    mask(message: string): string {
      return mapTokens(maskWhole(message), maskOne);
    },
    tokens(message: string): string[] {
      return tokensInto(message, []);
    },
    tokensInto,
  };
}

/** `true`, `(false)`, `null,`: a boolean or null token, outer punctuation kept. */
function maskBool(token: string): string {
  let a = 0;
  let b = token.length;
  while (a < b && !isWordChar(token.charCodeAt(a))) a++;
  while (b > a && !isWordChar(token.charCodeAt(b - 1))) b--;
  if (b - a < 4 || b - a > 5) return token;
  const core = token.slice(a, b);
  if (!BOOL_WORDS.has(core)) return token;
  // `a.true` or `true-ish` are names, not values.
  if (token[a - 1] === '.' || token[a - 1] === '-' || token[b] === '-' || (token[b] === '.' && b + 1 < token.length)) {
    return token;
  }
  return `${token.slice(0, a)}${WILDCARD}${token.slice(b)}`;
}

/** Apply `fn` to every whitespace-separated token, keeping the whitespace as it was. */
function mapTokens(s: string, fn: (token: string) => string): string {
  let out = '';
  let last = 0;
  let i = 0;
  const n = s.length;
  while (i < n) {
    let j = i;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d === 32 || d === 9 || d === 10 || d === 13) break;
      j++;
    }
    if (j > i) {
      const token = s.slice(i, j);
      const masked = fn(token);
      if (masked !== token) {
        out += s.slice(last, i) + masked;
        last = j;
      }
    }
    i = j + 1;
  }
  return last === 0 ? s : out + s.slice(last);
}
