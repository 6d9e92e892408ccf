import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectProject } from '../../src/cli/init-detect.js';
import { nodeReportPlan } from '../../src/cli/init-report.js';
import { scanProject } from '../../src/cli/init-scan.js';
import { renderDancerYaml } from '../../src/cli/init-yaml.js';
import { buildSteps } from '../../src/fixes/honesty-step.js';
import { NODE_REPORTER_SOURCE, parseReport } from '../../src/fixes/test-report.js';
import { loadConfigText } from './init-helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Go is optional here (Debian golang-go); without it the Go report is tested on hand-written events. */
const hasGo = spawnSync('go', ['version']).status === 0;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project folder with these files (node_modules linked to Dancer's own when asked). */
function project(files: Record<string, string>, linkModules = false): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-init-report-'));
  dirs.push(dir);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), text);
  }
  if (linkModules) symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Run the report command `dancer init` wrote, as the gate does (sh, {reporter} and {output} filled). */
function runReport(dir: string, yaml: string, env: Record<string, string> = {}) {
  const report = loadConfigText(yaml).config.fixes.gate.report;
  const reporter = path.join(dir, 'reporter.mjs');
  const output = path.join(dir, 'report.out');
  writeFileSync(reporter, NODE_REPORTER_SOURCE);
  const command = report.command.replaceAll('{reporter}', reporter).replaceAll('{output}', output);
  try {
    execFileSync('/bin/sh', ['-c', command], { cwd: dir, stdio: 'pipe', env: { ...process.env, CI: '1', ...env } });
  } catch {
    // a failing suite exits non-zero; the report is what counts
  }
  return parseReport(report.format, readFileSync(output, 'utf8'), dir);
}

const SERVER = "import http from 'node:http';\nhttp.createServer((q, s) => s.end('ok')).listen(process.env.PORT);\n";

