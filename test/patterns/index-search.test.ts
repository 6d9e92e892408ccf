import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codeLength, constantWord, isKeyword } from '../../src/patterns/evidence.js';
import { TemplateMiner } from '../../src/patterns/miner.js';
import { TemplateIndex } from '../../src/patterns/template-index.js';

const SEP = '\u0001';

/** The sibling keys as first written: one key per word position, each built token by token. */
function referenceSiblingKeys(tokens: readonly string[], fp: string): string[] {
  const out: string[] = [];
  if (tokens.length < 2 || tokens.length > 256) return out;
  if (tokens.filter((t) => !t.includes('<*>')).length < 2) return out;
  const group = `${fp}${SEP}${tokens.length}`;
  tokens.forEach((t, i) => {
    if (t.includes('<*>')) return;
    const w = constantWord(t);
    if (w !== undefined && isKeyword(w) && codeLength(w) === 0) return;
    const wordLength = w === undefined ? t.length : w.length;
    let key = `${group}${SEP}@${i}`;
    tokens.forEach((u, j) => {
      key += j === i ? `${SEP}${u.slice(0, u.length - wordLength)}${SEP}` : `${SEP}${u}`;
    });
    out.push(key);
  });
  return out;
}

const token = fc.constantFrom(
  'user',
  'GET',
  'EUR',
  'started',
  'k=v',
  'method=POST',
  'state:RUNNING',
  '<*>',
  'id=<*>',
  'shard3x',
  '(ok)',
  'a',
  '',
  'é',
);

describe('the index search (template-index.ts)', () => {
  it('builds the same sibling keys, with their positions, as one key at a time', () => {
    const idx = new TemplateIndex(2, 100);
    fc.assert(
      fc.property(fc.array(token, { maxLength: 12 }), fc.constantFrom('', 'abcd1234'), (raw, fp) => {
        const tokens = raw.filter((t) => t !== '');
        const positions: number[] = [99];
        const keys = idx.siblingKeysOf(tokens, fp, positions);
        expect(keys).toEqual(referenceSiblingKeys(tokens, fp));
        expect(positions).toHaveLength(keys.length);
        keys.forEach((k, n) => {
          expect(k.startsWith(`${fp}${SEP}${tokens.length}${SEP}@${positions[n]}${SEP}`)).toBe(true);
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('finds templates under an exact key and under `*` at the same node of the lookup tree', () => {
    // maxChildren 1: the first word seen at a position keeps its own branch, later ones go under
    // `*`, so the walk meets nodes with one branch and nodes with both.
    const lines = [
      'alpha opened port 80',
      'beta closed door 7',
      'gamma reset link 3',
      'alpha opened port 81',
      'delta moved file a.txt',
      'beta closed door 9',
      '10.0.0.1 accepted job 7',
      '10.0.0.2 accepted job 8',
    ];
    const crowded = new TemplateMiner({ cacheSize: 0, maxChildren: 1 });
    const open = new TemplateMiner({ cacheSize: 0 });
    const ids = lines.map((l) => crowded.addId(l));
    expect(ids).toEqual(lines.map((l) => open.addId(l)));
    expect(new Set(ids).size).toBe(5);
    for (const l of lines) {
      expect(crowded.addId(l)).toBe(open.addId(l));
      expect(crowded.match(l)?.templateId).toBe(open.match(l)?.templateId);
    }
    expect(crowded.get(ids[0] as number)?.template).toBe('alpha opened port <*>');
    expect(crowded.get(ids[6] as number)?.template).toBe('<*> accepted job <*>');
  });

  it('looks under `*` beside an exact branch: the exact one may hold only templates that differ', () => {
    const miner = new TemplateMiner({ cacheSize: 0 });
    const port = miner.addId('alpha opened port 80');
    const door = miner.addId('alpha 5 door 7'); // `alpha <*> door <*>`: its second key is `*`
    expect(door).not.toBe(port);
    // `opened` has its own branch (with the port template); the door template is under `*`.
    expect(miner.addId('alpha opened door 9')).toBe(door);
    expect(miner.get(door)?.template).toBe('alpha <*> door <*>');
    expect(miner.size).toBe(2);
  });
});
