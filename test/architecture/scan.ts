/**
 * The import scan: every module reference in src/ (static and dynamic imports, re-exports,
 * `import type`, `import('…')` types), parsed with the TypeScript compiler, checked against the
 * folders and arrows declared in docs/architecture.json.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** One folder of src/ (or a root file such as `errors.ts`) as docs/architecture.json declares it. */
export interface FolderDecl {
  owns: string;
  tables: string[];
  imports: string[];
}

/** docs/architecture.json. */
export interface Architecture {
  folders: Record<string, FolderDecl>;
  /**
   * The allow-list of cross-stage table reads that remain: file (relative to the repository
   * root) → the tables of other folders its SQL may still name. It may only shrink.
   */
  tableReads?: Record<string, string[]>;
}

/** One reference from a module to a module of another folder. */
export interface CrossImport {
  /** Importing file, relative to the repository root. */
  file: string;
  line: number;
  /** The specifier as written. */
  specifier: string;
  /** The file it resolves to, relative to the repository root. */
  target: string;
  from: string;
  to: string;
  kind: 'import' | 'export' | 'dynamic' | 'type';
}

/** Read docs/architecture.json. */
export function readArchitecture(root: string): Architecture {
  return JSON.parse(readFileSync(path.join(root, 'docs/architecture.json'), 'utf8')) as Architecture;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|mts|cts|tsx)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** The folder a file of src/ belongs to: its first path segment, or the file name for root files. */
export function folderOf(srcDir: string, file: string): string {
  return path.relative(srcDir, file).split(path.sep)[0] as string;
}

/** The one module other folders may import from `folder`. */
export function faceOf(srcDir: string, folder: string): string {
  return folder.endsWith('.ts') ? path.join(srcDir, folder) : path.join(srcDir, folder, 'index.ts');
}

/** Map a relative specifier (`../store/index.js`) to the source file it names. */
function resolveSpecifier(fromFile: string, specifier: string): string {
  const raw = path.resolve(path.dirname(fromFile), specifier);
  const candidates = [raw.replace(/\.(m|c)?js$/, '.$1ts'), raw, `${raw}.ts`, path.join(raw, 'index.ts')];
  return candidates.find((c) => existsSync(c)) ?? raw.replace(/\.(m|c)?js$/, '.$1ts');
}

interface Reference {
  specifier: string;
  line: number;
  kind: CrossImport['kind'];
}

function referencesOf(file: string): Reference[] {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const refs: Reference[] = [];
  const add = (literal: ts.StringLiteralLike, kind: Reference['kind']) =>
    refs.push({ specifier: literal.text, kind, line: sf.getLineAndCharacterOfPosition(literal.getStart(sf)).line + 1 });
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier, node.importClause?.isTypeOnly ? 'type' : 'import');
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier, 'export');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expr = node.moduleReference.expression;
      if (ts.isStringLiteralLike(expr)) add(expr, 'import');
    } else if (ts.isCallExpression(node)) {
      const [arg] = node.arguments;
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if ((isImport || isRequire) && arg && ts.isStringLiteralLike(arg)) add(arg, 'dynamic');
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) add(arg.literal, 'type');
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return refs;
}

/** Every reference in src/ from one folder to another (relative specifiers only; packages are not folders). */
export function crossImports(root: string): CrossImport[] {
  const srcDir = path.join(root, 'src');
  const out: CrossImport[] = [];
  for (const file of sourceFiles(srcDir)) {
    const from = folderOf(srcDir, file);
    for (const ref of referencesOf(file)) {
      if (!ref.specifier.startsWith('.')) continue;
      const target = resolveSpecifier(file, ref.specifier);
      const rel = path.relative(srcDir, target);
      if (rel.startsWith('..')) continue; // outside src/ (package.json and the like)
      const to = folderOf(srcDir, target);
      if (to === from) continue;
      out.push({
        file: path.relative(root, file),
        line: ref.line,
        specifier: ref.specifier,
        target: path.relative(root, target),
        from,
        to,
        kind: ref.kind,
      });
    }
  }
  return out;
}

/** Files that import their own folder's index.ts (a folder's modules use each other directly). */
export function selfFaceImports(root: string): string[] {
  const srcDir = path.join(root, 'src');
  const out: string[] = [];
  for (const file of sourceFiles(srcDir)) {
    const folder = folderOf(srcDir, file);
    if (folder.endsWith('.ts')) continue;
    const face = faceOf(srcDir, folder);
    if (file === face) continue;
    for (const ref of referencesOf(file)) {
      if (ref.specifier.startsWith('.') && resolveSpecifier(file, ref.specifier) === face) {
        out.push(`${path.relative(root, file)}:${ref.line} imports its own face ${ref.specifier}`);
      }
    }
  }
  return out;
}

