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
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/vitest.json' }]] : ['default'],
  },
});
