import { mkdirSync, mkdtempSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandAllowed, decideToolUse, type GuardPolicy, matchesAny } from '../../src/consult/guard.js';
import { checkOutcome } from '../../src/consult/outcome.js';

const wt = '/work/tree';
const policy: GuardPolicy = {
  worktree: wt,
  protectedPaths: ['migrations/', '*.lock', 'config/**', '.github/workflows/*.yml'],
  allowedCommands: ['npm test', 'npx vitest run'],
  mcpTools: ['mcp__dancer__submit_outcome'],
};
const id = (p: string) => p;
const decide = (toolName: string, toolInput: Record<string, unknown>) =>
  decideToolUse({ toolName, toolInput, cwd: wt }, policy, id);

describe('guard', () => {
  it.each([
    ['Read', { file_path: '/work/tree/src/a.ts' }],
    ['Read', { file_path: 'src/a.ts' }],
    ['Read', { file_path: 'config/prod.json' }],
    ['Grep', { pattern: 'x' }],
    ['Glob', { pattern: 'src/**/*.ts' }],
    ['Edit', { file_path: 'src/a.ts', old_string: 'a', new_string: 'b' }],
    ['Write', { file_path: 'test/a.test.ts', content: '' }],
    ['Bash', { command: 'npm test' }],
    ['Bash', { command: 'npx vitest run test/a.test.ts --reporter=dot' }],
    ['mcp__dancer__submit_outcome', { kind: 'ignore' }],
  ])('allows %s %j', (tool, input) => {
    expect(decide(tool, input)).toEqual({ allow: true });
  });

  it.each([
    ['Read', { file_path: '/etc/passwd' }, /outside the worktree/],
    ['Read', { file_path: '../other/secret' }, /outside the worktree/],
    ['Read', { file_path: '~/.ssh/id_rsa' }, /outside the worktree/],
    ['Read', { file_path: '.git/config' }, /\.git/],
    ['Grep', { pattern: 'x', path: '/' }, /outside the worktree/],
    ['Glob', { pattern: '/etc/**' }, /outside the worktree/],
    ['Glob', { pattern: '../**/*.env' }, /outside the worktree/],
    ['Write', { file_path: '/tmp/x', content: '' }, /outside the worktree/],
    ['Write', { file_path: 'sub/.git/hooks/pre-commit', content: '' }, /\.git/],
    ['Edit', { file_path: 'migrations/001.sql' }, /protected path/],
    ['Write', { file_path: 'package.lock', content: '' }, /protected path/],
    ['Write', { file_path: 'config/a/b.json', content: '' }, /protected path/],
    ['Write', { file_path: '.github/workflows/ci.yml', content: '' }, /protected path/],
    ['Bash', { command: 'npm test; curl evil' }, /Shell operators/],
    ['Bash', { command: 'npm test && rm -rf /' }, /Shell operators/],
    ['Bash', { command: 'npm test $(cat /etc/passwd)' }, /Shell operators/],
    ['Bash', { command: 'npm testx' }, /not allowed/],
    ['Bash', { command: 'npm install evil' }, /not allowed/],
    ['Bash', { command: 'npm test', run_in_background: true }, /Background/],
    ['WebFetch', { url: 'http://x' }, /not available/],
    ['Agent', {}, /not available/],
    ['mcp__other__tool', {}, /not available/],
  ])('denies %s %j', (tool, input, reason) => {
    const d = decide(tool, input);
    expect(d.allow).toBe(false);
    if (!d.allow) expect(d.reason).toMatch(reason);
  });

  it('follows symlinks that lead out of the worktree', () => {
    const root = realpathSync(mkdtempSync(path.join(tmpdir(), 'dancer-guard-')));
    const tree = path.join(root, 'tree');
    mkdirSync(tree);
    symlinkSync('/etc', path.join(tree, 'etc-link'));
    const p = { ...policy, worktree: tree };
    const real = (abs: string) => {
      try {
        return realpathSync(abs);
      } catch {
        return abs;
      }
    };
    const d = decideToolUse({ toolName: 'Read', toolInput: { file_path: 'etc-link/passwd' }, cwd: tree }, p, real);
    expect(d.allow).toBe(false);
  });

  it('matches protected globs', () => {
    expect(matchesAny('db/migrations/1.sql', ['migrations/'])).toBe(false);
    expect(matchesAny('migrations/1.sql', ['migrations/'])).toBe(true);
    expect(matchesAny('a/b/yarn.lock', ['*.lock'])).toBe(true);
    expect(matchesAny('src/{a,b}.ts', ['src/*.ts'])).toBe(true);
    expect(commandAllowed('npm test', [])).toMatchObject({ allow: false });
  });
});

describe('outcome contract', () => {
  it('accepts each kind with its fields and rejects incomplete ones with actionable problems', () => {
    expect(checkOutcome({ kind: 'ignore', why: 'noise', summary: undefined })).toMatchObject({ ok: true });
    expect(checkOutcome({ kind: 'escalate', why: 'x', where: 'y' })).toMatchObject({ ok: true });
    expect(checkOutcome({ kind: 'improve_logging', summary: 's', filesChanged: ['a'], missing: 'm' })).toMatchObject({
      ok: true,
      outcome: { risk: 'low' },
    });
    const bad = checkOutcome({ kind: 'fix', summary: 's', confidence: 2 });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.problems.join('\n')).toMatch(/rootCause/);
      expect(bad.problems.join('\n')).toMatch(/confidence/);
    }
    expect(checkOutcome({ kind: 'ignore', why: 'x', where: 'extra' }).ok).toBe(false);
    expect(checkOutcome({ kind: 'nope' }).ok).toBe(false);
  });
});
