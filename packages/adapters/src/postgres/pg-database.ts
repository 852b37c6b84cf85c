import { ErrorCode, InsituError } from '@insitu/core';
import pg from 'pg';

/** A connection checked out of the pool (inside {@link PgDatabase.tx} or {@link PgDatabase.withClient}). */
export type PgClient = pg.PoolClient;

/** A row as the driver returns it. */
export type PgRow = Record<string, unknown>;

/** Options for {@link PgDatabase}. */
export interface PgDatabaseOptions {
  /** Connections the pool keeps at most. Default 10. */
  readonly maxConnections?: number;
  /** Name shown in `pg_stat_activity.application_name`. Default `insitu`. */
  readonly applicationName?: string;
}

/** Whether `location` names a PostgreSQL database (`postgres://` or `postgresql://`). */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The connection string with any password masked, for messages and `storage.location`. */
export function maskedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable)';
  }
}

/** SQLSTATE classes that mean the statement itself was at fault, not the server. */
const USER_ERROR_CLASSES = ['22', '23', '42'];

/**
 * A driver error as an InsituError: STORAGE_ERROR for everything the server or connection did,
 * BAD_INPUT for errors in the statement (syntax, types, constraints: SQLSTATE classes 22, 23, 42).
 * The SQLSTATE is quoted in the message; the driver error is the `cause`.
 */
export function pgError(e: unknown, what: string): InsituError {
  if (e instanceof InsituError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const sqlState = typeof err.code === 'string' ? err.code : undefined;
  const message = typeof err.message === 'string' ? err.message : String(e);
  const code = sqlState !== undefined && USER_ERROR_CLASSES.includes(sqlState.slice(0, 2)) ? ErrorCode.BAD_INPUT : ErrorCode.STORAGE_ERROR;
  return new InsituError(code, sqlState === undefined ? `${what}: ${message}` : `${what}: ${message} (SQLSTATE ${sqlState})`, { cause: e });
}

/**
 * One pool of connections to a PostgreSQL database, the one place the adapter talks to the driver.
 * Parameters are always bound (`$1`, `$2`, ...), never interpolated.
 */
export class PgDatabase {
  readonly #pool: pg.Pool;
  readonly url: string;
  #closed = false;

  constructor(url: string, opts: PgDatabaseOptions = {}) {
    this.url = url;
    this.#pool = new pg.Pool({
      connectionString: url,
      max: opts.maxConnections ?? 10,
      application_name: opts.applicationName ?? 'insitu',
      // pg_temp last, not first (its place when unnamed): a temporary table, should one ever be made on a
      // pooled connection, can never stand in for an engine table in the engine's unqualified statements.
      options: '-c search_path="$user",public,pg_temp',
    });
    // An idle connection dropped by the server must not crash the process; the pool replaces it.
    this.#pool.on('error', () => {});
  }

  /** Run one statement on any pooled connection. */
  async query<R extends PgRow = PgRow>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    try {
      const res = await this.#pool.query<R>(sql, params as unknown[]);
      return res.rows;
    } catch (e) {
      throw pgError(e, 'PostgreSQL');
    }
  }

  /**
   * Check one connection out of the pool for as long as the caller needs it (a UDF partition's
   * session): the caller must `release()` it, `release(true)` when its state is unknown.
   */
  async connect(): Promise<PgClient> {
    if (this.#closed) throw new InsituError(ErrorCode.CLOSED, 'the PostgreSQL storage is closed');
    try {
      return await this.#pool.connect();
    } catch (e) {
      throw pgError(e, `cannot connect to ${maskedUrl(this.url)}`);
    }
  }

  /** Run `fn` on one connection checked out for it, returned to the pool afterwards. */
  async withClient<T>(fn: (client: PgClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new InsituError(ErrorCode.CLOSED, 'the PostgreSQL storage is closed');
    let client: PgClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw pgError(e, `cannot connect to ${maskedUrl(this.url)}`);
    }
    let broken = false;
    try {
      return await fn(client);
    } catch (e) {
      // A connection whose state is unknown (not a plain SQL error) is not reused.
      broken = !(e instanceof InsituError) && typeof (e as { code?: unknown }).code !== 'string';
      throw e;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Run `fn` in one transaction (`BEGIN` with `mode`, e.g. `ISOLATION LEVEL SERIALIZABLE` or `READ
   * ONLY`): committed when it resolves, rolled back when it throws.
   */
  async tx<T>(fn: (client: PgClient) => Promise<T>, mode = ''): Promise<T> {
    return this.withClient(async (client) => {
      await client.query(`BEGIN ${mode}`);
      try {
        const out = await fn(client);
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw pgError(e, 'PostgreSQL');
      }
    });
  }

  /** Close every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
