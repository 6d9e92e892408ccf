/**
 * The built-in redaction rules (pure), most specific first: provider key formats, then
 * key=value pairs, emails, card numbers and (on request) IP addresses.
 */
import { keywordQuick, type Placeholder, redactKeyValues, SECRET_KEYWORDS } from './keys.js';
import { luhnValid, redactAwsSecrets, redactEmails } from './scan.js';

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
  /**
   * The match must not follow a word character. Checked in code, so the regex can start with its
   * literal prefix (V8 then searches for it at memchr speed; a leading \\b defeats that).
   */
  boundary?: boolean;
  /** A hand-written pass used instead of `regex` (for rules a regex scans slowly). */
  apply?: (text: string) => string;
  /**
   * The rule cannot match unless the text holds one of these literals (case-insensitive when
   * `ignoreCase`). Built-in rules only: their triggers are folded into one prefilter regex, so a
   * text that holds none of them skips every such rule after a single scan.
   */
  triggers?: { literals: readonly string[]; ignoreCase?: boolean };
  /**
   * The rule cannot match unless the text holds a maximal run of exactly `length` characters from
   * `chars` (built-in rules only; checked in the same prefilter pass as the trigger literals).
   */
  runTrigger?: { chars: string; length: number };
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

/** Options for {@link createRedactor}. */
export interface RedactOptions {
  /** Replace IPv4 and IPv6 addresses. Default false. */
  ips?: boolean | undefined;
  /** Replace email addresses. Default true. */
  emails?: boolean | undefined;
  /** Extra patterns (from `consult.redact.patterns`). */
  patterns?: ReadonlyArray<{ name: string; regex: string; flags?: string | undefined }> | undefined;
  /** Record the length of what was replaced: `[REDACTED:type 12 chars]` (the store's ingest pass). */
  lengths?: boolean | undefined;
}

/**
 * The placeholder for a type: `[REDACTED:<type>]`, or `[REDACTED:<type> <length> chars]` with a
 * length (no `:` or `=` after the type, so the key-value rule never takes it for a key).
 */
export function placeholder(type: string, length?: number): string {
  return length === undefined ? `[REDACTED:${type}]` : `[REDACTED:${type} ${length} chars]`;
}

/** The placeholder maker for a set of options. */
export function placeholderFor(options: RedactOptions): Placeholder {
  return options.lengths ? (type, length) => placeholder(type, length) : (type) => placeholder(type);
}

const has = (needle: string) => (text: string) => text.includes(needle);
const hasAny = (...needles: string[]) => {
  const re = new RegExp(needles.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));
  return (text: string) => re.test(text);
};

/** The characters of a bare AWS secret access key (base64 without padding). */
const AWS_SECRET_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+';

/** The four-letter prefixes of AWS access key ids. */
const AWS_PREFIXES = ['AKIA', 'ASIA', 'ABIA', 'ACCA', 'AGPA', 'AIDA', 'AROA', 'AIPA', 'ANPA', 'ANVA', 'APKA'];

/** A provider format: a name, its regex and the literals it cannot match without. */
type Format = [name: string, regex: RegExp, literals: string[]];