/** The folders and root files that exist under src/. */
export function actualFolders(root: string): string[] {
  return readdirSync(path.join(root, 'src'), { withFileTypes: true })
    .filter((e) => e.isDirectory() || /\.ts$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

/** Problems of the import graph against the declaration: bypassed faces, undeclared arrows. */
export function importViolations(
  root: string,
  arch: Architecture,
  imports: readonly CrossImport[] = crossImports(root),
): string[] {
  const srcDir = path.join(root, 'src');
  const problems: string[] = [];
  for (const imp of imports) {
    const at = `${imp.file}:${imp.line} (${imp.from} -> ${imp.to}) ${imp.specifier}`;
    const face = path.relative(root, faceOf(srcDir, imp.to));
    if (!arch.folders[imp.to]) problems.push(`${at}: folder ${imp.to} is not declared in docs/architecture.json`);
    else if (imp.target !== face) problems.push(`${at}: bypasses the face; import from ${face}`);
    const decl = arch.folders[imp.from];
    if (decl && !decl.imports.includes(imp.to)) {
      problems.push(`${at}: ${imp.from} may not import ${imp.to} (not an arrow in docs/architecture.json)`);
    }
  }
  return problems;
}

/** Cycles in a graph given as node -> successors; each cycle as its path, first node repeated at the end. */
export function findCycles(graph: Record<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph[node] ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of Object.keys(graph).sort()) if (!state.has(node)) visit(node);
  return cycles;
}

/** The folder graph the code actually has. */
export function actualGraph(imports: readonly CrossImport[]): Record<string, string[]> {
  const graph: Record<string, string[]> = {};
  for (const imp of imports) {
    const next = graph[imp.from] ?? [];
    graph[imp.from] = next;
    if (!next.includes(imp.to)) next.push(imp.to);
  }
  for (const next of Object.values(graph)) next.sort();
  return graph;
}

/** Tables created anywhere in src/ (the migrations, and the store's own bookkeeping). */
export function createdTables(root: string): string[] {
  const names = new Set<string>();
  for (const file of sourceFiles(path.join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/CREATE\s+(?:VIRTUAL\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?["`]?(\w+)/gi)) {
      names.add(m[1] as string);
    }
  }
  return [...names].sort();
}

/** SQL that names a table: `FROM`, `JOIN`, `INTO` or `UPDATE` followed by the table's name. */
const SQL_TABLE = /\b(?:FROM|JOIN|INTO|UPDATE)\s+["`]?(\w+)/g;

/**
 * SQL text in a folder that names a table another folder owns (docs/architecture.json `tables`),
 * as `file table` pairs, less those listed in `arch.tableReads` (file → tables it may still
 * name). Each problem names the file, the line, the table and its owner.
 */
export function tableViolations(root: string, arch: Architecture): string[] {
  const srcDir = path.join(root, 'src');
  const owner = new Map<string, string>();
  for (const [folder, decl] of Object.entries(arch.folders)) for (const t of decl.tables) owner.set(t, folder);
  const problems: string[] = [];
  for (const file of sourceFiles(srcDir)) {
    const folder = folderOf(srcDir, file);
    const rel = path.relative(root, file);
    const allowed = new Set(arch.tableReads?.[rel] ?? []);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(SQL_TABLE)) {
      const table = m[1] as string;
      const own = owner.get(table);
      if (own === undefined || own === folder || allowed.has(table)) continue;
      const line = text.slice(0, m.index).split('\n').length;
      problems.push(`${rel}:${line} names ${table}, owned by ${own}: use ${own}'s exported queries`);
    }
  }
  return problems;
}

/** Entries of `arch.tableReads` that no longer match any SQL (so the allow-list only shrinks). */
export function staleTableReads(root: string, arch: Architecture): string[] {
  const stale: string[] = [];
  for (const [file, tables] of Object.entries(arch.tableReads ?? {})) {
    const full = path.join(root, file);
    const text = existsSync(full) ? readFileSync(full, 'utf8') : '';
    const named = new Set([...text.matchAll(SQL_TABLE)].map((m) => m[1]));
    for (const t of tables) if (!named.has(t)) stale.push(`${file} ${t}`);
  }
  return stale;
}
