import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // npm installs the tarballs (better-sqlite3 may compile its addon: ~100 s on 2 cores)
    testTimeout: 900_000,
    hookTimeout: 900_000,
  },
});
