import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { builtinRules, createRedactor, type RedactRule, triggerTest } from '../../src/consult/redact.js';

/** Pieces that make rules fire or nearly fire, glued into random texts. */
const PIECES = [
  'sk-ant-api03-AbCdEfGhIjKlMnOpQrSt',
  'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234',
  'sk_live_abcdefghijklmnop',
  'AKIAIOSFODNN7EXAMPLE',
  'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
  'github_pat_abcdefghijklmnopqrstuvwxyz',
  'glpat-abcdefghijklmnopqrstu',
  'xoxb-1234567890-abcdef',
  'https://hooks.slack.com/services/T000/B000/XXXX',
  'AIzaSyA1234567890abcdefghijklmnopqrstuv',
  'npm_abcdefghijklmnopqrstuvwxyz0123456789',
  'AccountKey=abcdefghijklmnopqrstuvwxyz==',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl',
  'Bearer abcdefgh12345678',
  'postgres://app:s3cret@db:5432/shop',
  'PaSsWoRd=hunter22',
  '"apiKey": "v"',
  'Session_Id: x1',
  'jane.doe@example.com',
  '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----',
  '4111 1111 1111 1111',
  '1764072000000',
  '=',
  ':',
  ' ',
  '\n',
  '"',
  'asia',
  'npm_live_',
  'sk-sk-ant-',
  'AKIASIA',
  'hello',
];

const text = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 8 })), { maxLength: 8 })
  .map((a) => a.join(''));

/** Does the rule, run alone with no prefilter, find anything in `t`? */
function fires(rule: RedactRule, t: string): boolean {
  if (rule.apply) return rule.apply(t) !== t;
  rule.regex.lastIndex = 0;
  const hit = rule.regex.test(t);
  rule.regex.lastIndex = 0;
  return hit;
}

describe('trigger prefilter', () => {
  const rules = builtinRules({ ips: true });
  const gate = triggerTest(rules);

  it('covers every built-in rule but bare AWS secrets, card numbers, IPs and user patterns', () => {
    expect(gate).toBeDefined();
    const ungated = rules.filter((r) => !r.triggers).map((r) => r.name);
    expect(ungated).toEqual(['aws_secret_key', 'card_number', 'ip', 'ip']);
  });

  it('never rejects a text that a gated rule would change, rule by rule', () => {
    const own = rules.filter((r) => r.triggers).map((r) => [r, triggerTest([r])] as const);
    fc.assert(
      fc.property(text, (t) => {
        for (const [rule, test] of own) {
          if (fires(rule, t)) expect({ rule: rule.name, t, hit: test?.(t) }).toEqual({ rule: rule.name, t, hit: true });
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the same output as running every rule on every text', () => {
    const gated = createRedactor({ ips: true, patterns: [{ name: 'customer_id', regex: 'CUST-\\d{6}' }] });
    // The same rules with the prefilter and the quick checks removed.
    const all = builtinRules({ ips: true, patterns: [{ name: 'customer_id', regex: 'CUST-\\d{6}' }] });
    const plain = (t: string) => {
      const noTriggers = all.map(({ triggers: _t, quick: _q, ...rest }) => rest);
      let out = t;
      for (const rule of noTriggers) {
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
      fc.property(text, fc.constantFrom('', ' CUST-004211', ' 10.1.2.3'), (t, tail) => {
        expect(gated.redact(t + tail)).toBe(plain(t + tail));
      }),
      { numRuns: 1000 },
    );
  });

  it('skips the gated rules on a plain log line yet still finds a card number in it', () => {
    const line = '{"level":50,"time":1764072000000,"msg":"charge failed 4111 1111 1111 1111"}';
    expect(gate?.(line)).toBe(false);
    expect(createRedactor().redact(line)).toBe(
      '{"level":50,"time":1764072000000,"msg":"charge failed [REDACTED:card_number]"}',
    );
  });
});
