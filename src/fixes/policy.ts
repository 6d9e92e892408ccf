/**
 * The fix policy: pure checks over a parsed diff. Every violation names the rule, the file and,
 * where there is one, the line, so a human (or the agent, on a retry) knows exactly what to change.
 */
import type { PolicyConfig } from '../config/index.js';
import { firstMatch, matchesGlob } from '../consult/index.js';
import type { DiffFile, ParsedDiff } from './diff.js';
import { linesChanged } from './diff.js';
import { GIT_METADATA, scriptsChanged, TEST_RUNNER_CONFIGS } from './gate-definition.js';

/** Risk a fix carries, as the agent judged it. */
export type Risk = 'low' | 'medium' | 'high';

/** The rule a violation broke. */
export type PolicyRule =
  | 'protected_path'
  | 'max_files'
  | 'max_lines'
  | 'skipped_test'
  | 'deleted_test'
  | 'eval'
  | 'new_dependency'
  | 'forbidden_pattern'
  | 'submodule';

/** One policy violation. */
export interface PolicyViolation {
  rule: PolicyRule;
  /** File the violation is in, when it is about one file. */
  file?: string | undefined;
  /** Line in the new file (or the old file for removals). */
  line?: number | undefined;
  /** A precise, human-readable reason. */
  message: string;
}

/** The outcome of {@link checkPolicy}. */
export interface PolicyResult {
  ok: boolean;
  violations: PolicyViolation[];
  filesChanged: number;
  linesChanged: number;
  /** True unless the policy lets this fix deploy without a human. */
  needsApproval: boolean;
}

/** Extra facts a check can use when it has them (e.g. from a branch, not a bare diff file). */
export interface PolicyInput {
  risk?: Risk | undefined;
  /** `package.json` before and after, for an exact dependency comparison. */
  packageJson?: { path: string; before?: string | undefined; after?: string | undefined }[];
  /** Repository-relative path of the dancer config file, when it lives in the repository. */
  configPath?: string | undefined;
  /** Files the gate steps and package.json scripts name (see `gateDefinitionFiles`): protected too. */
  gateFiles?: readonly string[] | undefined;
}

/**
 * Globs protected by default: Dancer's config, CI files, migrations, and what defines the gate
 * and the review (test-runner config, git attributes, submodules and hooks). `package.json`
 * scripts are protected by a separate check, and lockfiles unless dependencies are allowed.
 */
export const DEFAULT_PROTECTED_PATHS: readonly string[] = [
  'dancer.yaml',
  'dancer.yml',
  '.github/**',
  '.ci/**',
  '.gitlab-ci.yml',
  '.circleci/**',
  '.travis.yml',
  'azure-pipelines.yml',
  'bitbucket-pipelines.yml',
  '.buildkite/**',
  '.drone.yml',
  '.woodpecker/**',
  'Jenkinsfile',
  '**/migrations/**',
  ...GIT_METADATA,
  ...TEST_RUNNER_CONFIGS,
];

/** Lockfiles, protected unless `policy.allowDependencies`. */
export const LOCKFILES: readonly string[] = [
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lockb',
  'bun.lock',
];

/** Globs that mark a file as a test. */
export const TEST_FILE_GLOBS: readonly string[] = [
  '**/*.test.*',
  '**/*.spec.*',
  '**/test/**',
  '**/tests/**',
  '**/__tests__/**',
  '**/*_test.*',
  '**/test_*.py',
];

