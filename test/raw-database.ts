import Database from 'better-sqlite3';
import pg from 'pg';
import { PostgresStorage, SqliteStorage, type Storage } from 'insitu';
import { ON_POSTGRES } from './backend.js';

/**
 * A test's own access to its database behind the engine's back (as an operator's tool would have), on
 * whichever backend the run uses: `path` is what `tempDatabase()` gave.
 */

/** A storage on the test database without an engine (to seed tables before any engine starts). */
export async function openStorage(path: string): Promise<Storage> {
  return ON_POSTGRES ? PostgresStorage.open(path) : new SqliteStorage(path);
}

/** `sql` with `?` placeholders numbered `$1`, `$2`, ... for PostgreSQL (tests' own SQL: no `?` in literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * Run one statement on a connection of the test's own and return its rows. PostgreSQL gives BIGINT
 * (and count(*)) as strings: write `CAST(count(*) AS INTEGER)` for a number on both backends.
 */
export async function rawQuery<R extends Record<string, unknown>>(path: string, sql: string, params: readonly unknown[] = []): Promise<R[]> {
  if (!ON_POSTGRES) {
    const db = new Database(path);
    try {
      const stmt = db.prepare(sql);
      return (stmt.reader ? stmt.all(...params) : (stmt.run(...params), [])) as R[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: path });
  await client.connect();
  try {
    return (await client.query<R>(numbered(sql), params as unknown[])).rows;
  } finally {
    await client.end();
  }
}

/**
 * Whether a transaction that wrote to `table` is open on some other connection (asked three times, 50 ms
 * apart, so a short engine write does not count): on SQLite, whether the write lock is held; on
 * PostgreSQL, whether a row-exclusive lock on the table is held.
 */
export async function writeInProgress(path: string, table: string): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    if (!(await heldOnce(path, table))) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function heldOnce(path: string, table: string): Promise<boolean> {
  if (ON_POSTGRES) {
    const rows = await rawQuery(
      path,
      `SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE lower(c.relname) = lower(?) AND l.mode = 'RowExclusiveLock' AND l.granted`,
      [table],
    );
    return rows.length > 0;
  }
  const raw = new Database(path, { timeout: 0 });
  try {
    raw.exec('BEGIN IMMEDIATE; ROLLBACK;');
    return false;
  } catch {
    return true;
  } finally {
    raw.close();
  }
}
