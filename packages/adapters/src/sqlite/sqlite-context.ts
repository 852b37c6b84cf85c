import { createHash } from 'node:crypto';
import { ErrorCode, InsituError, checkUnownedTables, schemaOf, syncHostApiFor, type HostApi, type SqlParam, type Synchronous } from '@insitu/core';
import { Table } from 'apache-arrow';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { declaredKinds, groupedByNumericKey, readByColumn, scanBatches } from './sqlite-scanner.js';
import { dropsIfExists, runSchemaChange } from './sqlite-schema-change.js';
import { bindable, guardStatement, prepareGuarded, sqlError, type StatementUser } from './sqlite-statement-guard.js';
import { SqliteTableAccess } from './sqlite-table-access.js';
import { SqliteTablePrivileges } from './sqlite-table-privileges.js';
import { SqliteDatastoreStore } from './sqlite-datastore-store.js';
import { SqliteGrantStore } from './sqlite-grant-store.js';
import { SqliteScriptStore } from './sqlite-script-store.js';

/**
 * The database connection behind `insitu.connect()` and `insitu.ds` inside a UDF. It lives in the worker
 * thread, on a connection of its own to the same database file (WAL), never the engine's.
 *
 * A partition's writes are one transaction: the first write of a partition (a statement that changes
 * the database, or a datastore save or delete) opens it with `BEGIN IMMEDIATE`, which takes SQLite's
 * write lock then and there — a deferred transaction upgraded from a read snapshot would fail with
 * SQLITE_BUSY_SNAPSHOT once another writer had committed meanwhile. The worker commits it when the
 * partition succeeded ({@link ContextConnection.commit}) and rolls it back otherwise
 * ({@link ContextConnection.reset}). Reads before the first write run in their own autocommit
 * transactions. While a partition holds the write lock, other writers wait for it.
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
  /**
   * Run one statement; `write` allows changes to user tables (and opens the partition's transaction
   * first). Returns the number of rows changed.
   */
  execute(sql: string, params: readonly SqlParam[], mode: 'read' | 'write'): number;
  /**
   * The engine services of `insitu.ds` for `user` on this connection, with the engine's privilege
   * checks: saves and deletes open (and join) the partition's transaction, and loads see it.
   */
  datastores(user: string): Synchronous<HostApi>;
  /** Commit the partition's transaction, if it wrote anything. */
  commit(): void;
  /** Undo what a call left on the connection: an open transaction (rolled back), attached databases. */
  reset(): void;
  /** Close the connection. */
  close(): void;
}

/** Options for {@link openContextConnection}. */
export interface ContextConnectionOptions {
  /** How long a partition waits for SQLite's write lock (held by another partition or the engine), in ms. Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * Called between attempts to take the write lock, with the ms to wait before the next: it blocks that
   * long, or throws to stop waiting (the worker throws once its call was interrupted). Default: sleep.
   */
  readonly waitForLock?: (ms: number) => void;
  /** The user every statement runs as (a worker serves one user): each table is checked against their privileges. */
  readonly user: string;
  /** What every user may do with tables without an insitu owner (the engine's option). Default `read`. */
  readonly unownedTables?: string;
}

