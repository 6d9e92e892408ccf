/**
 * Zulip's `api_by_user` rate limit: a sliding window of requests per user, `X-RateLimit-*` headers
 * on every authenticated response, and 429 `RATE_LIMIT_HIT` with `Retry-After` and `retry-after`;
 * plus a run of 429s a test can force.
 */
import { ApiError } from './protocol.js';
import type { ZulipTestUser } from './types.js';

/** The rate limiter of one server. */
export interface RateLimiter {
  /** Apply the rate limit; returns the headers every authenticated response carries, or throws a 429. */
  check(u: ZulipTestUser): Record<string, string>;
  /** Answer the next `count` authenticated requests with 429, `Retry-After: retryAfterSeconds`. */
  forceNext(count: number, retryAfterSeconds: number): void;
}

/** A limiter allowing `rule.limit` requests per `rule.windowMs` per user, or none when `rule` is false. */
export function createRateLimiter(rule: { limit: number; windowMs: number } | false, now: () => number): RateLimiter {
  const rateWindows = new Map<number, number[]>();
  let forced429: { count: number; retryAfter: number } = { count: 0, retryAfter: 0 };

  function check(u: ZulipTestUser): Record<string, string> {
    const t = now();
    if (forced429.count > 0) {
      forced429.count--;
      const retry = forced429.retryAfter;
      throw new ApiError(
        429,
        'RATE_LIMIT_HIT',
        'API usage exceeded rate limit',
        { 'retry-after': retry },
        {
          'Retry-After': String(retry),
          'X-RateLimit-Limit': String(rule ? rule.limit : 200),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(Math.floor(t / 1000 + retry)),
        },
      );
    }
    if (!rule) return {};
    const window = (rateWindows.get(u.user_id) ?? []).filter((x) => t - x < rule.windowMs);
    rateWindows.set(u.user_id, window);
    if (window.length >= rule.limit) {
      const retry = Math.max(0, (window[0]! + rule.windowMs - t) / 1000);
      throw new ApiError(
        429,
        'RATE_LIMIT_HIT',
        'API usage exceeded rate limit',
        { 'retry-after': retry },
        {
          'Retry-After': String(retry),
          'X-RateLimit-Limit': String(rule.limit),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(Math.floor(t / 1000 + retry)),
        },
      );
    }
    window.push(t);
    return {
      'X-RateLimit-Limit': String(rule.limit),
      'X-RateLimit-Remaining': String(rule.limit - window.length),
      'X-RateLimit-Reset': String(Math.floor((window[0]! + rule.windowMs) / 1000)),
    };
  }

  return {
    check,
    forceNext(count, retryAfterSeconds) {
      forced429 = { count, retryAfter: retryAfterSeconds };
    },
  };
}
