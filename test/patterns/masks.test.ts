import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUILTIN_MASK_NAMES, createMasker, isVariableRun, maskToken, WILDCARD } from '../../src/patterns/masks.js';
import { joinTokens, tokenize } from '../../src/patterns/tokenize.js';

const masker = createMasker();
const mask = (s: string) => masker.mask(s);

describe('built-in masks', () => {
  it.each([
    ['numbers', 'took 42 ms, retried 3 times', 'took <*> ms, retried <*> times'],
    ['signed and decimal numbers', 'delta -1 ratio 0.25 (TID 3).', 'delta <*> ratio <*> (TID <*>).'],
    ['uuid', 'user 550e8400-e29b-41d4-a716-446655440000 logged in', 'user <*> logged in'],
    ['ipv4 with port and leading slash', 'from 10.0.0.1:8080 to /10.0.0.2', 'from <*> to <*>'],
    ['ipv6, bracketed with port', 'peer fe80::1ff:fe23:4567:890a and [2001:db8::1]:443', 'peer <*> and <*>'],
    ['url', 'GET https://example.com/a/b?x=1 ok', 'GET <*> ok'],
    ['email', 'mail bob@example.com now', 'mail <*> now'],
    ['unix, windows and relative paths', 'open /var/log/app.log C:\\Users\\x\\a.txt src/a/b.ts', 'open <*> <*> <*>'],
    ['sizes with units, spaced or not', 'sent 12 KB and 3 bytes, 4MiB', 'sent <*> and <*>, <*>'],
    ['durations attached to the number', 'slow: 65020ms (threshold=30000ms), 5s', 'slow: <*> (threshold=<*>), <*>'],
    [
      'quoted strings are tokenised inside, not masked whole',
      `"GET /api/a HTTP/1.1" took 'two words' id "42"`,
      `"GET <*> HTTP/<*>" took 'two words' id "<*>"`,
    ],
    ['key=value and key:value with a numeric value', 'retry=3 code:500 uid=0', 'retry=<*> code:<*> uid=<*>'],
    ['hex', 'ptr 0xdeadBEEF', 'ptr <*>'],
    ['booleans and null', 'flag true (false) null', 'flag <*> (<*>) <*>'],
    ['ISO timestamps and times', 'at 2024-01-02T03:04:05.123Z and 2024-01-02 03:04:05, 12:30', 'at <*> and <*>, <*>'],
    ['host:port', 'host db.example.com:5432 up', 'host <*> up'],
    ['numeric identifiers', 'rdd_2_1 blk_-123 job_1445_0020Job 8a2a501 req_5f3a9b1c', '<*> <*> <*> <*> <*>'],
  ])('%s', (_name, input, expected) => {
    expect(mask(input)).toBe(expected);
  });

  it('keeps words with an embedded digit and words with apostrophes', () => {
    expect(mask("jk2_init() ssh2 log4j SOCKS5 can't won't")).toBe("jk2_init() ssh2 log4j SOCKS5 can't won't");
  });

  it('keeps a constant key=value (the miner generalises it if it varies)', () => {
    expect(mask('tty=ssh ruser= rhost=10.1.2.3')).toBe('tty=ssh ruser= rhost=<*>');
  });

  it('joins adjacent variables across . : - _ / @ but not , # |', () => {
    expect(maskToken('10.0.0.1:80')).toBe(WILDCARD);
    expect(maskToken('jetty-6.1.26')).toBe('jetty-<*>');
    expect(maskToken('1,2,3')).toBe('<*>,<*>,<*>');
    expect(maskToken('1##2|3')).toBe('<*>##<*>|<*>');
  });

  it('keeps a hyphen between words but takes a leading sign', () => {
    expect(maskToken('msra-sa-41')).toBe('msra-sa-<*>');
    expect(maskToken('-17>')).toBe('<*>>');
    expect(maskToken('(-5,')).toBe('(<*>,');
  });

  it('classifies runs', () => {
    expect(isVariableRun('42')).toBe(true);
    expect(isVariableRun('10ms')).toBe(true);
    expect(isVariableRun('rdd_2_1')).toBe(true);
    expect(isVariableRun('8a2a501')).toBe(true);
    expect(isVariableRun('log4j')).toBe(false);
    expect(isVariableRun('deadbeef')).toBe(false);
    expect(isVariableRun('word')).toBe(false);
  });

  it('leaves whitespace as it was', () => {
    expect(mask('  a  1\tb ')).toBe('  a  <*>\tb ');
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const once = mask(s);
        expect(mask(once)).toBe(once);
      }),
      { numRuns: 300 },
    );
  });

  it('never leaves a decimal number standing alone', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom('a', 'is', 'x:', '(', ')'), fc.nat().map(String)), { maxLength: 12 }),
        (parts) => {
          const out = tokenize(mask(parts.join(' ')));
          for (const t of out) expect(/^\d+$/.test(t)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('mask configuration', () => {
  it('lists every built-in by default', () => {
    // `quoted` is accepted for old configs and does nothing: quoted strings are tokenised inside.
    expect([...masker.names].sort()).toEqual([...BUILTIN_MASK_NAMES].filter((n) => n !== 'quoted').sort());
  });

  it('turns built-ins off by name', () => {
    const m = createMasker({ disable: ['numbers', 'bool'] });
    expect(m.mask('took 42 ms true')).toBe('took 42 ms true');
    expect(m.names).not.toContain('numbers');
  });

  it('runs custom masks first, with group references', () => {
    const m = createMasker({
      custom: [
        { name: 'order', pattern: 'ORD-[A-Z]+' },
        { name: 'tenant', pattern: 'tenant\\s+(\\w+)', replacement: 'tenant <*>' },
      ],
    });
    expect(m.mask('order ORD-ABC for tenant acme')).toBe('order <*> for tenant <*>');
    expect(m.names.slice(0, 2)).toEqual(['order', 'tenant']);
  });
});

describe('tokenize', () => {
  it('splits on runs of whitespace and drops the ends', () => {
    expect(tokenize('  a\t b  c ')).toEqual(['a', 'b', 'c']);
    expect(tokenize('')).toEqual([]);
    expect(tokenize('   ')).toEqual([]);
  });

  it('joins with single spaces', () => {
    expect(joinTokens(tokenize(' My id =  1 '))).toBe('My id = 1');
  });
});
