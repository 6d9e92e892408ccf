import { describe, expect, it } from 'vitest';
import { createRedactor, redactForSinks, redactTemplate } from '../../src/redact/index.js';
import { KEEP_LINES, SECRET_CASES } from '../fixtures/secret-corpus.js';

describe('the secret corpus', () => {
  const redactor = createRedactor();
  const withLengths = createRedactor({ lengths: true });

  it('has at least 40 formats and a dozen must-not-redact lines', () => {
    expect(new Set(SECRET_CASES.map((c) => c.id)).size).toBe(SECRET_CASES.length);
    expect(SECRET_CASES.length).toBeGreaterThanOrEqual(40);
    expect(KEEP_LINES.length).toBeGreaterThanOrEqual(12);
  });

  it.each(SECRET_CASES)('redacts $id', ({ line, secrets }) => {
    for (const out of [redactor.redact(line), withLengths.redact(line), redactForSinks(line)]) {
      for (const s of secrets) expect(out).not.toContain(s);
      expect(out).toContain('[REDACTED:');
      // Idempotent: a second pass changes nothing.
      expect(redactor.redact(out)).toBe(out);
    }
  });

  it.each(KEEP_LINES)('keeps %s', (line) => {
    expect(redactor.redact(line)).toBe(line);
    expect(withLengths.redact(line)).toBe(line);
  });

  it('records the length of what it replaced when asked', () => {
    expect(withLengths.redact('password=hunter2Xy')).toBe('password=[REDACTED:secret 9 chars]');
    expect(withLengths.redact('id AKIAIOSFODNN7EXAMPLE')).toBe('id [REDACTED:aws_access_key 20 chars]');
    expect(withLengths.redactDeep({ apiKey: 'abcdef' })).toEqual({ apiKey: '[REDACTED:secret 6 chars]' });
  });

  it('redacts a secret that a template wildcard completes, keeping the other wildcards', () => {
    expect(redactTemplate('slack failed xoxb-<*>', redactor)).toBe('slack failed [REDACTED:slack_token]');
    expect(redactTemplate('login user=<*> password=<*> attempt=<*>', redactor)).toBe(
      'login user=<*> password=[REDACTED:secret] attempt=<*>',
    );
    expect(redactTemplate('GET <*>?key=<*> <*>', redactor)).toBe('GET <*>?key=[REDACTED:secret] <*>');
  });
});
