import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMasker } from '../../src/patterns/masks.js';
import { ByteMemo, HASH_START, hashStep, TokenMemo } from '../../src/patterns/token-memo.js';
import { tokenize } from '../../src/patterns/tokenize.js';

const hashOf = (s: string): number => {
  let h = HASH_START;
  for (let i = 0; i < s.length; i++) h = hashStep(h, s.charCodeAt(i));
  return h;
};
const bytesOf = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('token memos', () => {
  it('a ByteMemo answers only for the same bytes, even when hashes collide', () => {
    const memo = new ByteMemo(4);
    const line = bytesOf('alpha beta');
    memo.set(line, 0, 5, 7, 'A');
    // Same hash (7) and length, other bytes: no answer.
    expect(memo.get(bytesOf('alphx'), 0, 5, 7)).toBeUndefined();
    expect(memo.get(bytesOf('xx alpha'), 3, 5, 7)).toBe('A');
    expect(memo.get(line, 6, 4, 7)).toBeUndefined();
  });

  it('a ByteMemo is cleared when half full, and keeps answering what it holds until then', () => {
    const memo = new ByteMemo(4); // 16 slots, cleared at 8 entries
    const words = Array.from({ length: 8 }, (_, i) => `w${i}`);
    for (const w of words) memo.set(bytesOf(w), 0, w.length, hashOf(w), w.toUpperCase());
    for (const w of words) expect(memo.get(bytesOf(w), 0, w.length, hashOf(w))).toBe(w.toUpperCase());
    memo.set(bytesOf('w8'), 0, 2, hashOf('w8'), 'W8');
    expect(memo.get(bytesOf('w0'), 0, 2, hashOf('w0'))).toBeUndefined();
    expect(memo.get(bytesOf('w8'), 0, 2, hashOf('w8'))).toBe('W8');
  });

  it('a TokenMemo compares characters, not only hashes', () => {
    const memo = new TokenMemo(4);
    memo.set('héllo', 3, 'H');
    expect(memo.get('a héllo', 2, 5, 3)).toBe('H');
    expect(memo.get('a hèllo', 2, 5, 3)).toBeUndefined();
  });
});

// Tokens that repeat (memo hits), ASCII and not (bytes and characters), values that cross a space.
const PIECES = ['12', ' KB', ' kb', ' to', 'bytes', ' bytes', '2024-01-02', ' 10:00', 'T', '3:04', 'blk_-1', 'é', '\v'];
const WORDS = ['a', 'user', 'true', '<*>', '0x1f', '10.0.0.1', '/var/log', 'k=v1', ' ', '  ', '\t'];
const line = fc.array(fc.constantFrom(...PIECES, ...WORDS), { maxLength: 16 }).map((parts) => parts.join(''));

describe('the masker with its memos', () => {
  it('gives tokenize(mask()) for every line, the first time and every time after', () => {
    const masker = createMasker();
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), (lines) => {
        for (let pass = 0; pass < 2; pass++) {
          for (const l of lines) expect(masker.tokens(l)).toEqual(tokenize(masker.mask(l)));
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('a value that crosses a space is masked whole; one inside a token with the token', () => {
    const masker = createMasker();
    expect(masker.tokens('sent 12 KB to 10.0.0.1')).toEqual(['sent', '<*>', 'to', '<*>']);
    expect(masker.tokens('sent 12KB to host')).toEqual(['sent', '<*>', 'to', 'host']);
    expect(masker.tokens('at 2024-01-02 10:00:00 ok')).toEqual(['at', '<*>', 'ok']);
    expect(masker.tokens('at 2024-01-02 ok')).toEqual(['at', '<*>', 'ok']);
    expect(masker.tokens('job 12 to run')).toEqual(['job', '<*>', 'to', 'run']);
  });

  it('tokensInto fills and returns the array it is given, emptied first', () => {
    const masker = createMasker();
    const out = ['stale', 'tokens'];
    expect(masker.tokensInto('user 42 logged in', out)).toBe(out);
    expect(out).toEqual(['user', '<*>', 'logged', 'in']);
  });

  it('tokensInto reusing one array leaves exactly the tokens of the last line, longer or shorter', () => {
    // The scan writes over the old tokens by index and trims once; a value that crosses a space
    // makes it start again after writing part of the line.
    const masker = createMasker();
    const out: string[] = [];
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), (lines) => {
        for (const l of lines) {
          expect(masker.tokensInto(l, out)).toBe(out);
          expect(out).toEqual(tokenize(masker.mask(l)));
          expect(Object.keys(out).length).toBe(out.length); // no holes
        }
      }),
      { numRuns: 1500 },
    );
    const long = 'a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3';
    masker.tokensInto(long, out);
    expect(masker.tokensInto('sent 12 KB\vto a b c d e f', out)).toEqual(
      tokenize(masker.mask('sent 12 KB\vto a b c d e f')),
    );
    expect(masker.tokensInto('', out)).toEqual([]);
  });
});
