import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // One real Chroma server for the whole run (see test/global-setup.ts; CHROMA_URL uses an existing one).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // The files share one worker and its loaded modules (re-importing them per file cost 3–19 s a suite).
    isolate: false,
  },
});
