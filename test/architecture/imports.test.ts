/**
 * One direction of flow (issue 14): folders of src/ import each other only through their faces
 * (index.ts), only along the arrows declared in docs/architecture.json, and never in a circle;
 * docs/architecture.md shows the same arrows. On failure the message lists every offending import
 * with its file and line.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  actualFolders,
  actualGraph,
  createdTables,
  crossImports,
  findCycles,
  importViolations,
  readArchitecture,
  selfFaceImports,
  staleTableReads,
  tableViolations,
} from './scan.js';
import { arrowsTable, BLOCK } from './table.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arch = readArchitecture(root);
// Parsing src/ takes seconds on a loaded machine: once for the whole file.
const imports = crossImports(root);

describe('import scan of src/', () => {
  it('sees the imports it checks (sanity: the scanner finds cross-folder imports of every kind)', () => {
    expect(imports.length).toBeGreaterThan(100);
    expect(new Set(imports.map((i) => i.kind))).toEqual(new Set(['import', 'export', 'dynamic', 'type']));
  });

  it('declares every folder of src/ in docs/architecture.json, and nothing else', () => {
    expect(Object.keys(arch.folders).sort()).toEqual(actualFolders(root));
  });

  it('crosses folders only through index.ts and only along a declared arrow', () => {
    expect(importViolations(root, arch, imports)).toEqual([]);
  });

  it("has no module importing its own folder's face", () => {
    expect(selfFaceImports(root)).toEqual([]);
  });

  it('has no cycle between folders, declared or actual', () => {
    const declared = Object.fromEntries(Object.entries(arch.folders).map(([k, v]) => [k, v.imports]));
    expect(findCycles(declared)).toEqual([]);
    expect(findCycles(actualGraph(imports))).toEqual([]);
  });

  it('gives every table one owning folder', () => {
    const owned = Object.values(arch.folders).flatMap((f) => f.tables);
    expect([...owned].sort()).toEqual([...new Set(owned)].sort());
    expect([...owned].sort()).toEqual(createdTables(root));
  });

  it("names another folder's table in SQL only where docs/architecture.json tableReads allows it", () => {
    expect(tableViolations(root, arch)).toEqual([]);
    expect(staleTableReads(root, arch)).toEqual([]);
  });

  it('docs/architecture.md shows the declared folders, tables and arrows', () => {
    const doc = readFileSync(path.join(root, 'docs/architecture.md'), 'utf8');
    const block = BLOCK.exec(doc)?.[2];
    expect(block, 'docs/architecture.md needs the <!-- arrows:start --> … <!-- arrows:end --> block').toBeDefined();
    // After editing docs/architecture.json: `node test/architecture/table.mjs` rewrites the table.
    expect(block).toBe(arrowsTable(arch));
  });
});

describe('the scan itself, on a small tree it did not come from', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  function tree(files: Record<string, string>): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-arch-'));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
    }
    return dir;
  }

  const decl = (imports: string[]) => ({ owns: '', tables: [], imports });

  it('flags a bypassed face, an undeclared arrow, an own-face import and an undeclared folder', () => {
    const dir = tree({
      'src/low/index.ts': "export { x } from './x.js';\n",
      'src/low/x.ts': "import { y } from './index.js';\nexport const x = 1;\nexport const y = 2;\n",
      'src/high/index.ts':
        "import { x } from '../low/x.js';\nexport type T = import('../low/index.js').X;\nexport const h = x;\n",
      'src/high/lazy.ts': "export const load = () => import('../low/index.js');\n",
      'src/rogue/index.ts': "export { h } from '../high/index.js';\n",
      'src/low/back.ts': "import type { h } from '../high/index.js';\nexport type H = typeof h;\n",
    });
    const arch = { folders: { low: decl([]), high: decl(['low']) } };
    const found = importViolations(dir, arch);
    expect(found.some((p) => p.startsWith('src/high/index.ts:1') && p.includes('bypasses the face'))).toBe(true);
    expect(found.some((p) => p.startsWith('src/low/back.ts:1') && p.includes('low may not import high'))).toBe(true);
    expect(found.some((p) => p.startsWith('src/rogue/index.ts:1'))).toBe(false); // rogue is undeclared, not its target
    expect(found.filter((p) => p.includes('src/high/lazy.ts'))).toEqual([]);
    expect(selfFaceImports(dir)).toEqual(['src/low/x.ts:1 imports its own face ./index.js']);
    expect(actualFolders(dir)).toEqual(['high', 'low', 'rogue']);
    expect(findCycles(actualGraph(crossImports(dir)))).toEqual([['high', 'low', 'high']]);
    expect(new Set(crossImports(dir).map((i) => i.kind))).toEqual(new Set(['import', 'type', 'dynamic', 'export']));
  });

  it('passes a tree that keeps the rules', () => {
    const dir = tree({
      'src/errors.ts': 'export class E extends Error {}\n',
      'src/low/index.ts': "import { E } from '../errors.js';\nexport const x = new E();\n",
      'src/high/index.ts': "export { x } from '../low/index.js';\n",
    });
    const arch = { folders: { 'errors.ts': decl([]), low: decl(['errors.ts']), high: decl(['low']) } };
    expect(importViolations(dir, arch)).toEqual([]);
    expect(findCycles(actualGraph(crossImports(dir)))).toEqual([]);
  });

  it("flags SQL naming another folder's table, unless allow-listed, and stale allow-list entries", () => {
    const dir = tree({
      'src/low/index.ts': "export const q = 'SELECT * FROM things';\n",
      'src/high/index.ts':
        "const a = 'SELECT id FROM things JOIN other ON 1';\nconst b = `UPDATE things SET x = 1`;\nconst c = 'INSERT INTO mine VALUES (1)';\n",
      'src/high/ok.ts': "const d = 'SELECT * FROM things';\n",
    });
    const arch = {
      folders: {
        low: { owns: '', tables: ['things', 'other'], imports: [] },
        high: { owns: '', tables: ['mine'], imports: ['low'] },
      },
      tableReads: { 'src/high/ok.ts': ['things'], 'src/low/index.ts': ['mine'] },
    };
    expect(tableViolations(dir, arch)).toEqual([
      "src/high/index.ts:1 names things, owned by low: use low's exported queries",
      "src/high/index.ts:1 names other, owned by low: use low's exported queries",
      "src/high/index.ts:2 names things, owned by low: use low's exported queries",
    ]);
    expect(staleTableReads(dir, arch)).toEqual(['src/low/index.ts mine']);
  });

  it('finds a cycle and only real ones', () => {
    expect(findCycles({ a: ['b'], b: ['c'], c: ['a'] })).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles({ a: ['b', 'c'], b: ['c'], c: [] })).toEqual([]);
  });
});
