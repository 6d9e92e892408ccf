/**
 * Redaction (pure): secrets and personal data are replaced with typed placeholders such as
 * `[REDACTED:aws_access_key]` before any text leaves the host. The same pass runs over the brief
 * and over every tool result the agent receives. See docs/security.md for the list.
 */

/** One redaction rule: a global regex and what to put in place of a match. */
export interface RedactRule {
  /** Placeholder type, e.g. `anthropic_key`. */
  name: string;
  /** Must have the `g` flag. */
  regex: RegExp;
  /** Cheap test: the rule is skipped on text for which this returns false. */
  quick?: (text: string) => boolean;
  /** Replacement (default: the placeholder for the whole match). */
  replace?: (match: string, ...groups: string[]) => string;
}

/** Options for {@link createRedactor}. */
export interface RedactOptions {
  /** Replace IPv4 and IPv6 addresses. Default false. */
  ips?: boolean;
  /** Replace email addresses. Default true. */
  emails?: boolean;
  /** Extra patterns (from `consult.redact.patterns`). */
  patterns?: ReadonlyArray<{ name: string; regex: string; flags?: string }>;
}

/** A configured redaction pass. */
export interface Redactor {
  /** Redact one text. */
  redact(text: string): string;
  /** Redact every string inside a JSON-like value (values under secret-looking keys entirely). */
  redactDeep<T>(value: T): T;
}

/** The placeholder for a type: `[REDACTED:<type>]`. */
export function placeholder(type: string): string {
  return `[REDACTED:${type}]`;
}

const has = (needle: string) => (text: string) => text.includes(needle);
const hasAny =
  (...needles: string[]) =>
  (text: string) =>
    needles.some((n) => text.includes(n));

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

const SECRET_KEY =
  '(?:password|passwd|pwd|passphrase|secret|api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token|bearer[_-]?token|token|credentials?|private[_-]?key|client[_-]?secret|session[_-]?(?:id|token|secret)|cookie|signature|x-api-key|authorization)';

/** A key name that holds a secret (used for JSON keys and `key=value`). */
const SECRET_KEY_NAME = new RegExp(`^[\\w.-]*?${SECRET_KEY}$`, 'i');

/** True when an object key names a secret (`password`, `apiKey`, `db.secret`, `x-api-key`...). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY_NAME.test(key);
}

const SECRET_KEYWORDS = [
  'pass',
  'pwd',
  'secret',
  'key',
  'token',
  'credential',
  'session',
  'cookie',
  'signature',
  'authorization',
];

function keywordQuick(text: string): boolean {
  const lower = text.toLowerCase();
  return SECRET_KEYWORDS.some((k) => lower.includes(k));
}

/** The built-in rules, most specific first. */
export function builtinRules(options: RedactOptions = {}): RedactRule[] {
  const rules: RedactRule[] = [
    {
      name: 'private_key',
      regex:
        /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END \1PRIVATE KEY(?: BLOCK)?-----|$)/g,
      quick: has('PRIVATE KEY'),
    },
    { name: 'anthropic_key', regex: /\bsk-ant-[A-Za-z0-9_-]{8,}/g, quick: has('sk-ant-') },
    {
      name: 'openai_key',
      regex: /\bsk-(?:proj-|svcacct-|admin-|live-)?[A-Za-z0-9_-]{20,}/g,
      quick: has('sk-'),
    },
    { name: 'stripe_key', regex: /\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{10,}/g, quick: hasAny('_live_', '_test_') },
    {
      name: 'aws_access_key',
      regex: /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b/g,
      quick: (t) => /A(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA|IPA|NPA|NVA|PKA)/.test(t),
    },
    {
      name: 'github_token',
      regex: /\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})\b/g,
      quick: hasAny('gh', 'github_pat_'),
    },
    { name: 'gitlab_token', regex: /\bglpat-[A-Za-z0-9_-]{20,}/g, quick: has('glpat-') },
    { name: 'slack_token', regex: /\bxox[abposre]-[A-Za-z0-9-]{10,}/g, quick: has('xox') },
    {
      name: 'slack_webhook',
      regex: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]+/g,
      quick: has('hooks.slack.com'),
    },
    { name: 'google_api_key', regex: /\bAIza[0-9A-Za-z_-]{35}\b/g, quick: has('AIza') },
    { name: 'npm_token', regex: /\bnpm_[A-Za-z0-9]{36}\b/g, quick: has('npm_') },
    {
      name: 'azure_key',
      regex: /\b(?:AccountKey|SharedAccessKey|sig)=[A-Za-z0-9%+/=]{20,}/g,
      quick: hasAny('AccountKey=', 'SharedAccessKey=', 'sig='),
      replace: (m) => `${m.slice(0, m.indexOf('=') + 1)}${placeholder('azure_key')}`,
    },
    {
      name: 'jwt',
      regex: /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g,
      quick: has('eyJ'),
    },
    {
      name: 'bearer_token',
      regex: /\b(Bearer|Basic|Token|Digest)([ \t]+)([A-Za-z0-9._~+/=-]{8,})/g,
      quick: hasAny('Bearer', 'Basic', 'Token', 'Digest'),
      replace: (m, scheme = '', space = '', value = '') =>
        value.startsWith('[REDACTED') ? m : `${scheme}${space}${placeholder('bearer_token')}`,
    },
    {
      name: 'url_password',
      regex: /\b([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^\s:/@'"]*):([^\s@/'"]+)@/g,
      quick: has('://'),
      replace: (m, scheme = '', user = '', pass = '') =>
        pass.startsWith('[REDACTED') ? m : `${scheme}${user}:${placeholder('password')}@`,
    },
    {
      name: 'secret',
      // key=value, key: value, "key": "value", key='value' where the key names a secret.
      regex: new RegExp(
        `((?:\\\\?["']?)\\b[\\w.-]*?${SECRET_KEY}\\\\?["']?[ \\t]*(?:=|:)[ \\t]*)(?:\\\\"((?:[^"\\\\\\n]|\\\\[^"]){1,500})\\\\"|"((?:[^"\\\\\\n]|\\\\.){1,500})"|'([^'\\n]{1,500})'|(?!\\[REDACTED)([^\\s,;&"'}\\])\\\\]{1,500}))`,
        'gi',
      ),
      quick: keywordQuick,
      replace: (m, prefix = '', eq, dq, sq, bare) => {
        const value = eq ?? dq ?? sq ?? bare ?? '';
        if (value === '' || value.startsWith('[REDACTED') || /^(?:null|undefined|true|false|\*+)$/i.test(value)) return m;
        // `Authorization: Bearer [REDACTED:bearer_token]`: the scheme word is not the secret.
        if (bare !== undefined && /^(?:Bearer|Basic|Token|Digest)$/i.test(value)) return m;
        const ph = placeholder('secret');
        if (eq !== undefined) return `${prefix}\\"${ph}\\"`;
        if (dq !== undefined) return `${prefix}"${ph}"`;
        if (sq !== undefined) return `${prefix}'${ph}'`;
        return `${prefix}${ph}`;
      },
    },
  ];
  if (options.emails !== false) {
    rules.push({
      name: 'email',
      regex: /\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b/g,
      quick: has('@'),
    });
  }
  rules.push({
    name: 'card_number',
    regex: /\b\d(?:[ -]?\d){12,18}\b/g,
    quick: (t) => /\d{4}/.test(t),
    replace: (m) => {
      const digits = m.replace(/[ -]/g, '');
      return digits.length >= 13 && digits.length <= 19 && luhnValid(digits) ? placeholder('card_number') : m;
    },
  });
  if (options.ips) {
    rules.push(
      {
        name: 'ip',
        regex: /\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b/g,
        quick: has('.'),
      },
      {
        name: 'ip',
        regex: /(?<![\w:.])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])/g,
        quick: has(':'),
        // Real addresses have `::` or seven colons; times (12:30:45) and ports have neither.
        replace: (m) => (m.includes('::') || m.split(':').length === 8) && /[0-9a-fA-F]/.test(m) ? placeholder('ip') : m,
      },
    );
  }
  for (const p of options.patterns ?? []) {
    const flags = Array.from(new Set(`g${p.flags ?? ''}`)).join('');
    rules.push({ name: p.name, regex: new RegExp(p.regex, flags) });
  }
  return rules;
}

