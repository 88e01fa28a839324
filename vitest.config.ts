import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each file's own database and task queue (test/helpers/file-resources.ts).
    setupFiles: ['test/helpers/file-setup.ts'],
    // Boots a Temporal dev server, localstripe and a throwaway Postgres database for the run.
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    // Two cores: one test file per core keeps Temporal, Postgres and the workers responsive.
    maxWorkers: 2,
    // End-to-end tests wait on real workflows; a minute is ample and still catches a hang.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
