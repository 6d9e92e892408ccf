import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { DancerError } from '../../errors.js';

/** What the client needs to talk to Zulip. */
export interface ZulipCredentials {
  /** Server base URL without `/api/v1`, e.g. `https://chat.example.com`. */
  site: string;
  /** The bot's email. */
  email: string;
  /** The bot's API key. */
  apiKey: string;
}

/** The `[api]` section of a `.zuliprc` file. */
export interface Zuliprc {
  email?: string;
  key?: string;
  site?: string;
  insecure?: string;
  cert_bundle?: string;
  client_cert?: string;
  client_cert_key?: string;
  token?: string;
}

/**
 * Parse a `.zuliprc` (INI, as Zulip's own clients write it: `[api]` with `email=`, `key=`,
 * `site=`). Keys outside `[api]` are ignored; `;` and `#` start comment lines.
 *
 * @throws {DancerError} `DANCER_ZULIPRC_INVALID` when there is no `[api]` section or a line is
 * not `key=value`.
 */
export function parseZuliprc(text: string, source = '.zuliprc'): Zuliprc {
  const result: Record<string, string> = {};
  let section: string | undefined;
  let sawApi = false;
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      if (section === 'api') sawApi = true;
      continue;
    }
    const eq = line.search(/[=:]/);
    if (eq <= 0) {
      throw new DancerError('DANCER_ZULIPRC_INVALID', `${source}:${index + 1}: expected key=value`, {
        details: { file: source, line: index + 1 },
      });
    }
    if (section !== 'api') continue;
    result[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim();
  }
  if (!sawApi) {
    throw new DancerError('DANCER_ZULIPRC_INVALID', `${source}: no [api] section`, { details: { file: source } });
  }
  return result as Zuliprc;
}

/**
 * Normalize a site the way Zulip's Python client does: `localhost…` gets `http://`, no scheme
 * gets `https://`, a trailing `/` (and a trailing `/api` or `/api/v1`) is dropped.
 */
export function normalizeSite(site: string): string {
  let s = site.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) s = s.startsWith('localhost') ? `http://${s}` : `https://${s}`;
  s = s.replace(/\/+$/, '');
  s = s.replace(/\/api(\/v1)?$/, '');
  return s;
}

/** The `notify.zulip` settings that say where the credentials are. */
export interface CredentialSettings {
  site?: string | undefined;
  email?: string | undefined;
  apiKeyEnv?: string | undefined;
  zuliprc?: string | undefined;
}

/** Where to read files and variables from (injectable for tests). */
export interface CredentialSources {
  env?: NodeJS.ProcessEnv;
  readFile?: (file: string) => string;
  /** Folder a relative `zuliprc` path is resolved against (the dancer.yaml folder). */
  baseDir?: string;
  home?: string;
}

/**
 * Resolve the bot's credentials from `notify.zulip`: the key from the environment variable named
 * by `apiKeyEnv`, or from the `.zuliprc` file at `zuliprc`; `site` and `email` from the config,
 * else from the `.zuliprc`.
 *
 * @throws {DancerError} `DANCER_ZULIPRC_INVALID` (file unreadable or incomplete),
 * `DANCER_CONFIG_ENV_MISSING` (the variable is unset), `DANCER_CONFIG_INVALID` (neither given).
 */
export function resolveCredentials(settings: CredentialSettings, sources: CredentialSources = {}): ZulipCredentials {
  const env = sources.env ?? process.env;
  const readFile = sources.readFile ?? ((f: string) => readFileSync(f, 'utf8'));
  let rc: Zuliprc = {};
  let rcFile: string | undefined;
  if (settings.zuliprc !== undefined) {
    const home = sources.home ?? homedir();
    const expanded = settings.zuliprc.replace(/^~(?=$|\/)/, home);
    rcFile = path.resolve(sources.baseDir ?? process.cwd(), expanded);
    let text: string;
    try {
      text = readFile(rcFile);
    } catch (error) {
      throw new DancerError('DANCER_ZULIPRC_INVALID', `Cannot read ${rcFile}: ${(error as Error).message}`, {
        cause: error,
        details: { file: rcFile },
      });
    }
    rc = parseZuliprc(text, rcFile);
  }
  let apiKey: string | undefined;
  if (settings.apiKeyEnv !== undefined) {
    apiKey = env[settings.apiKeyEnv];
    if (apiKey === undefined || apiKey === '') {
      throw new DancerError(
        'DANCER_CONFIG_ENV_MISSING',
        `notify.zulip.apiKeyEnv: environment variable ${settings.apiKeyEnv} is not set.`,
        { details: { variable: settings.apiKeyEnv } },
      );
    }
  } else if (rcFile !== undefined) {
    apiKey = rc.key;
  } else {
    throw new DancerError('DANCER_CONFIG_INVALID', 'notify.zulip needs apiKeyEnv or zuliprc for the bot API key.', {
      details: { key: 'notify.zulip' },
    });
  }
  const site = settings.site ?? rc.site;
  const email = settings.email ?? rc.email;
  const missing = [
    ['key', apiKey],
    ['site', site],
    ['email', email],
  ].filter(([, v]) => v === undefined || v === '');
  if (missing.length > 0) {
    const names = missing.map(([k]) => k).join(', ');
    throw new DancerError(
      'DANCER_ZULIPRC_INVALID',
      `Zulip credentials incomplete: no ${names} (set notify.zulip.site/email, or put them in the .zuliprc [api] section).`,
      { details: { file: rcFile, missing: missing.map(([k]) => k) } },
    );
  }
  return { site: normalizeSite(site!), email: email!, apiKey: apiKey! };
}
