import { ErrorCode, InsituError, type SessionSql, type SqlBinder } from '@insitu/core';

/**
 * `session.sql` of an engine whose storage has no SQL functions: they are SQLite table-valued functions
 * (registered on a better-sqlite3 connection), so on PostgreSQL every register() is NOT_SUPPORTED.
 */
export class UnsupportedSqlBinder implements SqlBinder {
  readonly #backend: string;

  /** `backend`: the storage named in the message (e.g. `PostgreSQL`). */
  constructor(backend: string) {
    this.#backend = backend;
  }

  /** The SQL functions of a user: none. */
  forUser(): SessionSql {
    const backend = this.#backend;
    return {
      register(): Promise<never> {
        return Promise.reject(
          new InsituError(
            ErrorCode.NOT_SUPPORTED,
            `session.sql.register() is not supported on ${backend}: the insitu SQL functions are SQLite table-valued functions; use session.query() and the apply calls instead, or an engine on a SQLite database`,
          ),
        );
      },
    };
  }

  /** Nothing to forget. */
  userDropped(): void {}

  /** Nothing to stop. */
  async close(): Promise<void> {}
}
