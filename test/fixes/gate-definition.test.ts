import { describe, expect, it } from 'vitest';
import { policySchema } from '../../src/config/schema/fixes.js';
import { parseDiff } from '../../src/fixes/diff.js';
import { gateDefinitionFiles, pathsNamedBy, scriptsChanged } from '../../src/fixes/gate-definition.js';
import { checkPolicy } from '../../src/fixes/policy.js';

const diffOf = (file: string, added: string[], removed: string[] = []) =>
  `diff --git a/${file} b/${file}\nindex 1111111..2222222 100644\n--- a/${file}\n+++ b/${file}\n@@ -1,${removed.length} +1,${added.length} @@\n${removed.map((l) => `-${l}\n`).join('')}${added.map((l) => `+${l}\n`).join('')}`;

describe('what defines the gate (pure)', () => {
  it('finds the scripts a command names', () => {
    expect(pathsNamedBy('sh scripts/test.sh && node ./check.js --flag=x')).toEqual(['scripts/test.sh', 'check.js']);
    expect(pathsNamedBy('npm test')).toEqual([]);
    expect(pathsNamedBy('/usr/bin/node ../outside.js https://x.example/a.js')).toEqual([]);
  });

  it('the gate definition of a tree: package.json, test-runner configs, named scripts that exist', () => {
    const files = [
      'package.json',
      'vitest.config.ts',
      'scripts/ci.sh',
      'scripts/other.sh',
      'src/a.js',
      'web/jest.config.js',
    ];
    expect(gateDefinitionFiles(files, ['sh scripts/ci.sh'], { test: 'vitest run && node tools/missing.js' })).toEqual([
      'package.json',
      'scripts/ci.sh',
      'vitest.config.ts',
      'web/jest.config.js',
    ]);
  });

  it('a fix that changes package.json scripts, test config, git metadata or a gate script breaks the policy', () => {
    const before = '{ "scripts": { "test": "node --test" } }';
    const after = '{ "scripts": { "test": "exit 0" } }';
    expect(scriptsChanged(before, after)).toBe(true);
    expect(scriptsChanged(before, '{ "scripts": { "test": "node --test" }, "version": "2.0.0" }')).toBe(false);
    const policy = policySchema.parse({});
    const pkg = checkPolicy(
      parseDiff(diffOf('package.json', ['"test": "exit 0"'], ['"test": "node --test"'])),
      policy,
      {
        packageJson: [{ path: 'package.json', before, after }],
      },
    );
    expect(pkg.violations.map((v) => v.message)).toEqual([expect.stringContaining('changes "scripts"')]);
    for (const file of [
      'vitest.config.ts',
      '.gitattributes',
      'sub/.gitattributes',
      '.husky/pre-commit',
      '.gitmodules',
      'pytest.ini',
    ]) {
      expect(checkPolicy(parseDiff(diffOf(file, ['x'])), policy).violations[0]?.rule, file).toBe('protected_path');
    }
    const named = checkPolicy(parseDiff(diffOf('scripts/ci.sh', ['exit 0'])), policy, { gateFiles: ['scripts/ci.sh'] });
    expect(named.violations[0]?.rule).toBe('protected_path');
    expect(checkPolicy(parseDiff(diffOf('src/ci.sh', ['x'])), policy, { gateFiles: ['scripts/ci.sh'] }).ok).toBe(true);
  });
});
