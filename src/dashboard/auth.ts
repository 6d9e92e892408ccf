/**
 * Who may do what on the dashboard (pure). Reading is open on loopback; every action needs
 * `Authorization: Bearer <token>` with the token from the environment variable named by
 * `dashboard.tokenEnv`. No token configured: read-only (403). Missing or wrong token: 401.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { DancerError } from '../errors.js';

/** The verdict on one action request. */
export type AuthVerdict =
  | { ok: true }
  | { ok: false; status: 401 | 403; code: 'DANCER_UNAUTHORIZED' | 'DANCER_READ_ONLY'; message: string };

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Check an `Authorization` header against the configured token (constant time). */
export function checkAction(authorization: string | undefined, token: string | undefined): AuthVerdict {
  if (!token) {
    return {
      ok: false,
      status: 403,
      code: 'DANCER_READ_ONLY',
      message: 'This dashboard is read-only: no token is configured (set dashboard.tokenEnv and that variable).',
    };
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m?.[1] || !timingSafeEqual(digest(m[1]), digest(token))) {
    return {
      ok: false,
      status: 401,
      code: 'DANCER_UNAUTHORIZED',
      message: authorization ? 'Wrong bearer token.' : 'Actions need Authorization: Bearer <token>.',
    };
  }
  return { ok: true };
}

/** True for addresses only this host can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.');
  return false;
}

/**
 * Refuse to serve actions to the network without a token: binding a non-loopback host needs one.
 *
 * @throws {DancerError} `DANCER_DASHBOARD_INSECURE`.
 */
export function assertSafeBind(host: string, token: string | undefined, tokenEnv: string | undefined): void {
  if (isLoopback(host) || token) return;
  throw new DancerError(
    'DANCER_DASHBOARD_INSECURE',
    `Refusing to serve the dashboard on ${host} without a token: ${
      tokenEnv ? `environment variable ${tokenEnv} is not set` : 'set dashboard.tokenEnv'
    }, or bind 127.0.0.1.`,
    { details: { host, tokenEnv } },
  );
}
