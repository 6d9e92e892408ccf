import { describe, expect, it } from 'vitest';
import { TemplateMiner } from '../../src/patterns/miner.js';
import { MAX_SIBLING_TOKENS, TemplateIndex } from '../../src/patterns/template-index.js';

/** A line of `n` distinct words (no digits: nothing is masked). */
function words(n: number, salt: string): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push(`w${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + (((i / 26) | 0) % 26))}${salt}`);
  return out.join(' ');
}

describe('untrusted long lines', () => {
  it('a message past MAX_SIBLING_TOKENS builds no sibling keys (n keys of n tokens each would be quadratic)', () => {
    const idx = new TemplateIndex(4, 100);
    const short = words(20, 'x').split(' ');
    const long = words(MAX_SIBLING_TOKENS + 1, 'x').split(' ');
    expect(idx.siblingKeysOf(short, 'fp').length).toBe(20);
    expect(idx.siblingKeysOf(long, 'fp')).toEqual([]);
  });

  it('the miner takes long lines whole and still generalises short ones', () => {
    const miner = new TemplateMiner();
    const base = words(5000, 'q');
    const first = miner.add(`${base} failed`);
    expect(miner.add(`${base} failed`).templateId).toBe(first.templateId);
    const short = new Set<number>();
    for (const user of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank']) {
      short.add(miner.add(`login failed for user ${user} from console`).templateId);
    }
    const resolved = new Set<number | undefined>();
    for (const id of short) {
      resolved.add(miner.resolveId(id));
    }
    expect(resolved.size).toBe(1);
  });
});
