import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    // Each file starts its own Pyodide pool once (about 2 s); tests within a file share it.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
