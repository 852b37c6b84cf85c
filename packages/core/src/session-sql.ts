import { ErrorCode, InsituError } from './errors.js';

/**
 * The part of a better-sqlite3 `Database` the SQL functions use, declared structurally so core keeps no
 * dependency on the driver. Pass the `Database` itself.
 */
export interface SqlConnection {
  /** Register a virtual-table module or a table-valued function (better-sqlite3's `db.table`). */
  table(name: string, definition: unknown): unknown;
  /** The file the connection is open on. */
  readonly name: string;
  /** Whether the connection is open. */
  readonly open: boolean;
}

/** Options of {@link SessionSql.register}. */
export interface SqlRegisterOptions {
  /**
   * Milliseconds one SQL function call may run (the calling thread waits that long at most). A call's
   * `timeout` control in PAR_LST (seconds) overrides it. Default: the engine's `timeoutMs`, else 300 000.
   */
  readonly timeoutMs?: number;
}

/**
 * `session.sql`: the pyq*Eval table functions and the catalog functions on a SQLite connection, bound to
 * the session's user (README "From SQL").
 */
export interface SessionSql {
  /**
   * Define the `insitu_*` SQL functions on `db` (a better-sqlite3 connection to the engine's database
   * file), running as this session's user, and resolve to `db`. Without `db`, a new connection to the
   * engine's file is opened for them (closed with the engine) and returned.
   */
  register<D extends SqlConnection = SqlConnection>(db?: D, opts?: SqlRegisterOptions): Promise<D>;
}

/** What an engine uses to give each session its {@link SessionSql}; the `insitu` package provides one. */
export interface SqlBinder {
  /** The SQL functions of one user. */
  forUser(user: string): SessionSql;
  /**
   * A user was dropped: sessions of it the binder admitted elsewhere (the SQL host's engine) must be
   * admitted again, as the engine's own are.
   */
  userDropped(user: string): void;
  /**
   * Stop what the binder started (called once, when the engine closes); `jobs` is the engine's close
   * mode, applied to the jobs the binder's own engine runs.
   */
  close(opts?: { readonly jobs?: 'interrupt' | 'wait' }): Promise<void>;
}

/** The SessionSql of an engine built without a binder (only `createEngine` wires one). */
export const NO_SQL: SessionSql = {
  register(): Promise<never> {
    return Promise.reject(new InsituError(ErrorCode.RUNTIME_ERROR, 'SQL functions need an engine made by createEngine() of the insitu package'));
  },
};
