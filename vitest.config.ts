import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real child processes, git and Claude Code: keep the 2-core machines from thrashing.
    pool: 'forks',
    maxWorkers: 2,
    // In CI, a JSON report too: .ci/run prints the plain "N passed, N failed" line from it.
    // One report per run (unit; the attack suite, one file at a time because its sandboxes share
    // the sandbox user's process limit (RLIMIT_NPROC is per uid, machine-wide) and one file's fork
    // bomb would starve another's; then the end-to-end tests, one file at a time so that their
    // `dancer run` children do not compete with the rest of the suite).
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: `test-results/${process.env.npm_lifecycle_event ?? 'vitest'}.json` }]]
      : ['default'],
  },
});
