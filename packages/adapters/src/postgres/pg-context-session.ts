import { ErrorCode, InsituError, type ContextMode, type ContextSession, type SqlParam } from '@insitu/core';
import type { Table } from 'apache-arrow';
import type pg from 'pg';
import type { PgClient, PgDatabase } from './pg-database.js';
import { pgError } from './pg-database.js';
import { RESULT_TYPES, resultTable } from './pg-result-table.js';
import { STATEMENT_ROLE, guardStatement, recordSchemaChange, userSqlError, type PgStatementMode } from './pg-statement-guard.js';
import type { PgTablePrivileges } from './pg-table-privileges.js';
import type { PgUserSlots, ReleaseSlot } from './pg-user-slots.js';
import { transactionStores, type DatastoreStores } from './pg-transaction-stores.js';

/** Options for {@link PgContextSession}. */
export interface PgContextSessionOptions {
  /** How long a statement waits for a lock held by another transaction (another partition's writes), in ms. Default 5000. */
  readonly lockTimeoutMs?: number;
  /** Called once when the session is released. */
  readonly onRelease?: () => void;
  /** How long one statement of the partition may run before the server cancels it (TIMEOUT), in ms. Default 300000. */
  readonly statementTimeoutMs?: number;
  /**
   * Caps the connections one user holds at once (shared with their queries): the session takes one of
   * the user's slots with its connection, waiting at most statementTimeoutMs for one. None when left out.
   */
  readonly slots?: PgUserSlots;
}

/**
 * One task's database session for `insitu.connect()` on PostgreSQL (see core's ContextSession), on one
 * pooled connection held from the partition's first request to its end. The partition's statements and
 * its `insitu.ds` saves and deletes ({@link stores}) are one transaction, committed when the worker says
 * the partition succeeded and rolled back otherwise, or when the engine ends the task (the call ended,
 * failed or was stopped, or the worker died).
 *
 * Each statement passes the statement guard (pg-statement-guard.ts: one statement, the user's table
 * privileges, engine tables and catalogs unreachable, allowlisted functions) as the engine, then runs
 * as the role `insitu_udf` (no privilege on engine tables) under a savepoint: in a read-only call the
 * savepoint is `transaction_read_only` and rolled back after the statement; in a write call it is
 * released. A failed statement undoes itself only, as on SQLite, where PostgreSQL would otherwise abort
 * the whole transaction. Requests are answered one at a time, in order.
 */
export class PgContextSession implements ContextSession {
  readonly #db: PgDatabase;
  readonly #user: string;
  readonly #mode: ContextMode;
  readonly #access: PgTablePrivileges;
  readonly #lockTimeoutMs: number;
  readonly #onRelease: (() => void) | undefined;
  readonly #statementTimeoutMs: number;
  #client: PgClient | null = null;
  readonly #slots: PgUserSlots | undefined;
  /** The user's slot this session's connection counts against (see {@link PgUserSlots}). */
  #slot: ReleaseSlot | null = null;
  /** Aborted on release: a wait for a slot ends with it. */
  readonly #releasing = new AbortController();
  /**
   * Set when release cancelled a running statement: the cancel may reach the server process after that
   * statement ended, so its connection is closed rather than given back to the pool, where the late
   * cancel would hit whatever statement (another user's) ran on it next.
   */
  #cancelSent = false;
  /** The server process of a statement running now (cancelled when the session is released meanwhile). */
  #runningPid: number | null = null;
  #released = false;
  /** Set when the partition's write transaction was lost midway: later statements and the commit fail with it. */
  #lost: InsituError | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  /** `insitu.ds` inside the partition's transaction (see core's ContextSession.stores). */
  readonly stores: DatastoreStores;