/** Provider formats that are recognised by their shape alone (each must start at a token start). */
const FORMATS: Format[] = [
  ['anthropic_key', /sk-ant-[A-Za-z0-9_-]{8,}/g, ['sk-ant-']],
  ['openai_key', /sk-(?:proj-|svcacct-|admin-|live-)?[A-Za-z0-9_-]{20,}/g, ['sk-']],
  ['stripe_key', /(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,}/g, ['_live_', '_test_', 'whsec_']],
  ['aws_access_key', /(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b/g, AWS_PREFIXES],
  [
    'github_token',
    /(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})\b/g,
    [...'pousr'].map((c) => `gh${c}_`).concat('github_pat_'),
  ],
  [
    'gitlab_token',
    /gl(?:pat|dt|rt|ptt|cbt|soat)-[A-Za-z0-9_-]{20,}/g,
    ['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glcbt-', 'glsoat-'],
  ],
  ['slack_token', /(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}/g, ['xox', 'xapp-']],
  ['google_api_key', /AIza[0-9A-Za-z_-]{35}\b/g, ['AIza']],
  ['google_oauth_token', /ya29\.[0-9A-Za-z_-]{20,}/g, ['ya29.']],
  ['google_client_secret', /GOCSPX-[A-Za-z0-9_-]{20,}/g, ['GOCSPX-']],
  ['npm_token', /npm_[A-Za-z0-9]{36}\b/g, ['npm_']],
  ['pypi_token', /pypi-AgE[A-Za-z0-9_-]{40,}/g, ['pypi-']],
  ['sendgrid_key', /SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,50}/g, ['SG.']],
  ['mailgun_key', /key-[0-9a-f]{32}\b/g, ['key-']],
  ['shopify_token', /shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b/g, ['shp']],
  ['huggingface_token', /hf_[A-Za-z0-9]{30,}/g, ['hf_']],
  ['digitalocean_token', /do[opr]_v1_[a-f0-9]{64}/g, ['_v1_']],
  ['vault_token', /hv[sbr]\.[A-Za-z0-9_-]{24,}/g, ['hvs.', 'hvb.', 'hvr.']],
  ['databricks_token', /dapi[a-f0-9]{32}\b/g, ['dapi']],
  ['telegram_bot_token', /\d{8,10}:AA[A-Za-z0-9_-]{33}\b/g, [':AA']],
  ['linear_key', /lin_(?:api|oauth)_[A-Za-z0-9]{40}/g, ['lin_api_', 'lin_oauth_']],
  ['grafana_token', /(?:glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})/g, ['glc_', 'glsa_']],
  ['newrelic_key', /NR(?:AK|II)-[A-Za-z0-9]{20,}/g, ['NRAK-', 'NRII-']],
  ['postman_key', /PMAK-[a-f0-9]{24}-[a-f0-9]{34}/g, ['PMAK-']],
  ['atlassian_token', /ATATT3[A-Za-z0-9_=-]{50,}/g, ['ATATT3']],
  ['square_token', /sq0(?:atp|csp)-[0-9A-Za-z_-]{22,}/g, ['sq0']],
  ['supabase_token', /sbp_[a-f0-9]{40}/g, ['sbp_']],
  ['doppler_token', /dp\.(?:st|ct|pt|sa|scim|audit)\.[A-Za-z0-9_-]{30,}/g, ['dp.']],
  ['age_secret_key', /AGE-SECRET-KEY-1[0-9A-Z]{58}/g, ['AGE-SECRET-KEY-']],
  ['jwt', /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g, ['eyJ']],
];

/** Card numbers: 13-19 digits, bare or in groups with one separator (space, dot, dash, NBSP...). */
const CARD_RE =
  /\b[2-6]\d{3}(?:\d{9,15}|([ .\u00a0\u2007\u2009\u202f-]| {2})\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?|([ .\u00a0\u2007\u2009\u202f-]| {2})\d{6}\2\d{4,5})\b/g;

/** Is a digit string a plausible card number (length, issuer prefix, Luhn)? */
export function isCardNumber(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19 || !luhnValid(digits)) return false;
  if (digits[0] === '2') {
    // Mastercard's 2-series: 2221-2720, 16 digits.
    const p = Number(digits.slice(0, 4));
    return digits.length === 16 && p >= 2221 && p <= 2720;
  }
  return true;
}