/** Build a redactor from options (compile once, use for many texts). */
export function createRedactor(options: RedactOptions = {}): Redactor {
  const rules = builtinRules(options);
  const redact = (text: string): string => {
    let out = text;
    for (const rule of rules) {
      if (rule.quick && !rule.quick(out)) continue;
      rule.regex.lastIndex = 0;
      const replace = rule.replace;
      out = replace
        ? out.replace(rule.regex, (m: string, ...rest: unknown[]) =>
            replace(m, ...(rest.slice(0, -2) as string[])),
          )
        : out.replace(rule.regex, placeholder(rule.name));
    }
    return out;
  };
  const redactDeep = <T>(value: T): T => deep(value, redact, 0) as T;
  return { redact, redactDeep };
}

function deep(value: unknown, redact: (s: string) => string, depth: number): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 64 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => deep(v, redact, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (isSecretKey(k) && (typeof v === 'string' || typeof v === 'number') && String(v) !== '') {
      out[k] = placeholder('secret');
    } else {
      out[k] = deep(v, redact, depth + 1);
    }
  }
  return out;
}

let defaultRedactor: Redactor | undefined;

/** Redact with the default options (emails on, IPs off, no extra patterns). */
export function redact(text: string): string {
  defaultRedactor ??= createRedactor();
  return defaultRedactor.redact(text);
}

// ---------------------------------------------------------------------------------------------
// Quoting untrusted text

/** The opening and closing lines that fence untrusted data, for a boundary. */
export function fenceLines(boundary: string, label: string): { open: string; close: string } {
  return {
    open: `<untrusted-data kind="${label}" boundary="${boundary}">`,
    close: `</untrusted-data boundary="${boundary}">`,
  };
}

/**
 * Quote untrusted text (log lines, stack traces) as data: fenced between lines that carry a
 * random `boundary` the text cannot know. Any occurrence of the boundary inside the text is
 * broken up so the fence cannot be closed from inside.
 */
export function quoteUntrusted(text: string, boundary: string, label = 'log'): string {
  const { open, close } = fenceLines(boundary, label);
  const safe = text.split(boundary).join(`${boundary.slice(0, 4)}\u200b${boundary.slice(4)}`);
  return `${open}\n${safe}\n${close}`;
}