const SKIP_PATTERNS: { re: RegExp; what: string }[] = [
  { re: /\b(?:it|test|describe|suite|context)\.(?:skip|only|todo)\s*\(/, what: 'skips or narrows tests' },
  { re: /\b(?:xit|xtest|xdescribe|fit|fdescribe)\s*\(/, what: 'skips or narrows tests' },
  { re: /\b(?:skip|only|todo)\s*:\s*(?:true|['"`])/, what: 'skips tests (node:test option)' },
  { re: /\bt\.skip\s*\(|\bthis\.skip\s*\(/, what: 'skips a test at run time' },
  { re: /@pytest\.mark\.skip|@unittest\.skip/, what: 'skips tests' },
];

const EVAL_PATTERNS: RegExp[] = [/(?<![\w.])eval\s*\(/, /\bnew\s+Function\s*\(/];
const TEST_DECL = /\b(?:it|test)(?:\.\w+)?\s*\(\s*['"`]/g;
const TEST_DECL_ONE = new RegExp(TEST_DECL.source);

function countTests(lines: { text: string }[]): number {
  let n = 0;
  for (const l of lines) n += (l.text.match(TEST_DECL) ?? []).length;
  return n;
}

/** The protected globs in force for `policy`. */
export function protectedGlobs(policy: PolicyConfig, configPath?: string, gateFiles: readonly string[] = []): string[] {
  const globs = [...policy.protectedPaths];
  if (policy.defaultProtectedPaths) {
    globs.push(...DEFAULT_PROTECTED_PATHS);
    if (!policy.allowDependencies) globs.push(...LOCKFILES);
    // Anchored: the exact files the gate runs, not every file of that name.
    globs.push(...gateFiles.filter((f) => f !== 'package.json').map((f) => (f.includes('/') ? f : `/${f}`)));
  }
  if (configPath) globs.push(configPath);
  return [...new Set(globs)];
}

function isTestFile(file: string): boolean {
  return firstMatch(file, TEST_FILE_GLOBS) !== undefined;
}

const DEP_SECTIONS = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'] as const;

function depsOf(json: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!json) return out;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return out;
  }
  for (const section of DEP_SECTIONS) {
    const deps = parsed[section];
    if (deps && typeof deps === 'object') for (const name of Object.keys(deps)) out.set(name, section);
  }
  return out;
}

function dependencyViolations(file: DiffFile, input: PolicyInput): PolicyViolation[] {
  const exact = input.packageJson?.find((p) => p.path === file.path);
  if (exact) {
    const before = depsOf(exact.before);
    const after = depsOf(exact.after);
    return [...after.entries()]
      .filter(([name]) => !before.has(name))
      .map(([name, section]) => ({
        rule: 'new_dependency' as const,
        file: file.path,
        message: `${file.path}: adds ${section} "${name}"; new dependencies are not allowed (policy.allowDependencies)`,
      }));
  }
  // A bare diff: an added `"name": "range"` line whose key was not removed is a new dependency.
  const entry =
    /^\s*"((?:@[\w.-]+\/)?[\w.-]+)"\s*:\s*"((?:[\^~<>=*]|\d|latest|file:|git|https?:|npm:|workspace:)[^"]*)"/;
  const removed = new Set(file.removed.map((l) => entry.exec(l.text)?.[1]).filter(Boolean));
  const out: PolicyViolation[] = [];
  for (const l of file.added) {
    const m = entry.exec(l.text);
    if (!m || m[1] === 'version' || m[1] === 'node' || removed.has(m[1])) continue;
    out.push({
      rule: 'new_dependency',
      file: file.path,
      line: l.line,
      message: `${file.path}:${l.line}: adds dependency "${m[1]}"; new dependencies are not allowed (policy.allowDependencies)`,
    });
  }
  return out;
}

/**
 * Check a diff against the policy. Pure: the same diff, policy and input give the same result.
 */
export function checkPolicy(diff: ParsedDiff, policy: PolicyConfig, input: PolicyInput = {}): PolicyResult {
  const violations: PolicyViolation[] = [];
  const globs = protectedGlobs(policy, input.configPath, input.gateFiles);
  for (const file of diff.files) {
    const pkg = input.packageJson?.find((p) => p.path === file.path);
    if (policy.defaultProtectedPaths && pkg && scriptsChanged(pkg.before, pkg.after)) {
      violations.push({
        rule: 'protected_path',
        file: file.path,
        message: `${file.path}: changes "scripts"; package.json scripts define the gate and are protected`,
      });
    }
    for (const p of new Set([file.path, file.oldPath])) {
      if (!p || p === '/dev/null') continue;
      const glob = globs.find((g) => matchesGlob(p, g));
      if (glob) {
        const isLock = LOCKFILES.some((l) => matchesGlob(p, l));
        violations.push({
          rule: 'protected_path',
          file: p,
          message: `${p} is protected (matches "${glob}")${isLock ? '; lockfiles change only when policy.allowDependencies is true' : ''}`,
        });
      }
    }
    if (file.mode === '160000') {
      violations.push({
        rule: 'submodule',
        file: file.path,
        message: `${file.path}: a fix may not change a submodule`,
      });
    }
    if (isTestFile(file.oldPath) && file.status === 'deleted') {
      violations.push({ rule: 'deleted_test', file: file.oldPath, message: `${file.oldPath}: deletes a test file` });
    } else if (isTestFile(file.oldPath) && file.status === 'renamed' && !isTestFile(file.path)) {
      violations.push({
        rule: 'deleted_test',
        file: file.oldPath,
        message: `${file.oldPath}: renamed to ${file.path}, which is no longer a test file`,
      });
    } else if (isTestFile(file.path) || isTestFile(file.oldPath)) {
      const lost = countTests(file.removed) - countTests(file.added);
      if (lost > 0) {
        const first = file.removed.find((l) => TEST_DECL_ONE.test(l.text));
        violations.push({
          rule: 'deleted_test',
          file: file.path,
          line: first?.line,
          message: `${file.path}: removes ${lost} test case${lost === 1 ? '' : 's'}${first ? ` (old line ${first.line}: ${first.text.trim()})` : ''}`,
        });
      }
    }
    for (const l of file.added) {
      for (const s of SKIP_PATTERNS) {
        if (s.re.test(l.text)) {
          violations.push({
            rule: 'skipped_test',
            file: file.path,
            line: l.line,
            message: `${file.path}:${l.line}: ${s.what}: ${l.text.trim()}`,
          });
          break;
        }
      }
      if (!policy.allowEval && EVAL_PATTERNS.some((re) => re.test(l.text))) {
        violations.push({
          rule: 'eval',
          file: file.path,
          line: l.line,
          message: `${file.path}:${l.line}: uses eval or new Function: ${l.text.trim()}`,
        });
      }
      for (const f of policy.forbiddenPatterns) {
        if (new RegExp(f.pattern).test(l.text)) {
          violations.push({
            rule: 'forbidden_pattern',
            file: file.path,
            line: l.line,
            message: `${file.path}:${l.line}: ${f.reason} (matches /${f.pattern}/): ${l.text.trim()}`,
          });
        }
      }
    }
    if (!policy.allowDependencies && matchesGlob(file.path, 'package.json')) {
      violations.push(...dependencyViolations(file, input));
    }
  }
  const filesChanged = diff.files.length;
  const lines = linesChanged(diff);
  if (filesChanged > policy.maxFiles) {
    violations.push({
      rule: 'max_files',
      message: `changes ${filesChanged} files; the policy allows at most ${policy.maxFiles} (policy.maxFiles)`,
    });
  }
  if (lines > policy.maxLines) {
    violations.push({
      rule: 'max_lines',
      message: `changes ${lines} lines (added + removed); the policy allows at most ${policy.maxLines} (policy.maxLines)`,
    });
  }
  return {
    ok: violations.length === 0,
    violations,
    filesChanged,
    linesChanged: lines,
    needsApproval: needsApproval(policy, input.risk),
  };
}

/** Whether a fix of `risk` must wait for a human: medium, high and unknown risk always do. */
export function needsApproval(policy: Pick<PolicyConfig, 'autoApprove'>, risk: Risk | undefined): boolean {
  return !(policy.autoApprove === 'low' && risk === 'low');
}

/** One line per violation, for error messages and the CLI. */
export function formatViolations(violations: readonly PolicyViolation[]): string {
  return violations.map((v) => `- [${v.rule}] ${v.message}`).join('\n');
}
