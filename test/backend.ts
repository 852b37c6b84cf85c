import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * Which storage backend this test run uses: the vitest project sets `INSITU_TEST_BACKEND` (see
 * vitest.config.ts). Suites that run on both get their database from `tempDatabase()` in helpers.ts.
 */
export const BACKEND: 'sqlite' | 'postgres' = process.env['INSITU_TEST_BACKEND'] === 'postgres' ? 'postgres' : 'sqlite';

/** Whether this run is the PostgreSQL one. */
export const ON_POSTGRES = BACKEND === 'postgres';

/** The server the PostgreSQL suites use, as an administrator (it creates and drops their databases). */
export const PG_ADMIN_URL = process.env['INSITU_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function admin(sql: string): void {
  execFileSync('psql', [PG_ADMIN_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A new, empty PostgreSQL database on the test server, and a function that drops it (closing whatever
 * connections are left). Synchronous, like the SQLite temp file it stands in for.
 */
export function freshPostgresDatabase(): { url: string; drop: () => void } {
  const name = `insitu_t_${randomBytes(6).toString('hex')}`;
  admin(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => {
      try {
        admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } catch {
        // Left for the next run's clean-up: the server may already be gone.
      }
    },
  };
}

/**
 * Run `sql` on the PostgreSQL database at `url` as an administrator beside the engine (psql), and return
 * the first column of each row as text: for tests that look at what the engine left in the database.
 */
export function pgColumn(url: string, sql: string): string[] {
  const out = execFileSync('psql', [url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.split('\n').filter((l) => l !== '');
}
