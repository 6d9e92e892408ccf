import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMasker, maskToken } from '../../src/patterns/masks.js';
import { tokenize } from '../../src/patterns/tokenize.js';
import { referenceMaskToken } from './reference-mask-token.js';

// Pieces that exercise every mask and the edges between them: spanning values (`12 KB`, a date and
// time), signs, joiners, wildcards already in the text, and every whitespace tokenize knows.
const PIECES = [
  '12',
  'KB',
  ' KB',
  '3.5',
  'GiB',
  'bytes',
  'B',
  '-',
  '+',
  '_',
  '.',
  ':',
  '/',
  '@',
  '=',
  ',',
  '(',
  ')',
  '"',
  "'",
  '0x1f',
  'blk',
  'true',
  'null',
  'False',
  'a',
  'Zz',
  'EUR',
  '2024-01-02',
  '03:04:05',
  'T',
  'Z',
  '::',
  '[',
  ']',
  '10.0.0.1',
  'host.example.com',
  'user',
  'key',
  'ms',
  '<*>',
  '://',
  'é',
  ' ',
  ' ',
  '  ',
  '\t',
  '\n',
  '\r',
  '\v',
  '\f',
];
const text = fc.array(fc.constantFrom(...PIECES), { maxLength: 24 }).map((parts) => parts.join(''));

describe('the single-pass masker', () => {
  const configs = [
    {},
    { disable: ['size'] },
    { disable: ['timestamp', 'bool'] },
    { disable: ['numbers', 'ipv4'] },
    { custom: [{ name: 'order', pattern: 'user\\w*' }] },
  ];
  it.each(configs.map((c) => [JSON.stringify(c), c]))('tokens() is tokenize(mask()) under %s', (_name, config) => {
    const masker = createMasker(config);
    fc.assert(
      fc.property(text, (s) => {
        expect(masker.tokens(s)).toEqual(tokenize(masker.mask(s)));
      }),
      { numRuns: 3000 },
    );
  });

  it('cuts spanning values and vertical whitespace as the two passes did', () => {
    const masker = createMasker();
    for (const s of [
      'sent 12 KB\tto 10.0.0.1:80',
      'at 2024-01-02 03:04:05,123 ok',
      'a\vb 12\f13 true\vfalse',
      '  leading and trailing 7  ',
      '',
      '\v\f',
    ]) {
      expect(masker.tokens(s)).toEqual(tokenize(masker.mask(s)));
    }
    expect(masker.tokens('sent 12 KB in 3.5 GiB')).toEqual(['sent', '<*>', 'in', '<*>']);
  });
});

describe('the allocation-free token rule', () => {
  it('agrees with the reference implementation on any token', () => {
    const token = fc
      .array(
        fc.constantFrom(
          '1',
          '42',
          '007',
          '-',
          '+',
          '_',
          '.',
          ':',
          '/',
          '@',
          ',',
          '#',
          '=',
          'a',
          'ms',
          'ff',
          'job',
          'Job',
          '<*>',
          'x9',
          '(',
          ')',
        ),
        {
          minLength: 1,
          maxLength: 12,
        },
      )
      .map((p) => p.join(''));
    fc.assert(
      fc.property(token, (t) => {
        expect(maskToken(t)).toBe(referenceMaskToken(t));
      }),
      { numRuns: 20000 },
    );
  });

  it('handles tokens longer than its scratch space', () => {
    const long = Array.from({ length: 200 }, (_, i) => `a${i}`).join('-');
    expect(maskToken(long)).toBe(referenceMaskToken(long));
  });
});
