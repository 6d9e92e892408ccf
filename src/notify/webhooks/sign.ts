/** Webhook signatures, GitHub's convention: `sha256=<hex HMAC-SHA256 of the raw body>`. Pure. */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The `X-Dancer-Signature-256` value for `body` signed with `secret`. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** Check a received signature (constant time); what a receiver does. */
export function verifySignature(secret: string, body: string, signature: string | undefined): boolean {
  if (!signature) return false;
  const expected = Buffer.from(signBody(secret, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
