import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests run many cases; keep a generous per-test bound, but no test asserts on time.
    testTimeout: 120_000,
    // Process suites start replicas, brokers and gateways in beforeAll: bounded, but a slow
    // machine can take longer than vitest's 10 s default.
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
