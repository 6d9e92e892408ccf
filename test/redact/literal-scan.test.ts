import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { builtinRules, createRedactor, triggerTest } from '../../src/redact/index.js';
import { literalScanner } from '../../src/redact/literal-scan.js';

const PIECES = [
  'sk-ant-api03-AbCdEfGhIjKlMnOpQrSt',
  'AKIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'PaSsWoRd=hunter22',
  'TOKEN: abcdefgh',
  'sid=1',
  'x@example.com',
  'postgres://app:s3cret@db:5432/shop',
  'Bearer abcdefgh12345678',
  'hooks.slack.com',
  'ya29.',
  'é',
  '\u{1F600}',
  '\0',
  'Ke',
];
const text = fc
  .array(
    fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 3 })),
    {
      maxLength: 10,
    },
  )
  .map((a) => a.join(''));

describe('literal scanner (the redaction prefilter)', () => {
  const rules = builtinRules({ ips: true });
  const literals = rules.flatMap((r, rule) =>
    (r.triggers?.literals ?? []).map((literal) => ({ literal, ignoreCase: r.triggers?.ignoreCase === true, rule })),
  );
  const aws = rules.findIndex((r) => r.name === 'aws_secret_key');
  const scanner = literalScanner(literals, {
    chars: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+',
    length: 40,
    rule: aws,
  });

  it('marks exactly the rules whose literals a regex finds, case rules included', () => {
    const own = rules.map((r) => (r.triggers ? triggerTest([r]) : undefined));
    fc.assert(
      fc.property(text, (t) => {
        const hits = new Uint8Array(rules.length);
        scanner.scan(t, hits);
        own.forEach((test, i) => {
          if (test)
            expect({ rule: rules[i]?.name, t, hit: hits[i] === 1 }).toEqual({ rule: rules[i]?.name, t, hit: test(t) });
        });
        const run40 = /(?:^|[^A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/.test(t);
        expect({ t, run: hits[aws] === 1 }).toEqual({ t, run: run40 });
      }),
      { numRuns: 2000 },
    );
  });

  it('finds a literal at the very start and end, and a bare 40-character run at either end', () => {
    const hits = new Uint8Array(rules.length);
    expect(scanner.scan('sk-ant-', hits)).toBeGreaterThan(0);
    hits.fill(0);
    scanner.scan('x wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', hits);
    expect(hits[aws]).toBe(1);
    hits.fill(0);
    scanner.scan('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYx', hits);
    expect(hits[aws]).toBe(0);
    expect(scanner.scan('', new Uint8Array(rules.length))).toBe(0);
  });

  it('rejects a literal it cannot index', () => {
    expect(() => literalScanner([{ literal: 'é', ignoreCase: false, rule: 0 }])).toThrow(/ASCII/);
  });

  it('redacts as every rule run in order would, with user patterns whose names hold trigger literals', () => {
    const patterns = [
      { name: 'sk-ant-ref', regex: 'REF-\\d{4}' },
      { name: 'password', regex: 'PIN \\d{4}' },
    ];
    const fast = createRedactor({ lengths: true, patterns });
    const all = builtinRules({ lengths: true, patterns });
    const plain = (t: string) => {
      let out = t;
      for (const rule of all) {
        if (rule.apply) {
          out = rule.apply(out);
          continue;
        }
        rule.regex.lastIndex = 0;
        out = out.replace(rule.regex, (m: string, ...rest: unknown[]) => {
          const offset = rest[rest.length - 2] as number;
          const whole = rest[rest.length - 1] as string;
          if (rule.boundary && offset > 0 && /\w/.test(whole.charAt(offset - 1))) return m;
          return rule.replace ? rule.replace(m, ...(rest.slice(0, -2) as string[])) : `[REDACTED:${rule.name}]`;
        });
      }
      return out;
    };
    fc.assert(
      fc.property(text, fc.constantFrom('', ' REF-1234 ', ' PIN 1234', ' token=REF-9999'), (t, tail) => {
        expect(fast.redact(t + tail)).toBe(plain(t + tail));
      }),
      { numRuns: 1500 },
    );
  });
});
