// The folders-and-arrows table of docs/architecture.md, generated from docs/architecture.json.
// `node test/architecture/table.mjs` rewrites the table in the doc (after editing the JSON);
// test/architecture/imports.test.ts fails while the two differ.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The markdown table for an architecture declaration ({ folders: { name: { owns, tables, imports } } }). */
export function arrowsTable(arch) {
  const code = (name) => `\`${name}\``;
  const rows = Object.entries(arch.folders).map(
    ([name, d]) =>
      `| ${code(name.endsWith('.ts') ? `src/${name}` : `src/${name}/`)} | ${d.owns} | ${d.tables.map(code).join(', ') || '—'} | ${d.imports.map(code).join(', ') || '—'} |`,
  );
  return ['| Folder | Owns | Tables | May import (faces only) |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The doc's block between the markers, with its table replaced. */
export const BLOCK = /(<!-- arrows:start[^>]*-->\n)([\s\S]*?)(\n<!-- arrows:end -->)/;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const arch = JSON.parse(readFileSync(path.join(root, 'docs/architecture.json'), 'utf8'));
  const docPath = path.join(root, 'docs/architecture.md');
  const doc = readFileSync(docPath, 'utf8');
  if (!BLOCK.test(doc))
    throw new Error('docs/architecture.md has no <!-- arrows:start --> … <!-- arrows:end --> block');
  writeFileSync(
    docPath,
    doc.replace(BLOCK, (_m, a, _t, b) => a + arrowsTable(arch) + b),
  );
  process.stdout.write('docs/architecture.md: arrows table rewritten\n');
}
