import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: run files in parallel, but not so many that fsync-heavy and Apache-backed suites starve.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