describe('dancer init: a test report for the runner', () => {
  it('a real Vitest project: the written report command runs and counts tests per file', () => {
    const dir = project(
      {
        'package.json': JSON.stringify({
          name: 'vt',
          type: 'module',
          scripts: { start: 'node server.js', test: 'vitest run' },
          devDependencies: { vitest: '^4' },
        }),
        'server.js': SERVER,
        'test/sum.test.js': [
          "import { expect, it } from 'vitest';",
          "it('adds', () => expect(1 + 1).toBe(2));",
          "it('subtracts', () => expect(2 - 1).toBe(1));",
          "it.skip('later', () => expect(0).toBe(1));",
          "it('fails', () => expect(1).toBe(2));",
        ].join('\n'),
      },
      true,
    );
    const plan = detectProject(scanProject(dir));
    expect(plan.report).toMatchObject({ runner: 'vitest', format: 'json' });
    const yaml = renderDancerYaml(plan);
    expect(yaml).toContain('report: { command: "npx vitest run --reporter=json --outputFile={output}", format: json }');
    const report = runReport(dir, yaml);
    expect(report.total).toMatchObject({ tests: 4, pass: 2, fail: 1, skip: 1 });
    expect(Object.keys(report.files)).toEqual(['test/sum.test.js']);
  }, 120_000);

  it('a real node --test project keeps its own test arguments', () => {
    const dir = project({
      'package.json': JSON.stringify({ name: 'nt', scripts: { start: 'node server.js', test: 'node --test spec/' } }),
      'server.js': SERVER,
      'spec/a.test.js':
        "const t = require('node:test');\nt.test('one', () => {});\nt.test('two', { skip: true }, () => {});\n",
      'test/not-this.test.js': "require('node:test').test('outside the script', () => {});\n",
    });
    const plan = detectProject(scanProject(dir));
    expect(plan.report?.command).toBe(
      'node --test --test-reporter={reporter} --test-reporter-destination={output} spec/',
    );
    const report = runReport(dir, renderDancerYaml(plan));
    expect(report.total).toMatchObject({ tests: 2, pass: 1, skip: 1 });
  }, 60_000);

  it('a Jest-shaped project (jest not installed here) gets a --json report the config accepts', () => {
    const dir = project({
      'package.json': JSON.stringify({
        name: 'jt',
        scripts: { start: 'node server.js', test: 'jest --coverage' },
        devDependencies: { jest: '^29', 'ts-jest': '^29' },
      }),
      'server.js': SERVER,
      '__tests__/a.test.js': "test('a', () => expect(1).toBe(1));\n",
    });
    const plan = detectProject(scanProject(dir));
    const config = loadConfigText(renderDancerYaml(plan)).config.fixes.gate.report;
    expect(config).toMatchObject({ command: 'npx jest --ci --json --outputFile={output}', format: 'json' });
  });

  it('recognises runners from scripts and dependencies', () => {
    const plan = (testScript: string, dependencies: string[] = []) => nodeReportPlan({ testScript, dependencies });
    expect(plan('mocha --recursive')?.format).toBe('tap');
    expect(plan('npm run build && NODE_ENV=test vitest run')?.runner).toBe('vitest');
    expect(plan('./node_modules/.bin/jest')?.runner).toBe('jest');
    expect(plan('node --import tsx --test test/*.ts')?.command).toBe(
      'node --import tsx --test --test-reporter={reporter} --test-reporter-destination={output} test/*.ts',
    );
    expect(plan('run-s test:*', ['mocha'])?.runner).toBe('mocha');
    expect(plan('make check')).toBeUndefined();
    expect(plan('echo jester')).toBeUndefined();
  });

  it('a real pytest project: the written JUnit XML report runs and counts tests per file', () => {
    const dir = project({
      'app.py': "if __name__ == '__main__':\n    pass\n",
      'prices.py': "def price(sku):\n    return {'a1': 10}[sku.lower()]\n",
      'tests/test_prices.py': [
        'import pytest',
        'from prices import price',
        '',
        'def test_a1():',
        "    assert price('a1') == 10",
        '',
        'def test_upper():',
        "    assert price('A1') == 10",
        '',
        "@pytest.mark.skip(reason='later')",
        'def test_later():',
        "    assert price('b2') == 20",
        '',
        'def test_fails():',
        "    assert price('a1') == 11",
        '',
        'class TestTable:',
        '    def test_unknown(self):',
        '        with pytest.raises(KeyError):',
        "            price('zz')",
        '',
        '    @pytest.mark.xfail',
        '    def test_someday(self):',
        "        assert price('b2') == 20",
      ].join('\n'),
      'test_root.py': 'def test_root():\n    assert 1 + 1 == 2\n',
    });
    const plan = detectProject(scanProject(dir));
    expect(plan.report).toMatchObject({ runner: 'pytest', format: 'junit' });
    expect(plan.todo.join('\n')).not.toMatch(/pytest/);
    const yaml = renderDancerYaml(plan);
    expect(yaml).toContain(
      'report: { command: "python3 -m pytest -q -p no:cacheprovider --junitxml={output}", format: junit }',
    );
    const report = runReport(dir, yaml);
    expect(report.files).toEqual({
      'tests/test_prices.py': { tests: 6, pass: 3, fail: 1, skip: 2, todo: 0 },
      'test_root.py': { tests: 1, pass: 1, fail: 0, skip: 0, todo: 0 },
    });
  }, 60_000);

  it.skipIf(!hasGo)(
    'a real Go module: the written go test -json report runs and counts tests per package',
    () => {
      const dir = project({
        'go.mod': 'module example.com/shop\n\ngo 1.19\n',
        'main.go':
          'package main\n\nimport "example.com/shop/pricing"\n\nfunc main() { println(pricing.Price("a1")) }\n',
        'pricing/pricing.go':
          'package pricing\n\nimport "strings"\n\nfunc Price(sku string) int { return map[string]int{"a1": 10}[strings.ToLower(sku)] }\n',
        'pricing/pricing_test.go': [
          'package pricing',
          '',
          'import "testing"',
          '',
          'func TestA1(t *testing.T) { if Price("a1") != 10 { t.Fatal("a1") } }',
          'func TestLater(t *testing.T) { t.Skip("later") }',
          'func TestFails(t *testing.T) { if Price("a1") != 11 { t.Errorf("want 11") } }',
          'func TestTable(t *testing.T) {',
          '\tfor _, sku := range []string{"a1", "A1"} {',
          '\t\tt.Run(sku, func(t *testing.T) { if Price(sku) != 10 { t.Fatal(sku) } })',
          '\t}',
          '}',
        ].join('\n'),
        'empty/empty.go': 'package empty\n',
      });
      const plan = detectProject(scanProject(dir));
      const yaml = renderDancerYaml(plan);
      expect(loadConfigText(yaml).config.fixes.gate.report).toMatchObject({
        command: 'go test -json ./... > {output}',
        format: 'go-json',
      });
      expect(plan.todo.join('\n')).not.toMatch(/go test/);
      const gocache = mkdtempSync(path.join(tmpdir(), 'dancer-gocache-'));
      dirs.push(gocache);
      const report = runReport(dir, yaml, { GOCACHE: gocache, GOPROXY: 'off', GOFLAGS: '-mod=mod' });
      // TestTable is a suite: its two subtests are the tests
      expect(report.files).toEqual({ 'example.com/shop/pricing': { tests: 5, pass: 3, fail: 1, skip: 1, todo: 0 } });
    },
    180_000,
  );
});

describe('honesty: the base is built before its report', () => {
  it('runs the build-like gate steps (build, compile, tsc) and not the tests', () => {
    const config = loadConfigText(
      'service: { name: a, start: node a.js }\nfixes:\n  gate:\n    steps:\n      - { name: build, run: npm run build }\n      - { name: typecheck-tsc, run: npx tsc --noEmit }\n      - { name: test, run: npm test }\n      - { name: build-tests, run: x }\n',
    ).config.fixes;
    expect(buildSteps(config).map((s) => s.name)).toEqual(['build', 'typecheck-tsc']);
  });
});
