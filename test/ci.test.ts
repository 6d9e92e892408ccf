import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const summary = (dir: string, status: number) =>
  spawnSync(process.execPath, [path.join(ROOT, '.ci/summary.mjs'), dir, String(status)], { encoding: 'utf8' });

describe('CI', () => {
  it('ends a run with one "N passed, N failed" line summed over the reports', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-ci-'));
    try {
      writeFileSync(path.join(dir, 'test:unit.json'), JSON.stringify({ numPassedTests: 700, numFailedTests: 0 }));
      writeFileSync(
        path.join(dir, 'test:e2e.json'),
        JSON.stringify({ numPassedTests: 40, numFailedTests: 2, numPendingTests: 1 }),
      );
      const r = summary(dir, 1);
      expect(r.stdout).toBe('740 passed, 2 failed, 1 skipped\n');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a green npm test without a report is not shown as fine; a stopped one says so', () => {
    const green = summary('/nonexistent-dancer-dir', 0);
    expect(green.status).toBe(1);
    expect(green.stdout).toMatch(/no test report .* although npm test passed/);
    const stopped = summary('/nonexistent-dancer-dir', 2);
    expect(stopped.status).toBe(0);
    expect(stopped.stdout).toMatch(/stopped before the tests \(exit 2\)/);
  });

  it('.ci/run makes vitest write its reports (CI set), as vitest.config.ts expects', () => {
    expect(readFileSync(path.join(ROOT, '.ci/run'), 'utf8')).toMatch(/^export CI=/m);
    expect(readFileSync(path.join(ROOT, 'vitest.config.ts'), 'utf8')).toMatch(/process\.env\.CI/);
  });

  it("npm's own errors are not hidden in this repository (no loglevel=silent)", () => {
    const npmrc = path.join(ROOT, '.npmrc');
    if (existsSync(npmrc)) expect(readFileSync(npmrc, 'utf8')).not.toMatch(/^\s*loglevel\s*=\s*silent/m);
    const r = spawnSync('npm', ['run', 'nonexistent-script-for-test'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Missing script/);
  });
});
