/**
 * The redaction engine (pure): rules applied in order, with a prefilter that finds, in one scan,
 * which rules' trigger literals a text holds, so a record runs only those rules (most run none).
 * `redactDeep` also blanks whole values under secret-named keys.
 */
import { isSecretKey } from './keys.js';
import { literalScanner, type TriggerLiteral, type TriggerRun } from './literal-scan.js';
import { builtinRules, placeholder, type RedactOptions, type RedactRule } from './rules.js';

/** A configured redaction pass. */
export interface Redactor {
  /** Redact one text. */
  redact(text: string): string;
  /** Redact every string inside a JSON-like value (values under secret-looking keys entirely). */
  redactDeep<T>(value: T): T;
}

const isWordChar = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;

/**
 * `text.replace(regex, fn)` as an `exec` loop, the way the spec defines a global replace: several
 * times faster in V8 than a replace callback, and `text` itself comes back when nothing changed.
 * A match right after a word character is kept when `boundary` is set.
 */
function replaceMatches(
  text: string,
  regex: RegExp,
  boundary: boolean,
  replace: ((match: string, ...groups: string[]) => string) | undefined,
  ph: string,
): string {
  let out = '';
  let last = 0;
  regex.lastIndex = 0;
  for (let m = regex.exec(text); m !== null; m = regex.global ? regex.exec(text) : null) {
    const whole = m[0];
    const start = m.index;
    if (whole === '') {
      const c = text.charCodeAt(start);
      regex.lastIndex = start + (regex.unicode && c >= 0xd800 && c <= 0xdbff ? 2 : 1);
    }
    if (boundary && start > 0 && isWordChar(text.charCodeAt(start - 1))) continue;
    const rep = replace ? replace(whole, ...(m.slice(1) as string[])) : ph;
    if (rep === whole) continue;
    out += text.slice(last, start) + rep;
    last = start + whole.length;
  }
  regex.lastIndex = 0;
  return last === 0 && out === '' ? text : out + text.slice(last);
}

/** Build a redactor from options (compile once, use for many texts). */
export function createRedactor(options: RedactOptions = {}): Redactor {
  const rules = builtinRules(options);
  const runRule = rules.findIndex((r) => r.runTrigger);
  const run = runRule >= 0 ? { ...(rules[runRule]?.runTrigger as TriggerRun), rule: runRule } : undefined;
  const scanner = literalScanner(triggerLiterals(rules), run);
  const hits = new Uint8Array(rules.length);
  // Rules none of whose literals can occur inside a placeholder: a change made by an earlier rule
  // (which only inserts placeholders) cannot create their literals, so their scan result stands.
  const types = ['secret', ...rules.map((r) => r.name)];
  const proof = rules.map((r) => {
    const ignoreCase = r.triggers?.ignoreCase === true;
    return r.triggers?.literals.every((l) => !inPlaceholder(l, ignoreCase, types)) === true;
  });
  const redact = (input: string): string => {
    // Records come from untrusted JSON: a field typed string at compile time may hold a number.
    const text = typeof input === 'string' ? input : String(input ?? '');
    let out = text;
    hits.fill(0);
    scanner.scan(text, hits);
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i] as RedactRule;
      // Until a rule changes the text, a rule whose trigger literals are absent cannot match; after
      // a change (placeholders hold letters and `:`), each rule's own quick test decides.
      if ((out === text && (rule.triggers || rule.runTrigger)) || proof[i]) {
        if (hits[i] === 0) continue;
      } else if (rule.quick && !rule.quick(out)) continue;
      if (rule.apply) {
        out = rule.apply(out);
        continue;
      }
      rule.regex.lastIndex = 0;
      const replace = rule.replace;
      const ph = placeholder(rule.name);
      if (!replace && !rule.boundary) {
        out = out.replace(rule.regex, ph);
        continue;
      }
      out = replaceMatches(out, rule.regex, rule.boundary === true, replace, ph);
    }
    return out;
  };
  const secretValue = (v: string | number) => placeholder('secret', options.lengths ? String(v).length : undefined);
  const redactDeep = <T>(value: T): T => deep(value, redact, secretValue, 0) as T;
  return { redact, redactDeep };
}

function deep(
  value: unknown,
  redact: (s: string) => string,
  secretValue: (v: string | number) => string,
  depth: number,
): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 64 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => deep(v, redact, secretValue, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (isSecretKey(k) && (typeof v === 'string' || typeof v === 'number') && String(v) !== '') {
      out[k] = secretValue(v);
    } else {
      out[k] = deep(v, redact, secretValue, depth + 1);
    }
  }
  return out;
}

/**
 * Could `literal` occur inside a placeholder, `[REDACTED:<type> <n> chars]`? Conservative: true
 * when every character could be a placeholder's, or a type holds it.
 */
function inPlaceholder(literal: string, ignoreCase: boolean, types: readonly string[]): boolean {
  const chars = ignoreCase ? /^[A-Za-z0-9_ :[\]]+$/ : /^[a-z0-9_ :[\]REDACT]+$/;
  const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  // Types of user patterns (`consult.redact.patterns`) can hold any character.
  return chars.test(literal) || types.some((t) => fold(t).includes(fold(literal)));
}

/** Every rule's trigger literals, tagged with the rule's index. */
function triggerLiterals(rules: readonly RedactRule[]): TriggerLiteral[] {
  const out: TriggerLiteral[] = [];
  rules.forEach((rule, i) => {
    for (const literal of rule.triggers?.literals ?? []) {
      out.push({ literal, ignoreCase: rule.triggers?.ignoreCase === true, rule: i });
    }
  });
  return out;
}

let defaultRedactor: Redactor | undefined;

/** Redact with the default options (emails on, IPs off, no extra patterns). */
export function redact(text: string): string {
  defaultRedactor ??= createRedactor();
  return defaultRedactor.redact(text);
}
