/**
 * Secret-named keys (pure): which keys name a secret (`password`, `apiKey`, `private_key_id`,
 * `?key=` in a query string...) and the linear pass that replaces their values.
 */

/** Makes a placeholder for a type and the length of the value it replaces. */
export type Placeholder = (type: string, length: number) => string;

/** Endings of key names that hold secrets, lower case without `-`, `_` or `.`. */
const SECRET_KEY_ENDINGS = [
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'passcode',
  'secret',
  'secretkey',
  'apikey',
  'accesskey',
  'accesskeyid',
  'authkey',
  'signingkey',
  'encryptionkey',
  'masterkey',
  'privkey',
  'keyid',
  'token',
  'credential',
  'credentials',
  'privatekey',
  'sessionid',
  'sessid',
  'cookie',
  'signature',
  'authorization',
  'dsn',
  'connectionstring',
];

/**
 * Short keys that name a secret only where their context says so: in a query string or a cookie
 * (`?key=`, `&sig=`, `; sid=`), or as a quoted JSON key for the first four of them. Elsewhere
 * `key: users_email_idx` or `pass: 5` are ordinary words.
 */
const QUERY_KEYS = new Set(['key', 'pass', 'pw', 'auth', 'sig', 'sid', 'jwt', 'sess', 'session', 'token']);
const QUOTED_KEYS = new Set(['pass', 'pw', 'auth', 'jwt']);

/** Does `key` end with `ending` (lower case), ignoring case and `-`, `_`, `.` in the key? No allocation. */
function endsWithKey(key: string, ending: string): boolean {
  let i = key.length - 1;
  for (let j = ending.length - 1; j >= 0; j--) {
    let c = key.charCodeAt(i);
    while (c === 45 || c === 95 || c === 46) c = key.charCodeAt(--i);
    if (i < 0) return false;
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== ending.charCodeAt(j)) return false;
    i--;
  }
  return true;
}

/** Endings grouped by their last character code, so most keys are rejected with one lookup. */
const ENDINGS_BY_LAST = new Map<number, string[]>();
for (const ending of SECRET_KEY_ENDINGS) {
  const last = ending.charCodeAt(ending.length - 1);
  ENDINGS_BY_LAST.set(last, [...(ENDINGS_BY_LAST.get(last) ?? []), ending]);
}

/** True when an object key names a secret (`password`, `apiKey`, `db.secret`, `x-api-key`, `private_key_id`...). */
export function isSecretKey(key: string): boolean {
  let i = key.length - 1;
  let c = key.charCodeAt(i);
  while (c === 45 || c === 95 || c === 46) c = key.charCodeAt(--i);
  const candidates = ENDINGS_BY_LAST.get(c >= 65 && c <= 90 ? c + 32 : c);
  if (!candidates) return false;
  for (const ending of candidates) if (endsWithKey(key, ending)) return true;
  return false;
}

/**
 * Literals one of which every secret-named key holds: the prefilter of the key-value rule
 * (case-insensitive). Short query keys are listed with their `=`, the only separator they take.
 */
export const SECRET_KEYWORDS: readonly string[] = [
  'pass',
  'pw',
  'secret',
  'key',
  'token',
  'credential',
  'sess',
  'cookie',
  'signature',
  'auth',
  'dsn',
  'connection',
  'sid=',
  'sig=',
  'jwt',
];

/** One case-insensitive pass, no lower-cased copy: could the text hold a secret-named key? */
const SECRET_KEYWORD_RE = new RegExp(SECRET_KEYWORDS.join('|'), 'i');

/** Cheap test for {@link redactKeyValues}. */
export function keywordQuick(text: string): boolean {
  return SECRET_KEYWORD_RE.test(text);
}

const isKeyChar = (c: number) =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 46 || c === 45;
const BARE_STOP = new Set([' ', '\t', '\n', '\r', ',', ';', '&', '"', "'", '}', ']', ')', '\\', '#']);
const NOT_SECRET = /^(?:null|undefined|true|false|none|\*+|Bearer|Basic|Token|Digest)$/i;