/** Each attempt at the write lock lets SQLite wait this long before the connection waits on its own terms. */
const LOCK_SLICE_MS = 20;

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Open the context connection for database file `path`, acting as `opts.user`. */
export function openContextConnection(path: string, opts: ContextConnectionOptions): ContextConnection {
  let db: BetterSqlite3.Database;
  let as: StatementUser;
  try {
    db = new Database(path, { fileMustExist: true, timeout: opts.busyTimeoutMs ?? 5000 });
    // Statement journals, sorts and temp tables stay in memory: the OS sandbox has no writable directory,
    // so a statement whose journal outgrew SQLite's in-memory spill limit (a DROP TABLE of an fts5 table
    // did) failed with SQLITE_IOERR_GETTEMPPATH and took the partition's transaction with it.
    db.pragma('temp_store = MEMORY');
    if (typeof opts.user !== 'string' || opts.user === '') throw new Error('the context connection needs the user it acts for');
    as = { access: new SqliteTableAccess(db, new SqliteTablePrivileges(db, checkUnownedTables(opts.unownedTables))), user: opts.user };
  } catch (e) {
    throw new InsituError(ErrorCode.STORAGE_ERROR, `cannot open the database for the UDF context: ${e instanceof Error ? e.message : String(e)}`);
  }
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
  const waitForLock = opts.waitForLock ?? sleep;
  /**
   * Open the partition's write transaction unless it is open. SQLite waits {@link LOCK_SLICE_MS} per
   * attempt; between attempts `waitForLock` decides (so an interrupted call stops waiting at once, where
   * a long busy timeout inside SQLite could not be interrupted), up to `busyTimeoutMs` in all.
   */
  const beginWrite = (): void => {
    if (db.inTransaction) return;
    const deadline = Date.now() + busyTimeoutMs;
    db.pragma(`busy_timeout = ${LOCK_SLICE_MS}`);
    try {
      for (;;) {
        try {
          db.exec('BEGIN IMMEDIATE');
          return;
        } catch (e) {
          const busy = (e as { code?: unknown }).code === 'SQLITE_BUSY';
          if (!busy) throw sqlError(e, 'BEGIN IMMEDIATE');
          const left = deadline - Date.now();
          if (left <= 0) {
            throw new InsituError(
              ErrorCode.STORAGE_ERROR,
              `the database stayed locked by another writer for ${busyTimeoutMs} ms (busyTimeoutMs); a partition that writes holds the write lock until it ends`,
              { cause: e },
            );
          }
          waitForLock(Math.min(LOCK_SLICE_MS, left));
        }
      }
    } finally {
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    }
  };
  const datastoreStore = new SqliteDatastoreStore(db);
  const grants = new SqliteGrantStore(db);
  const scripts = new SqliteScriptStore(db);
  // The datastore store writes in a transaction of its own, which inside the partition's is a savepoint.
  const stores: Parameters<typeof syncHostApiFor>[0] = {
    getDatastore: (owner, name) => datastoreStore.getDatastore(owner, name),
    loadObjects: (owner, name, objects) => datastoreStore.loadObjects(owner, name, objects),
    describeObjects: (owner, name) => datastoreStore.describeObjects(owner, name),
    listDatastores: (filter) => datastoreStore.listDatastores(filter),
    saveDatastore: (owner, name, objects, o) => {
      beginWrite();
      datastoreStore.saveDatastore(owner, name, objects, o);
    },
    deleteDatastore: (owner, name, objects) => {
      beginWrite();
      return datastoreStore.deleteDatastore(owner, name, objects);
    },
    putGrant: (g) => grants.putGrant(g),
    deleteGrant: (g) => grants.deleteGrant(g),
    hasGrant: (kind, owner, name, user) => grants.hasGrant(kind, owner, name, user),
    putScript: (script, o) => scripts.putScript(script, o),
    getScript: (name, scope) => scripts.getScript(name, scope),
    listScripts: (filter) => scripts.listScripts(filter),
    deleteScript: (name, scope) => scripts.deleteScript(name, scope),
  };
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
      let guarded: ReturnType<typeof guardStatement>;
      try {
        guarded = guardStatement(db, sql, params, mode === 'write' ? 'write' : 'read', as);
      } catch (e) {
        // DROP ... IF EXISTS of a table the user cannot see (refused before it runs) does nothing, as for a missing one.
        if (mode === 'write' && e instanceof InsituError && e.code === ErrorCode.TABLE_NOT_FOUND && dropsIfExists(sql)) return 0;
        throw e;
      }
      const { stmt, schemaChange } = guarded;
      // `readonly`, not `reader`: INSERT ... RETURNING returns rows and writes.
      if (!stmt.readonly) beginWrite();
      const run = () => {
        if (stmt.reader) {
          stmt.all(...bindable(params));
          return 0;
        }
        return stmt.run(...bindable(params)).changes;
      };
      try {
        // A schema change runs in a savepoint (inside the partition's transaction) and stays only if the user may make it.
        return schemaChange ? runSchemaChange(db, as.access.privileges, as.user, sql, run) : run();
      } catch (e) {
        throw sqlError(e, sql);
      }
    },
    datastores(user) {
      return syncHostApiFor(stores, user, sha256Hex);
    },
    commit() {
      if (db.inTransaction) db.exec('COMMIT');
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
