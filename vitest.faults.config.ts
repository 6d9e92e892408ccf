import { defineConfig } from 'vitest/config';

// The fault suite (`npm run faults`): real `dancer run`, real Claude Code against the scripted
// model server, real git and gate; scenarios one after the other in one worker.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    testTimeout: 420_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/faults.json' }]] : ['default'],
  },
});
