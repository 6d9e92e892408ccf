/**
 * What defines the gate and the review, as pure functions: the files a fix must not change and
 * the gate reads from the base commit, never from the fix (package.json, test-runner config,
 * scripts the gate steps and package.json scripts name, git and CI metadata).
 */
import { matchesGlob } from '../consult/index.js';

/** Test-runner configuration files (any folder). */
export const TEST_RUNNER_CONFIGS: readonly string[] = [
  'vitest.config.*',
  'vitest.workspace.*',
  'vite.config.*',
  'jest.config.*',
  'jest.setup.*',
  '.mocharc*',
  'karma.conf.*',
  'playwright.config.*',
  'cypress.config.*',
  'ava.config.*',
  '.nycrc*',
  '.c8rc*',
  '.taprc',
  'pytest.ini',
  'conftest.py',
  'tox.ini',
  'noxfile.py',
];

/** Git metadata and hooks that change what git or a reviewer sees. */
export const GIT_METADATA: readonly string[] = [
  '.gitattributes',
  '**/.gitattributes',
  '.gitmodules',
  '.githooks/**',
  '.husky/**',
  'lefthook.yml',
  '.pre-commit-config.yaml',
];

const FILE_TOKEN = /^(?:\.\/)?[\w@.-][\w@./-]*$/;
const SCRIPT_EXT = /\.(?:sh|bash|js|mjs|cjs|ts|mts|cts|py|rb|pl|json|ya?ml|toml|cfg|ini)$/;

/**
 * Repository-relative files a shell command names: tokens that look like a relative path with a
 * folder or a script extension (`scripts/test.sh`, `./check.js`, `test/run.mjs`).
 */
export function pathsNamedBy(command: string): string[] {
  const out = new Set<string>();
  for (const raw of command.split(/[\s;&|()<>'"`=]+/)) {
    if (!raw || raw.startsWith('-') || raw.startsWith('/') || raw.includes('..') || raw.includes('://')) continue;
    if (!FILE_TOKEN.test(raw)) continue;
    const token = raw.replace(/^\.\//, '').replace(/\/+$/, '');
    if (token.includes('/') || SCRIPT_EXT.test(token)) out.add(token);
  }
  return [...out];
}

/** The `scripts` of a package.json text ({} when it has none or does not parse). */
export function packageScripts(json: string | undefined): Record<string, string> {
  if (!json) return {};
  try {
    const scripts = (JSON.parse(json) as { scripts?: unknown }).scripts;
    if (!scripts || typeof scripts !== 'object') return {};
    return Object.fromEntries(Object.entries(scripts).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

const RUN_SCRIPT = /\b(?:npm|pnpm|yarn)\s+(?:run(?:-script)?\s+)?(?:--if-present\s+)?([\w:.-]+)/g;
const LIFECYCLE: Record<string, string[]> = {
  ci: ['preinstall', 'install', 'postinstall', 'prepare'],
  install: ['preinstall', 'install', 'postinstall', 'prepare'],
  i: ['preinstall', 'install', 'postinstall', 'prepare'],
  t: ['pretest', 'test', 'posttest'],
};

/** The package.json scripts `commands` run (`npm test`, `npm run build`, their pre/post scripts, and what those run). */
export function scriptsRunBy(commands: readonly string[], scripts: Readonly<Record<string, string>>): string[] {
  const out = new Set<string>();
  const visit = (command: string) => {
    for (const m of command.matchAll(RUN_SCRIPT)) {
      const name = m[1] as string;
      for (const s of LIFECYCLE[name] ?? [`pre${name}`, name, `post${name}`]) {
        if (scripts[s] === undefined || out.has(s)) continue;
        out.add(s);
        visit(scripts[s]);
      }
    }
  };
  for (const c of commands) visit(c);
  return [...out];
}

/**
 * The gate definition of a tree: package.json, test-runner configs present in `files`, and the
 * files present in `files` that the gate steps or the package.json scripts they run name.
 */
export function gateDefinitionFiles(
  files: readonly string[],
  stepCommands: readonly string[],
  scripts: Readonly<Record<string, string>>,
): string[] {
  const present = new Set(files);
  const out = new Set<string>();
  for (const f of files) {
    if (f === 'package.json' || TEST_RUNNER_CONFIGS.some((g) => matchesGlob(f, g))) out.add(f);
  }
  const run = scriptsRunBy(stepCommands, scripts).map((name) => scripts[name] as string);
  for (const command of [...stepCommands, ...run]) {
    for (const p of pathsNamedBy(command)) if (present.has(p)) out.add(p);
  }
  return [...out].sort();
}

/** True when the `scripts` of two package.json texts differ. */
export function scriptsChanged(before: string | undefined, after: string | undefined): boolean {
  const a = packageScripts(before);
  const b = packageScripts(after);
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].some((k) => a[k] !== b[k]);
}
