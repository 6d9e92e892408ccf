/**
 * Which test runner a project uses, and the `fixes.gate.report` that makes it write a report
 * Dancer reads (pure). Without a readable report the gate's honesty step finds no tests and every
 * fix needs a human, so `dancer init` writes one for the runners it knows.
 */

/** The runners recognised. */
export type TestRunner = 'node' | 'vitest' | 'jest' | 'mocha' | 'pytest' | 'unittest' | 'go';

/** What `dancer init` writes under `fixes.gate.report`, or why it cannot. */
export interface ReportPlan {
  runner: TestRunner;
  /** `fixes.gate.report.command`; undefined when the runner has no reporter Dancer reads built in. */
  command?: string;
  /** `fixes.gate.report.format`. */
  format?: 'node' | 'tap' | 'json' | 'junit' | 'go-json';
  /** One line for the human: what was found, or what to install. */
  note: string;
}

/** The package.json fields read. */
export interface RunnerFacts {
  /** `scripts.test`. */
  testScript?: string | undefined;
  /** Names in dependencies and devDependencies. */
  dependencies: readonly string[];
}

const NODE_REPORTER = '--test-reporter={reporter} --test-reporter-destination={output}';

/** The first runner named as a command word in a script (`vitest run`, `npx jest --ci`, `node --test`). */
function runnerInScript(script: string): TestRunner | undefined {
  const words = script.split(/[\s;&|()]+/);
  if (words.some((w) => w === 'vitest' || w.endsWith('/vitest'))) return 'vitest';
  if (words.some((w) => w === 'jest' || w.endsWith('/jest'))) return 'jest';
  if (words.some((w) => w === 'mocha' || w.endsWith('/mocha'))) return 'mocha';
  if (/(?:^|[\s;&|(])node\s+(?:[^\s;&|]+\s+)*?--test\b/.test(script)) return 'node';
  return undefined;
}

/** The report plan for a Node project, from its test script and dependencies; undefined: no tests. */
export function nodeReportPlan(facts: RunnerFacts): ReportPlan | undefined {
  const script = facts.testScript ?? '';
  const runner =
    runnerInScript(script) ?? (['vitest', 'jest', 'mocha'] as const).find((r) => facts.dependencies.includes(r));
  switch (runner) {
    case 'vitest':
      return {
        runner,
        command: 'npx vitest run --reporter=json --outputFile={output}',
        format: 'json',
        note: 'Vitest: the gate reads its JSON reporter (counts per file on the base and on the fix)',
      };
    case 'jest':
      return {
        runner,
        command: 'npx jest --ci --json --outputFile={output}',
        format: 'json',
        note: 'Jest: the gate reads its --json report (counts per file on the base and on the fix)',
      };
    case 'mocha':
      return {
        runner,
        command: 'npx mocha --reporter tap > {output}',
        format: 'tap',
        note: 'Mocha: the gate reads its TAP reporter (counts per file on the base and on the fix)',
      };
    case 'node': {
      // Keep the script's own arguments (files, --import loaders); the reporter goes right after --test.
      const command = script.replace(/--test\b/, `--test ${NODE_REPORTER}`);
      return {
        runner,
        command,
        format: 'node',
        note: "node --test: the gate reads Dancer's reporter (counts per file on the base and on the fix)",
      };
    }
    default:
      return undefined;
  }
}

/** The report plan for a Python project whose tests run with `test`. */
export function pythonReportPlan(test: string): ReportPlan {
  if (test.includes('pytest')) {
    return {
      runner: 'pytest',
      // No cache folder in the fix's worktree or the base's.
      command: `${test} -p no:cacheprovider --junitxml={output}`,
      format: 'junit',
      note: 'pytest: the gate reads its JUnit XML report (counts per file on the base and on the fix)',
    };
  }
  return {
    runner: 'unittest',
    note: 'unittest writes no report Dancer reads: pytest runs unittest suites and writes JUnit XML (fixes.gate.report { command: "python3 -m pytest -q -p no:cacheprovider --junitxml={output}", format: junit }); until then every fix needs a human',
  };
}

/** The report plan for a Go module. */
export function goReportPlan(): ReportPlan {
  return {
    runner: 'go',
    command: 'go test -json ./... > {output}',
    format: 'go-json',
    note: 'go test: the gate reads its -json events (counts per package on the base and on the fix)',
  };
}
