import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Suites that also run against PostgreSQL storage (project `postgres`, INSITU_TEST_BACKEND=postgres):
 * every suite of a public API that touches storage. The others test the Python runtime, the sandbox,
 * packages, figures and result limits, or SQLite itself, whatever the storage (and run once, in project
 * `sqlite`; figures, limits and packages pass on PostgreSQL too, but add minutes and no storage path).
 */
export const POSTGRES_SUITES: readonly string[] = [
  'packages/adapters/test/task-queue.test.ts',
  'test/anchor-shapes.test.ts',
  'test/apply-options.test.ts',
  'test/apply.test.ts',
  'test/column-names.test.ts',
  'test/crash-safety.test.ts',
  'test/datastores.test.ts',
  'test/distributed.test.ts',
  'test/engine-lifecycle.test.ts',
  'test/hostile-input.test.ts',
  'test/into.test.ts',
  'test/jobs-recovery.test.ts',
  'test/jobs.test.ts',
  'test/partition-atomicity.test.ts',
  'test/pg-context.test.ts',
  'test/pg-guard.test.ts',
  'test/pg-storage.test.ts',
  'test/redteam-data.test.ts',
  'test/redteam-pg.test.ts',
  'test/rest-async.test.ts',
  'test/rest-server.test.ts',
  'test/scheduler-engines.test.ts',
  'test/scheduler.test.ts',
  'test/script-transfer.test.ts',
  'test/scripts.test.ts',
  'test/sql-reach.test.ts',
  'test/table-privileges.test.ts',
  'test/users.test.ts',
];

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
          // Suites of PostgreSQL itself (test/pg-*.test.ts, test/redteam-pg.test.ts) run in project `postgres` only.
          exclude: [...configDefaults.exclude, 'test/pg-*.test.ts', 'test/redteam-pg.test.ts'],
          env: { INSITU_TEST_BACKEND: 'sqlite' },
        },
      },
      {
        test: {
          ...shared,
          name: 'postgres',
          include: [...POSTGRES_SUITES],
          env: { INSITU_TEST_BACKEND: 'postgres' },
        },
      },
    ],
  },
});