/** The built-in rules, most specific first. */
export function builtinRules(options: RedactOptions = {}): RedactRule[] {
  const ph = placeholderFor(options);
  const rules: RedactRule[] = [
    {
      name: 'private_key',
      regex:
        /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END \1PRIVATE KEY(?: BLOCK)?-----|$)/g,
      quick: has('PRIVATE KEY'),
      triggers: { literals: ['PRIVATE KEY'] },
      replace: (m) => ph('private_key', m.length),
    },
  ];
  for (const [name, regex, literals] of FORMATS) {
    rules.push({
      name,
      regex,
      boundary: true,
      quick: hasAny(...literals),
      triggers: { literals },
      replace: (m) => ph(name, m.length),
    });
  }
  rules.push(
    {
      name: 'slack_webhook',
      regex: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9/_-]+/g,
      quick: has('hooks.slack.com'),
      triggers: { literals: ['hooks.slack.com'] },
      replace: (m) => ph('slack_webhook', m.length),
    },
    {
      name: 'discord_webhook',
      regex: /https:\/\/(?:ptb\.|canary\.)?discord(?:app)?\.com\/api\/webhooks\/\d+\/[A-Za-z0-9_-]+/g,
      quick: has('discord'),
      triggers: { literals: ['discord'] },
      replace: (m) => ph('discord_webhook', m.length),
    },
    {
      name: 'azure_key',
      regex: /(?:AccountKey|SharedAccessKey|sig)=[A-Za-z0-9%+/=]{20,}/g,
      boundary: true,
      quick: hasAny('AccountKey=', 'SharedAccessKey=', 'sig='),
      triggers: { literals: ['AccountKey=', 'SharedAccessKey=', 'sig='] },
      replace: (m) => {
        const eq = m.indexOf('=') + 1;
        return `${m.slice(0, eq)}${ph('azure_key', m.length - eq)}`;
      },
    },
    {
      name: 'bearer_token',
      regex: /(Bearer|Basic|Token|Digest)([ \t]+)([A-Za-z0-9._~+/=-]{8,})/g,
      boundary: true,
      quick: hasAny('Bearer', 'Basic', 'Token', 'Digest'),
      triggers: { literals: ['Bearer', 'Basic', 'Token', 'Digest'] },
      replace: (m, scheme = '', space = '', value = '') =>
        value.startsWith('[REDACTED') ? m : `${scheme}${space}${ph('bearer_token', value.length)}`,
    },
    {
      name: 'url_password',
      // Anchored at "://" (a leading scheme group made the scan quadratic in word length).
      regex: /:\/\/([^\s:/@'"]*):([^\s@/'"]+)@/g,
      quick: has('://'),
      triggers: { literals: ['://'] },
      replace: (m, user = '', pass = '') =>
        pass.startsWith('[REDACTED') || user.startsWith('[REDACTED') ? m : `://${user}:${ph('password', pass.length)}@`,
    },
    {
      // A key alone in a URL's user part: Sentry DSNs, `https://TOKEN@github.com/...`.
      name: 'url_token',
      regex: /:\/\/([A-Za-z0-9_-]{16,})@/g,
      quick: has('://'),
      triggers: { literals: ['://'] },
      replace: (_m, user = '') => `://${ph('url_token', user.length)}@`,
    },
    // key=value, key: value, "key": "value", key='value', key=\"value\", ?key=value where the key names a secret.
    {
      name: 'secret',
      regex: /[=:]/g,
      quick: keywordQuick,
      apply: (text) => redactKeyValues(text, ph),
      triggers: { literals: SECRET_KEYWORDS, ignoreCase: true },
    },
    {
      name: 'aws_secret_key',
      regex: /[A-Za-z0-9/+]{40}/g,
      quick: (t) => t.length >= 40,
      runTrigger: { chars: AWS_SECRET_CHARS, length: 40 },
      apply: (text) => redactAwsSecrets(text, ph),
    },
  );
  if (options.emails !== false) {
    rules.push({
      name: 'email',
      regex: /@/g,
      quick: has('@'),
      apply: (text) => redactEmails(text, ph),
      triggers: { literals: ['@'] },
    });
  }
  rules.push({
    name: 'card_number',
    // Issuer prefixes 2-6 (Mastercard 2-series, Amex, Visa, Mastercard, Discover...): epoch-ms timestamps start with 1.
    regex: CARD_RE,
    quick: (t) => /[2-6]\d{3}/.test(t),
    replace: (m) => {
      const digits = m.replace(/\D/g, '');
      return isCardNumber(digits) ? ph('card_number', m.length) : m;
    },
  });
  if (options.ips) {
    rules.push(
      {
        name: 'ip',
        regex: /\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b/g,
        quick: has('.'),
        replace: (m) => ph('ip', m.length),
      },
      {
        name: 'ip',
        regex: /(?<![\w:.])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])/g,
        quick: has(':'),
        // Real addresses have `::` or seven colons; times (12:30:45) and ports have neither.
        replace: (m) =>
          (m.includes('::') || m.split(':').length === 8) && /[0-9a-fA-F]/.test(m) ? ph('ip', m.length) : m,
      },
    );
  }
  for (const p of options.patterns ?? []) {
    const flags = Array.from(new Set(`g${p.flags ?? ''}`)).join('');
    rules.push({ name: p.name, regex: new RegExp(p.regex, flags), replace: (m) => ph(p.name, m.length) });
  }
  return rules;
}

const escapeLiteral = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A test that is true wherever any rule's trigger literal occurs, or undefined when no rule has
 * triggers. A text it rejects cannot be changed by those rules (each rule's regex needs one of its
 * literals), so one or two scans replace a dozen or so `quick` checks on most texts. Case-sensitive
 * and case-insensitive literals go in separate regexes: one `i` regex over all of them would try
 * far more positions (and match `asia` for the AWS prefix `ASIA`).
 */
export function triggerTest(rules: readonly RedactRule[]): ((text: string) => boolean) | undefined {
  const exact = new Set<string>();
  const caseless = new Set<string>();
  for (const rule of rules) {
    if (!rule.triggers) continue;
    for (const lit of rule.triggers.literals) (rule.triggers.ignoreCase ? caseless : exact).add(escapeLiteral(lit));
  }
  const a = exact.size > 0 ? new RegExp([...exact].join('|')) : undefined;
  const b = caseless.size > 0 ? new RegExp([...caseless].join('|'), 'i') : undefined;
  if (a && b) return (text) => a.test(text) || b.test(text);
  if (a) return (text) => a.test(text);
  if (b) return (text) => b.test(text);
  return undefined;
}
