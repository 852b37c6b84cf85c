import { ErrorCode, InsituError, checkUnownedTables, schemaOf, type SqlParam } from '@insitu/core';
import { Table } from 'apache-arrow';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { declaredKinds, groupedByNumericKey, readByColumn, scanBatches } from './sqlite-scanner.js';
import { runSchemaChange } from './sqlite-schema-change.js';
import { bindable, guardStatement, prepareGuarded, sqlError, type StatementUser } from './sqlite-statement-guard.js';
import { SqliteTableAccess } from './sqlite-table-access.js';
import { SqliteTablePrivileges } from './sqlite-table-privileges.js';

/**
 * The database connection behind `insitu.connect()` inside a UDF. It lives in the worker thread, on a
 * connection of its own to the same database file (WAL, busy timeout), never the engine's.
 */
export interface ContextConnection {
  /**
   * Run one read-only query and return all its rows. With `byColumn` (the same rows one column per
   * statement, see `QuerySpec.byColumn`) the columns are read that way, in one read transaction.
   */
  query(sql: string, params: readonly SqlParam[], byColumn?: readonly string[]): Table;
  /** Stream a read-only query's rows in batches, also cut where the `breakOn` columns change. */
  scan(sql: string, params: readonly SqlParam[], batchRows: number, breakOn: readonly string[]): Iterable<Table>;
  /** The rows of an unordered read-only query as one table per value of a numeric key, ascending. */
  groups(sql: string, params: readonly SqlParam[], key: string): Iterable<Table>;
  /** Run one statement; `write` allows changes to user tables. Returns the number of rows changed. */
  execute(sql: string, params: readonly SqlParam[], mode: 'read' | 'write'): number;
  /** Undo what a call left on the connection: an open transaction (rolled back), attached databases. */
  reset(): void;
  /** Close the connection. */
  close(): void;
}

/** Options of {@link openContextConnection}. */
export interface ContextConnectionOptions {
  /** Milliseconds to wait for a lock. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** The user every statement runs as (a worker serves one user): each table is checked against their privileges. */
  readonly user: string;
  /** What every user may do with tables without an insitu owner (the engine's option). Default `read`. */
  readonly unownedTables?: string;
}

/** Open the context connection for database file `path`, acting as `opts.user`. */
export function openContextConnection(path: string, opts: ContextConnectionOptions): ContextConnection {
  let db: BetterSqlite3.Database;
  let as: StatementUser;
  try {
    db = new Database(path, { fileMustExist: true, timeout: opts.busyTimeoutMs ?? 5000 });
    if (typeof opts.user !== 'string' || opts.user === '') throw new Error('the context connection needs the user it acts for');
    as = { access: new SqliteTableAccess(db, new SqliteTablePrivileges(db, checkUnownedTables(opts.unownedTables))), user: opts.user };
  } catch (e) {
    throw new InsituError(ErrorCode.STORAGE_ERROR, `cannot open the database for the UDF context: ${e instanceof Error ? e.message : String(e)}`);
  }
  return {
    query(sql, params, byColumn) {
      try {
        // Each column statement is checked like the whole; the whole is prepared only when it is read.
        if (byColumn !== undefined && byColumn.length > 0) {
          const table = readByColumn(db, byColumn.map((s) => prepareGuarded(db, s, params, 'query', as)), bindable(params));
          if (table !== null) return table;
        }
        const stmt = prepareGuarded(db, sql, params, 'query', as);
        const batches = [...scanBatches(stmt, bindable(params), 65536)].flatMap((t) => t.batches);
        if (batches.length > 0) return new Table(batches);
        const { names, kinds } = declaredKinds(stmt);
        return new Table(schemaOf(names, kinds.map((k) => k ?? 'null')));
      } catch (e) {
        throw sqlError(e, sql);
      }
    },
    *scan(sql, params, batchRows, breakOn) {
      const stmt = prepareGuarded(db, sql, params, 'query', as);
      try {
        yield* scanBatches(stmt, bindable(params), batchRows, breakOn);
      } catch (e) {
        throw sqlError(e, sql);
      }
    },
    *groups(sql, params, key) {
      const stmt = prepareGuarded(db, sql, params, 'query', as);
      try {
        yield* groupedByNumericKey(stmt, bindable(params), key);
      } catch (e) {
        throw sqlError(e, sql);
      }
    },
    execute(sql, params, mode) {
      const { stmt, schemaChange } = guardStatement(db, sql, params, mode === 'write' ? 'write' : 'read', as);
      const run = () => {
        if (stmt.reader) {
          stmt.all(...bindable(params));
          return 0;
        }
        return stmt.run(...bindable(params)).changes;
      };
      try {
        // A schema change runs in a savepoint and stays only if the user may make it.
        return schemaChange ? runSchemaChange(db, as.access.privileges, as.user, sql, run) : run();
      } catch (e) {
        throw sqlError(e, sql);
      }
    },
    reset() {
      // A UDF's BEGIN left open would hold SQLite's write lock (or a read snapshot that stops the WAL
      // from being checkpointed) after its call; an ATTACH would outlive it.
      if (db.inTransaction) db.exec('ROLLBACK');
      for (const { name } of db.pragma('database_list') as { name: string }[]) {
        if (name !== 'main' && name !== 'temp') db.exec(`DETACH DATABASE "${name.replaceAll('"', '""')}"`);
      }
    },
    close() {
      if (db.open) db.close();
    },
  };
}
