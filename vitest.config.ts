import { defineConfig } from 'vitest/config';

/**
 * Suites that also run against PostgreSQL storage (project `postgres`, INSITU_TEST_BACKEND=postgres):
 * every suite of a public API that touches storage. The others test the Python runtime, the sandbox or
 * SQLite itself, whatever the storage (and run once, in project `sqlite`).
 */
export const POSTGRES_SUITES: readonly string[] = ['test/anchor-shapes.test.ts', 'test/apply-options.test.ts', 'test/apply.test.ts', 'test/column-names.test.ts', 'test/into.test.ts', 'test/redteam-data.test.ts', 'test/table-privileges.test.ts'];

/** Suites about PostgreSQL itself: they run in project `postgres` only. */
export const POSTGRES_ONLY_SUITES: readonly string[] = ['test/pg-guard.test.ts'];

const shared = {
  // Each file starts its own Pyodide pool once (about 2 s); tests within a file share it.
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    passWithNoTests: true,
    projects: [
      {
        test: {
          ...shared,
          name: 'sqlite',
          include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
          // Attacks on the PostgreSQL statement guard: PostgreSQL's own tricks, run in project postgres only.
          exclude: [...POSTGRES_ONLY_SUITES, '**/node_modules/**'],
          env: { INSITU_TEST_BACKEND: 'sqlite' },
        },
      },
      {
        test: {
          ...shared,
          name: 'postgres',
          include: [...POSTGRES_SUITES, ...POSTGRES_ONLY_SUITES],
          env: { INSITU_TEST_BACKEND: 'postgres' },
        },
      },
    ],
  },
});
