import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DancerError, ERROR_CODES, isDancerError } from '../src/errors.js';

describe('DancerError', () => {
  it('carries a stable code, a default message and details', () => {
    const error = new DancerError('DANCER_CONFIG_INVALID', undefined, { details: { file: 'x' } });
    expect(error.code).toBe('DANCER_CONFIG_INVALID');
    expect(error.message).toBe(ERROR_CODES.DANCER_CONFIG_INVALID);
    expect(error.toJSON()).toEqual({ code: 'DANCER_CONFIG_INVALID', message: error.message, details: { file: 'x' } });
    expect(isDancerError(error, 'DANCER_CONFIG_INVALID')).toBe(true);
    expect(isDancerError(error, 'DANCER_STORE_LOCKED')).toBe(false);
    expect(isDancerError(new Error('x'))).toBe(false);
  });

  it('docs/errors.md lists exactly the codes the code declares', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `(DANCER_[A-Z_]+)`\s*\|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });
});
