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
    // One report per run (unit, then the end-to-end tests, which run one file at a time so that
    // their `dancer run` children do not compete with the rest of the suite).
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: `test-results/${process.env.npm_lifecycle_event ?? 'vitest'}.json` }]]
      : ['default'],
  },
});
