/**
 * The test realm: its settings, channels and users, Zulip's `User` object, and HTTP Basic
 * authentication with a user's email and API key.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { API_KEY_RE, ApiError } from './protocol.js';
import type { ZulipTestUser, ZulipTestUserInput } from './types.js';

/** Realm settings the API reports and enforces. */
export interface RealmSettings {
  name: string;
  /** Content limit in code points. */
  maxMessageLength: number;
  /** Topic limit in code points. */
  maxTopicLength: number;
  /** `message_content_edit_limit_seconds` (null: no limit). */
  editLimitSeconds: number | null;
  longpollTimeoutSeconds: number;
}

/** The realm's channels and users. */
export interface Realm {
  readonly settings: RealmSettings;
  /** Channel name to stream id. */
  readonly streams: Map<string, number>;
  /** Every user, in id order (the array handed out as `ZulipTestServer.users`). */
  readonly users: ZulipTestUser[];
  /** Create a user; throws on a taken email or a malformed API key. */
  addUser(input: ZulipTestUserInput): ZulipTestUser;
  /** The user with this id or email (case-insensitive), if any. */
  findUser(idOrEmail: number | string): ZulipTestUser | undefined;
  /** The user with this id or email; throws if unknown. */
  user(idOrEmail: number | string): ZulipTestUser;
}

function generateApiKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(32)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** A realm with `streamNames` (ids from 1, in order) and no users yet. */
export function createRealm(settings: RealmSettings, streamNames: readonly string[], now: () => number): Realm {
  const streams = new Map<string, number>();
  for (const [i, name] of streamNames.entries()) streams.set(name, i + 1);
  const users: ZulipTestUser[] = [];

  function addUser(input: ZulipTestUserInput): ZulipTestUser {
    if (users.some((u) => u.email.toLowerCase() === input.email.toLowerCase())) {
      throw new Error(`zulip test server: user ${input.email} exists`);
    }
    const apiKey = input.apiKey ?? generateApiKey();
    if (!API_KEY_RE.test(apiKey)) throw new Error('zulip test server: an API key is 32 alphanumerics');
    const user: ZulipTestUser = {
      user_id: users.length === 0 ? 8 : users[users.length - 1]!.user_id + 1,
      email: input.email,
      full_name: input.fullName,
      api_key: apiKey,
      is_bot: input.isBot ?? false,
      role: input.role ?? 400,
      is_active: true,
      date_joined: new Date(now()).toISOString(),
    };
    users.push(user);
    return user;
  }

  function findUser(idOrEmail: number | string): ZulipTestUser | undefined {
    if (typeof idOrEmail === 'number') return users.find((u) => u.user_id === idOrEmail);
    return users.find((u) => u.email.toLowerCase() === idOrEmail.toLowerCase());
  }

  function user(idOrEmail: number | string): ZulipTestUser {
    const found = findUser(idOrEmail);
    if (!found) throw new Error(`zulip test server: no user ${idOrEmail}`);
    return found;
  }

  return { settings, streams, users, addUser, findUser, user };
}

/** Zulip's `User` object for `u`. */
export function userObject(u: ZulipTestUser): Record<string, unknown> {
  return {
    user_id: u.user_id,
    email: u.email,
    delivery_email: u.email,
    full_name: u.full_name,
    is_bot: u.is_bot,
    bot_type: u.is_bot ? 1 : null,
    role: u.role,
    is_admin: u.role <= 200,
    is_owner: u.role === 100,
    is_guest: u.role === 600,
    is_billing_admin: false,
    is_active: u.is_active,
    timezone: '',
    date_joined: u.date_joined,
    avatar_url: null,
    avatar_version: 1,
  };
}

/** The user a request's HTTP Basic credentials name; 401 `UNAUTHORIZED` with Zulip's messages otherwise. */
export function authenticate(users: readonly ZulipTestUser[], req: http.IncomingMessage): ZulipTestUser {
  const unauthorized = (msg: string) =>
    new ApiError(401, 'UNAUTHORIZED', msg, {}, { 'WWW-Authenticate': 'Basic realm="zulip"' });
  const header = req.headers.authorization;
  if (!header) throw unauthorized('Not logged in: API authentication or user session required');
  const [scheme, payload] = header.split(/\s+/, 2);
  if (scheme?.toLowerCase() !== 'basic' || !payload) {
    throw unauthorized('Invalid authorization header for basic auth');
  }
  const decoded = Buffer.from(payload, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw unauthorized('Invalid authorization header for basic auth');
  const email = decoded.slice(0, colon);
  const key = decoded.slice(colon + 1);
  if (!API_KEY_RE.test(key)) throw unauthorized('Malformed API key');
  const found = users.find((u) => u.api_key === key);
  if (!found || found.email.toLowerCase() !== email.toLowerCase()) throw unauthorized('Invalid API key');
  if (!found.is_active) throw unauthorized('Account is deactivated');
  return found;
}
