/**
 * A parser for unified diffs as `git diff` prints them (also plain `diff -u` output). Pure.
 */

/** One changed line, with its line number in the new file (added) or the old file (removed). */
export interface DiffLine {
  line: number;
  text: string;
}

/** One file in a diff. Paths are repository-relative, without `a/` or `b/`. */
export interface DiffFile {
  /** Path after the change (the old path for a deleted file). */
  path: string;
  /** Path before the change (differs from `path` for a rename). */
  oldPath: string;
  status: 'added' | 'deleted' | 'modified' | 'renamed';
  binary: boolean;
  /** Git file mode after the change, when the diff says (160000 is a submodule). */
  mode?: string | undefined;
  added: DiffLine[];
  removed: DiffLine[];
}

/** A parsed diff. */
export interface ParsedDiff {
  files: DiffFile[];
}

/** Lines added plus lines removed, over every file. */
export function linesChanged(diff: ParsedDiff): number {
  return diff.files.reduce((n, f) => n + f.added.length + f.removed.length, 0);
}

function unquote(raw: string): string {
  const s = raw.trim();
  if (!s.startsWith('"')) return s;
  const body = s.slice(1, s.lastIndexOf('"'));
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch !== '\\') {
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      continue;
    }
    const next = body[i + 1] ?? '';
    if (/[0-7]/.test(next)) {
      bytes.push(Number.parseInt(body.slice(i + 1, i + 4), 8));
      i += 3;
      continue;
    }
    const map: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\', r: '\r', a: '\x07', b: '\b' };
    for (const b of Buffer.from(map[next] ?? next, 'utf8')) bytes.push(b);
    i += 1;
  }
  return Buffer.from(bytes).toString('utf8');
}

function stripPrefix(p: string): string {
  const s = unquote(p);
  if (s === '/dev/null') return s;
  return s.replace(/^[ab]\//, '');
}

function headerPaths(rest: string): [string, string] {
  // `a/x b/x`: split in the middle when both halves are equal, else at " b/".
  const s = rest.trim();
  if (s.startsWith('"')) {
    const end = s.indexOf('"', 1);
    const first = s.slice(0, end + 1);
    return [stripPrefix(first), stripPrefix(s.slice(end + 2))];
  }
  const half = (s.length - 1) / 2;
  if (Number.isInteger(half) && s[half] === ' ' && s.slice(2, half) === s.slice(half + 3)) {
    return [stripPrefix(s.slice(0, half)), stripPrefix(s.slice(half + 1))];
  }
  const at = s.indexOf(' b/');
  if (at > 0) return [stripPrefix(s.slice(0, at)), stripPrefix(s.slice(at + 1))];
  return [stripPrefix(s), stripPrefix(s)];
}

/** Parse unified diff text. Unknown lines between files are ignored. */
export function parseDiff(text: string): ParsedDiff {
  const files: DiffFile[] = [];
  let file: DiffFile | undefined;
  let oldLine = 0;
  let newLine = 0;
  let oldLeft = 0;
  let newLeft = 0;
  const start = (oldPath: string, newPath: string): DiffFile => {
    const f: DiffFile = {
      path: newPath,
      oldPath,
      status: 'modified',
      binary: false,
      added: [],
      removed: [],
    };
    files.push(f);
    return f;
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith('diff --git ')) {
      const [a, b] = headerPaths(line.slice('diff --git '.length));
      file = start(a, b);
      continue;
    }
    if (file && (oldLeft > 0 || newLeft > 0)) {
      if (line.startsWith('+')) {
        file.added.push({ line: newLine++, text: line.slice(1) });
        newLeft--;
        continue;
      }
      if (line.startsWith('-')) {
        file.removed.push({ line: oldLine++, text: line.slice(1) });
        oldLeft--;
        continue;
      }
      if (line.startsWith(' ') || line === '') {
        oldLine++;
        newLine++;
        oldLeft--;
        newLeft--;
        continue;
      }
      if (line.startsWith('\\')) continue;
      oldLeft = 0;
      newLeft = 0;
    }
    if (file && line.startsWith('\\')) continue;
    const hunk = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (hunk) {
      if (!file) file = start('', '');
      oldLine = Number(hunk[1]);
      oldLeft = hunk[2] === undefined ? 1 : Number(hunk[2]);
      newLine = Number(hunk[3]);
      newLeft = hunk[4] === undefined ? 1 : Number(hunk[4]);
      continue;
    }
    if (line.startsWith('--- ')) {
      const oldPath = stripPrefix(line.slice(4).split('\t')[0] as string);
      const next = lines[i + 1] ?? '';
      const newPath = next.startsWith('+++ ') ? stripPrefix(next.slice(4).split('\t')[0] as string) : oldPath;
      if (
        !file ||
        file.added.length + file.removed.length > 0 ||
        (file.path !== '' && !sameFile(file, oldPath, newPath))
      ) {
        file = start(oldPath, newPath);
      }
      if (oldPath === '/dev/null') file.status = 'added';
      else file.oldPath = oldPath;
      if (newPath === '/dev/null') {
        file.status = 'deleted';
        file.path = file.oldPath;
      } else file.path = newPath;
      if (next.startsWith('+++ ')) i++;
      continue;
    }
    if (!file) continue;
    if (line.startsWith('new file mode ')) {
      file.status = 'added';
      file.mode = line.slice('new file mode '.length).trim();
    } else if (line.startsWith('deleted file mode ')) {
      file.status = 'deleted';
      file.path = file.oldPath;
    } else if (line.startsWith('new mode ')) file.mode = line.slice('new mode '.length).trim();
    else if (line.startsWith('index ')) {
      const m = /\s(\d{6})$/.exec(line);
      if (m) file.mode = m[1];
    } else if (line.startsWith('rename from ')) {
      file.oldPath = unquote(line.slice('rename from '.length));
      file.status = 'renamed';
    } else if (line.startsWith('rename to ')) {
      file.path = unquote(line.slice('rename to '.length));
      file.status = 'renamed';
    } else if (line.startsWith('Binary files ') || line === 'GIT binary patch') file.binary = true;
  }
  return { files };
}

function sameFile(file: DiffFile, oldPath: string, newPath: string): boolean {
  return (oldPath === '/dev/null' || oldPath === file.oldPath) && (newPath === '/dev/null' || newPath === file.path);
}