  constructor(db: PgDatabase, user: string, mode: ContextMode, access: PgTablePrivileges, opts: PgContextSessionOptions = {}) {
    this.#db = db;
    this.#user = user;
    this.#mode = mode;
    this.#access = access;
    this.#lockTimeoutMs = opts.lockTimeoutMs ?? 5000;
    this.#onRelease = opts.onRelease;
    this.#statementTimeoutMs = opts.statementTimeoutMs ?? 300_000;
    this.#slots = opts.slots;
    this.stores = transactionStores(
      () => this.#begin(),
      (fn) => this.#serial(fn),
    );
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
    if (this.#lost !== null) throw this.#lost;
    if (this.#client !== null) return this.#client;
    const slot = this.#slots === undefined ? () => {} : await this.#slots.acquire(this.#user, { signal: this.#releasing.signal, timeoutMs: this.#statementTimeoutMs });
    let client: PgClient;
    try {
      client = await this.#db.connect();
    } catch (e) {
      slot();
      throw e;
    }
    try {
      // Engine-made text: one round trip for the transaction's settings.
      // Read-write even for a read-only call: its `insitu.ds` saves join the transaction; its statements
      // run read-only (see #run).
      await client.query(
        `BEGIN READ WRITE; SET LOCAL search_path = public, pg_temp; SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.#lockTimeoutMs))}; SET LOCAL statement_timeout = ${Math.max(1, Math.floor(this.#statementTimeoutMs))}`,
      );
    } catch (e) {
      client.release(true);
      slot();
      throw pgError(e, "cannot begin the partition's transaction");
    }
    this.#client = client;
    this.#slot = slot;
    return client;
  }

  /** End the transaction (COMMIT or ROLLBACK) and give the connection back; a connection that fails to end is discarded. */
  async #end(statement: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    const client = this.#client;
    if (client === null) return;
    this.#client = null;
    const slot = this.#slot;
    this.#slot = null;
    try {
      await client.query(statement);
      // Closed, not reused, when a cancel was sent to its server process (see #cancelSent).
      client.release(this.#cancelSent);
    } catch (e) {
      // The server has rolled back what it could not commit; the connection's state is not trusted.
      client.release(true);
      throw statement === 'COMMIT' ? userSqlError(e, "the partition's writes could not be committed") : pgError(e, 'PostgreSQL');
    } finally {
      slot?.();
    }
  }

  /**
   * Guard one statement, then run it as the statement role under a savepoint: in a read-only call the
   * savepoint is also `transaction_read_only` (the server refuses any write the guard let through) and
   * is rolled back after the statement; in a write call it is released. Either way a failed statement
   * undoes itself only, as on SQLite, where PostgreSQL would otherwise abort the whole transaction.
   */
  async #run(sql: string, params: readonly SqlParam[], use: PgStatementMode): Promise<pg.QueryArrayResult> {
    const client = await this.#begin();
    const write = this.#mode === 'write';
    try {
      await client.query(write ? 'SAVEPOINT insitu_statement' : 'SAVEPOINT insitu_statement; SET LOCAL transaction_read_only = on');
      const stmt = await guardStatement(client, sql, params, { user: this.#user, mode: use }, this.#access);
      await client.query(`SET LOCAL ROLE ${STATEMENT_ROLE}`);
      let res: pg.QueryArrayResult;
      this.#runningPid = (client as unknown as { processID?: number }).processID ?? null;
      try {
        // The extended protocol: one statement, parameters bound.
        res = await client.query({ text: stmt.sql, values: stmt.params, rowMode: 'array', queryMode: 'extended', types: RESULT_TYPES } as pg.QueryArrayConfig);
      } finally {
        this.#runningPid = null;
      }
      if (!write) {
        await client.query('ROLLBACK TO SAVEPOINT insitu_statement; RELEASE SAVEPOINT insitu_statement');
      } else if (stmt.creates === null && stmt.drops.length === 0 && stmt.renames === null) {
        await client.query('RESET ROLE; RELEASE SAVEPOINT insitu_statement');
      } else {
        await client.query('RESET ROLE');
        await recordSchemaChange(client, stmt, this.#user, this.#access);
        await client.query('RELEASE SAVEPOINT insitu_statement');
      }
      return res;
    } catch (e) {
      const error = userSqlError(e, sql);
      if (this.#client !== null) {
        // Undoes the statement (and its settings). Should even that fail, the partition's writes are
        // gone: the session refuses every later statement and the commit, so the partition fails whole.
        await client.query('ROLLBACK TO SAVEPOINT insitu_statement; RELEASE SAVEPOINT insitu_statement; RESET ROLE').catch(async () => {
          this.#lost = new InsituError(ErrorCode.STORAGE_ERROR, `the partition's transaction was lost after a failed statement (${error.message}); nothing it wrote is kept`);
          await this.#end('ROLLBACK').catch(() => {});
        });
      }
      throw error;
    }
  }

  /** See {@link ContextSession.query}. */
  query(sql: string, params: readonly SqlParam[]): Promise<Table> {
    return this.#serial(async () => {
      const res = await this.#run(sql, params, 'query');
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
    return this.#serial(async () => {
      if (this.#lost !== null) throw this.#lost;
      await this.#end('COMMIT');
    });
  }

  /** See {@link ContextSession.rollback}. */
  rollback(): Promise<void> {
    return this.#serial(() => this.#end('ROLLBACK'));
  }

  /**
   * See {@link ContextSession.release}: a statement still running (its worker was stopped while it
   * waited) is cancelled, then the transaction rolled back; a wait for a connection ends. Never throws.
   *
   * The cancel (`pg_cancel_backend` of the statement's server process) is not awaited (it needs a pooled
   * connection of its own, which may be a while coming) and may arrive after the statement ended; the
   * connection it was meant for is therefore closed after the rollback, never given back to the pool,
   * so a late cancel finds no statement to hit, or no process at all.
   */
  release(): Promise<void> {
    if (!this.#released) this.#onRelease?.();
    this.#released = true;
    this.#releasing.abort();
    const pid = this.#runningPid;
    if (pid !== null) {
      this.#cancelSent = true;
      void this.#db.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => {});
    }
    return this.#serial(() => this.#end('ROLLBACK')).catch(() => {});
  }
}
