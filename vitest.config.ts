// One Vitest run for every workspace's unit and integration tests (browser tests live in e2e/).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'server/src/**/*.test.ts', 'apps/web/src/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
