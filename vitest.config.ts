import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Worker threads start compiled JS: build dist/ first when it is stale.
    globalSetup: ['test/global-setup.ts'],
    // Native code and worker threads: forks isolate a crash to one file.
    pool: 'forks',
    reporters: ['default', './test/setup/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
