import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ProjectFacts } from './init-detect.js';

const SKIP_DIRS = new Set([
  'node_modules',
  '.git',
  '.dancer',
  'dist',
  'build',
  'out',
  'coverage',
  '__pycache__',
  '.venv',
  'venv',
  '.tox',
  'vendor',
]);
const READ = /(?:^package\.json$|^Procfile$|^pyproject\.toml$|^pytest\.ini$|\.(?:[cm]?js|[cm]?ts|jsx|tsx|py|go)$)/;
const MAX_FILES = 400;
const MAX_BYTES = 256 * 1024;

/**
 * Read what {@link detectProject} needs from the project at `root`: file names (skipping
 * dependencies and build output, bounded) and the text of manifests and sources. Compiled entry
 * points named in package.json (dist/...) are listed when they exist, so init can tell whether
 * the build already ran.
 */
export function scanProject(root: string): ProjectFacts {
  const files: string[] = [];
  const texts: Record<string, string> = {};
  const walk = (dir: string, depth: number) => {
    if (files.length >= MAX_FILES || depth > 4) return;
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (files.length >= MAX_FILES) return;
      const abs = path.join(dir, e.name);
      const rel = path.relative(root, abs).split(path.sep).join('/');
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name) && !e.name.startsWith('.')) walk(abs, depth + 1);
      } else if (e.isFile()) {
        files.push(rel);
        if (READ.test(e.name)) {
          try {
            if (statSync(abs).size <= MAX_BYTES) texts[rel] = readFileSync(abs, 'utf8');
          } catch {
            // unreadable: listed, not read
          }
        }
      }
    }
  };
  walk(root, 0);
  // Build output is skipped above; record whether the start target exists all the same.
  try {
    const pkg = JSON.parse(texts['package.json'] ?? '{}') as { main?: unknown; scripts?: { start?: unknown } };
    const candidates = [pkg.main, ...String(pkg.scripts?.start ?? '').split(/\s+/)];
    for (const c of candidates) {
      if (typeof c !== 'string' || !/\.[cm]?js$/.test(c)) continue;
      const rel = c.replace(/^\.\//, '');
      try {
        if (statSync(path.join(root, rel)).isFile() && !files.includes(rel)) files.push(rel);
      } catch {
        // not built yet
      }
    }
  } catch {
    // package.json not JSON: detectProject says so
  }
  return { dirName: path.basename(path.resolve(root)), files, texts };
}