/** A secret-looking key ending followed by its separator: where {@link redactKeyValues} looks closer. */
const KEY_CANDIDATE =
  /(?:pass(?:word|wd|phrase|code)?|pwd?|secret|key(?:[-_.]?id)?|token|credentials?|session(?:[-_.]?id)?|sess(?:id)?|sid|sig(?:nature)?|cookie|auth(?:orization)?|jwt|dsn|connection[-_.]?string)\\?["']?[ \t]*[=:]/gi;

/** Is `key`, found with `before` just in front of it and `sep` after it, a secret name? */
function secretKeyHere(key: string, before: string | undefined, sep: string, quoted: boolean): boolean {
  if (isSecretKey(key)) return true;
  const short = key.toLowerCase();
  // `a=1 key=x` is not a query string; `?key=`, `&key=`, `; key=` (a cookie) are.
  if (sep === '=' && (before === '?' || before === '&' || before === ';')) return QUERY_KEYS.has(short);
  return quoted && QUOTED_KEYS.has(short);
}

/**
 * Replace the values of secret-named keys (`password=x`, `"apiKey": "x"`, `token: x`, `?key=x`),
 * scanning from each `=` or `:` back to its key: linear, where a regex tried the key list at
 * every position.
 */
export function redactKeyValues(text: string, ph: Placeholder): string {
  let out = '';
  let last = 0;
  KEY_CANDIDATE.lastIndex = 0;
  for (let m = KEY_CANDIDATE.exec(text); m !== null; m = KEY_CANDIDATE.exec(text)) {
    const i = KEY_CANDIDATE.lastIndex - 1;
    if (i < last) continue;
    let j = i - 1;
    while (j >= 0 && (text[j] === ' ' || text[j] === '\t')) j--;
    const spaced = j < i - 1;
    let quoted = false;
    if (text[j] === '"' || text[j] === "'") {
      quoted = true;
      j--;
    }
    if (text[j] === '\\') j--;
    const keyEnd = j + 1;
    while (j >= 0 && isKeyChar(text.charCodeAt(j))) j--;
    const key = text.slice(j + 1, keyEnd);
    if (key.length < 2) continue;
    let before = text[j];
    if (before === ' ' && text[j - 1] === ';') before = ';';
    if (before !== '"' && before !== "'") quoted = false;
    if (!secretKeyHere(key, before, spaced ? ' ' : (text[i] as string), quoted)) continue;
    let v = i + 1;
    while (text[v] === ' ' || text[v] === '\t') v++;
    let valueStart = v;
    let valueEnd = v;
    if (text[v] === '\\' && text[v + 1] === '"') {
      valueStart = v + 2;
      valueEnd = text.indexOf('\\"', valueStart);
      if (valueEnd === -1 || valueEnd - valueStart > 500) continue;
    } else if (text[v] === '"' || text[v] === "'") {
      const q = text[v];
      valueStart = v + 1;
      valueEnd = valueStart;
      while (
        valueEnd < text.length &&
        text[valueEnd] !== q &&
        text[valueEnd] !== '\n' &&
        valueEnd - valueStart <= 500
      ) {
        valueEnd += text[valueEnd] === '\\' && q === '"' ? 2 : 1;
      }
      if (text[valueEnd] !== q) continue;
    } else {
      while (valueEnd < text.length && !BARE_STOP.has(text[valueEnd] as string) && valueEnd - valueStart <= 500)
        valueEnd++;
    }
    const value = text.slice(valueStart, valueEnd);
    if (value === '' || value.startsWith('[REDACTED') || NOT_SECRET.test(value)) continue;
    out += text.slice(last, valueStart) + ph('secret', value.length);
    last = valueEnd;
    KEY_CANDIDATE.lastIndex = valueEnd;
  }
  return last === 0 ? text : out + text.slice(last);
}
