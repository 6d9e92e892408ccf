/**
 * Minimal glob matching for repository-relative paths (pure): `**` any number of folders,
 * `*` anything but `/`, `?` one character, `{a,b}` alternatives. A pattern without `/` matches
 * the file name in any folder (as in .gitignore); a pattern ending in `/` matches a folder.
 */

const cache = new Map<string, RegExp>();

function escapeChar(ch: string): string {
  return /[\\^$.|+()[\]{}]/.test(ch) ? `\\${ch}` : ch;
}

function compile(glob: string): RegExp {
  let pattern = glob.trim().replace(/^\.\//, '');
  if (pattern.endsWith('/')) pattern += '**';
  if (!pattern.includes('/')) pattern = `**/${pattern}`;
  if (pattern.startsWith('/')) pattern = pattern.slice(1);
  let re = '';
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        const atStart = i === 0 || pattern[i - 1] === '/';
        const atEnd = i + 2 === pattern.length || pattern[i + 2] === '/';
        if (atStart && atEnd) {
          if (i + 2 === pattern.length) re += '.*';
          else {
            re += '(?:.*/)?';
            i += 1; // skip the slash too
          }
          i += 1;
          continue;
        }
        re += '[^/]*';
        i += 1;
        continue;
      }
      re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '{') {
      re += '(?:';
      depth++;
    } else if (ch === '}' && depth > 0) {
      re += ')';
      depth--;
    } else if (ch === ',' && depth > 0) re += '|';
    else re += escapeChar(ch);
  }
  return new RegExp(`^${re}$`);
}

/** True when repository-relative `file` matches `glob`. */
export function matchesGlob(file: string, glob: string): boolean {
  let re = cache.get(glob);
  if (!re) {
    re = compile(glob);
    cache.set(glob, re);
  }
  return re.test(file.replace(/^\.\//, ''));
}

/** The first glob of `globs` that `file` matches, if any. */
export function firstMatch(file: string, globs: readonly string[]): string | undefined {
  return globs.find((g) => matchesGlob(file, g));
}
