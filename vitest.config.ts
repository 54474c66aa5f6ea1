// One Vitest run for every workspace's unit and integration tests (browser tests live in e2e/).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'server/src/**/*.test.ts',
      'apps/web/src/**/*.test.ts',
      'bench/**/*.test.ts',
      'scripts/**/*.test.ts',
    ],
    // TF.js's Node build lacks gradients: load its ES-module build through Vite (bench/train tests).
    server: { deps: { inline: [/@tensorflow\//] } },
    testTimeout: 60_000,
    pool: 'forks',
  },
});
