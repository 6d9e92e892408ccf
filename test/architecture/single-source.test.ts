/**
 * One source for mask names, miner defaults and fix states (issue 14). Each list is defined once
 * and the others take it from there; these tests fail when a second copy appears in src/ or when
 * the schema, the docs or the masker drift from the one list.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { MINER_DEFAULTS, patternsSchema } from '../../src/config/index.js';
import { FIX_STATES, IN_FLIGHT_STATES, OPEN_STATES, ROLLBACK_STATES, TERMINAL_STATES } from '../../src/fixes/state.js';
import { BUILTIN_MASK_NAMES, createMasker, DEFAULT_MINER_OPTIONS } from '../../src/patterns/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Array literals elsewhere in src/ that copy a list: the same names as one of `lists` (in any
 * order), or at least `many` of the names of the first (the full list). A smaller subset chosen
 * for its own reason is not a copy. Allowed: the defining file, and `allowed` (file → why).
 */
function copiesOf(
  lists: readonly (readonly string[])[],
  definedIn: string,
  many: number,
  allowed: Record<string, string> = {},
  base = root,
): string[] {
  const all = new Set(lists[0]);
  const keys = new Set(lists.map((l) => [...new Set(l)].sort().join(',')));
  const found: string[] = [];
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    );
  for (const file of walk(path.join(base, 'src'))) {
    const rel = path.relative(base, file);
    if (rel === definedIn || rel in allowed) continue;
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isArrayLiteralExpression(node)) {
        const names = node.elements.flatMap((e) => (ts.isStringLiteralLike(e) && all.has(e.text) ? [e.text] : []));
        const distinct = [...new Set(names)].sort();
        if (distinct.length >= 2 && (keys.has(distinct.join(',')) || distinct.length >= many)) {
          found.push(`${rel}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found;
}

describe('the copy finder, on a small tree it did not come from', () => {
  it('flags a whole list, a reordered named list and a large subset, not a small chosen one', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-copies-'));
    try {
      const list = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
      const files: Record<string, string> = {
        'src/def.ts': "export const ALL = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];",
        'src/whole.ts': "const x = ['g', 'f', 'e', 'd', 'c', 'b', 'a'];",
        'src/named.ts': "const y = new Set(['c', 'b']);",
        'src/large.ts': "export const z = f(['a', 'b', 'c', 'd', 'e', 'f', 'zz']);",
        'src/small.ts': "if (['a', 'd'].includes(s)) go();",
        'src/allowed.ts': "const w = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];",
      };
      mkdirSync(path.join(dir, 'src'));
      for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
      const found = copiesOf([list, ['b', 'c']], 'src/def.ts', 6, { 'src/allowed.ts': 'test' }, dir);
      expect(found.sort()).toEqual(['src/large.ts:1', 'src/named.ts:1', 'src/whole.ts:1']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mask names: one list', () => {
  it('is the list the schema validates `patterns.masks.disable` against, in the same order', () => {
    expect(patternsSchema.safeParse({ masks: { disable: [...BUILTIN_MASK_NAMES] } }).success).toBe(true);
    const bad = patternsSchema.safeParse({ masks: { disable: ['nope'] } });
    expect(bad.success).toBe(false);
    // The enum's options, in order, as zod reports them for a name it does not know.
    const issue = bad.error?.issues[0] as { values?: unknown[] } | undefined;
    expect(issue?.values).toEqual([...BUILTIN_MASK_NAMES]);
  });

  it('is the order the masker runs them in (quoted is accepted and does nothing)', () => {
    expect(createMasker().names).toEqual(BUILTIN_MASK_NAMES.filter((n) => n !== 'quoted'));
  });

  it('is the table in docs/patterns-miner.md, in order', () => {
    const doc = readFileSync(path.join(root, 'docs/patterns-miner.md'), 'utf8');
    const table = doc.slice(doc.indexOf('| name | what | example |'));
    const rows = table.split('\n').slice(2);
    const names = rows
      .slice(
        0,
        rows.findIndex((r) => !r.trim().startsWith('|')),
      )
      .map((r) => /`(\w+)`/.exec(r)?.[1]);
    expect(names).toEqual([...BUILTIN_MASK_NAMES]);
  });

  it('has no second copy in src/', () => {
    expect(copiesOf([BUILTIN_MASK_NAMES], 'src/defaults.ts', 6)).toEqual([]);
  });
});

describe('miner defaults: one source', () => {
  it('gives the schema its defaults and the miner its own', () => {
    const miner = patternsSchema.parse({}).miner;
    expect(miner).toEqual({ ...MINER_DEFAULTS });
    const { cacheSize: _cache, ...rest } = DEFAULT_MINER_OPTIONS;
    expect(rest).toEqual(miner);
  });

  it('is what docs/patterns-miner.md shows under `miner:`', () => {
    const doc = readFileSync(path.join(root, 'docs/patterns-miner.md'), 'utf8');
    const block = doc.slice(doc.indexOf('  miner:\n'));
    for (const [key, value] of Object.entries(MINER_DEFAULTS)) {
      const m = new RegExp(`^\\s+${key}: ([\\d.]+)`, 'm').exec(block);
      expect(Number(m?.[1]), key).toBe(value);
    }
  });
});

describe('fix states: one list (src/fixes/state.ts)', () => {
  it('has no second copy in src/', () => {
    expect(
      copiesOf([FIX_STATES, TERMINAL_STATES, IN_FLIGHT_STATES, OPEN_STATES, ROLLBACK_STATES], 'src/fixes/state.ts', 6, {
        // The demo may import only errors, store and testing (docs/architecture.json): it reads
        // the end states of a fix as plain strings from the store.
        'src/demo/run-demo.ts': 'demo may not import fixes',
        // fleet_fixes (PostgreSQL) mirrors the states, and fleet may not import fixes.
        'src/fleet/rollout-worker.ts': 'fleet may not import fixes',
      }),
    ).toEqual([]);
  });

  it("keeps the demo's end states equal to the state machine's", () => {
    const text = readFileSync(path.join(root, 'src/demo/run-demo.ts'), 'utf8');
    const list = /const terminal = \[([^\]]*)\]/.exec(text)?.[1];
    const names = [...(list ?? '').matchAll(/'(\w+)'/g)].map((m) => m[1]);
    expect(new Set(names)).toEqual(new Set([...TERMINAL_STATES, 'deployed']));
    expect(IN_FLIGHT_STATES).toEqual(FIX_STATES.filter((s) => !names.includes(s)));
  });
});
