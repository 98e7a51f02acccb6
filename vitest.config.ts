import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests run many cases; keep a generous per-test bound, but no test asserts on time.
    testTimeout: 120_000,
    pool: 'forks',
  },
});
