import { ErrorCode, InsituError, type ContextMode, type ContextSession, type SqlParam } from '@insitu/core';
import type { Table } from 'apache-arrow';
import type pg from 'pg';
import { pgError, type PgClient, type PgDatabase } from './pg-database.js';
import { numberedPlaceholders } from './pg-placeholders.js';
import { RESULT_TYPES, resultTable } from './pg-result-table.js';

/** How a statement is used: `query` must return rows; `read` and `write` follow the call's context. */
export type ContextStatementUse = 'query' | 'read' | 'write';

/**
 * The statement check of a UDF's SQL, run before the statement on the session's connection (inside its
 * transaction): it throws (PRIVILEGE, BAD_INPUT, TABLE_NOT_FOUND) for a statement `user` may not run.
 */
export type ContextStatementCheck = (client: PgClient, sql: string, use: ContextStatementUse, user: string) => Promise<void>;

/** SQLSTATE of a write attempted in a READ ONLY transaction. */
const READ_ONLY_SQL_TRANSACTION = '25006';

/**
 * One task's database session for `insitu.connect()` on PostgreSQL (see core's ContextSession), held
 * on one pooled connection from the partition's first statement to its end. The partition's
 * statements run in one transaction — `READ ONLY` unless the call's context is `write`, so the server
 * itself refuses a write the check let through — committed when the worker says the partition
 * succeeded, rolled back otherwise and when the engine ends the task. In a write transaction each
 * statement runs under a savepoint, so a failed statement (which PostgreSQL would let poison the whole
 * transaction) undoes itself only, as on SQLite. Requests are answered one at a time, in order.
 */
export class PgContextSession implements ContextSession {
  readonly #db: PgDatabase;
  readonly #user: string;
  readonly #mode: ContextMode;
  readonly #check: ContextStatementCheck;
  #client: PgClient | null = null;
  #released = false;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(db: PgDatabase, user: string, mode: ContextMode, check: ContextStatementCheck) {
    this.#db = db;
    this.#user = user;
    this.#mode = mode;
    this.#check = check;
  }

  /** Run `fn` after every request before it. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const out = this.#queue.then(fn);
    this.#queue = out.catch(() => {});
    return out;
  }

  /** The connection with the partition's transaction open (checked out and begun on first use). */
  async #begin(): Promise<PgClient> {
    if (this.#released) throw new InsituError(ErrorCode.CANCELLED, 'the database session of this partition has ended (its call ended or was stopped)');
    if (this.#client !== null) return this.#client;
    const client = await this.#db.connect();
    try {
      await client.query(this.#mode === 'write' ? 'BEGIN READ WRITE' : 'BEGIN READ ONLY');
    } catch (e) {
      client.release(true);
      throw pgError(e, 'cannot begin the partition\'s transaction');
    }
    this.#client = client;
    return client;
  }

  /** End the transaction (COMMIT or ROLLBACK) and give the connection back; a connection that fails to end is discarded. */
  async #end(statement: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    const client = this.#client;
    if (client === null) return;
    this.#client = null;
    try {
      await client.query(statement);
      client.release();
    } catch (e) {
      // The server has rolled back what it could not commit; the connection's state is not trusted.
      client.release(true);
      throw pgError(e, statement === 'COMMIT' ? 'the partition\'s writes could not be committed' : 'PostgreSQL');
    }
  }

  /** Run one checked statement, under a savepoint in a write transaction. */
  async #run(sql: string, params: readonly SqlParam[], use: ContextStatementUse): Promise<pg.QueryArrayResult> {
    if (typeof sql !== 'string' || sql.trim() === '') throw new InsituError(ErrorCode.BAD_INPUT, 'SQL text must be a non-empty string');
    const client = await this.#begin();
    const text = numberedPlaceholders(sql, params.length);
    const guarded = this.#mode === 'write';
    if (guarded) await client.query('SAVEPOINT insitu_statement');
    try {
      await this.#check(client, text, use, this.#user);
      // The extended protocol: one statement, parameters always bound.
      const res = await client.query({ text, values: [...params], rowMode: 'array', queryMode: 'extended', types: RESULT_TYPES } as pg.QueryArrayConfig);
      if (guarded) await client.query('RELEASE SAVEPOINT insitu_statement');
      return res;
    } catch (e) {
      if (guarded) {
        await client.query('ROLLBACK TO SAVEPOINT insitu_statement').catch(() => {});
      } else {
        // A failed statement ends a read-only transaction: nothing was written, the next statement begins anew.
        await this.#end('ROLLBACK').catch(() => {});
      }
      throw statementError(e, sql);
    }
  }

  /** See {@link ContextSession.query}. */
  query(sql: string, params: readonly SqlParam[]): Promise<Table> {
    return this.#serial(async () => {
      const res = await this.#run(sql, params, 'query');
      if (res.fields.length === 0) throw new InsituError(ErrorCode.BAD_INPUT, `a query must return rows (a SELECT): ${sql.slice(0, 200)}`);
      return resultTable(res.fields, res.rows);
    });
  }

  /** See {@link ContextSession.execute}. */
  execute(sql: string, params: readonly SqlParam[]): Promise<number> {
    return this.#serial(async () => {
      const res = await this.#run(sql, params, this.#mode === 'write' ? 'write' : 'read');
      return res.command === 'SELECT' || res.rowCount === null ? 0 : res.rowCount;
    });
  }

  /** See {@link ContextSession.commit}. */
  commit(): Promise<void> {
    return this.#serial(() => this.#end('COMMIT'));
  }

  /** See {@link ContextSession.rollback}. */
  rollback(): Promise<void> {
    return this.#serial(() => this.#end('ROLLBACK'));
  }

  /** See {@link ContextSession.release}: never throws. */
  release(): Promise<void> {
    this.#released = true;
    return this.#serial(() => this.#end('ROLLBACK')).catch(() => {});
  }
}

/** A failed statement as the UDF sees it: a write in a read-only call says how to allow it. */
function statementError(e: unknown, sql: string): InsituError {
  if (e instanceof InsituError) return e;
  if ((e as { code?: unknown }).code === READ_ONLY_SQL_TRANSACTION) {
    return new InsituError(
      ErrorCode.PRIVILEGE,
      `this statement would write, and this call's database context is read-only; make the call with { context: 'write' } to change tables: ${sql.slice(0, 200)}`,
      { cause: e },
    );
  }
  return pgError(e, 'PostgreSQL');
}
