import {
  ErrorCode,
  InsituError,
  badInput,
  type CreateTableOptions,
  type QuerySpec,
  type RowObject,
  type ScanOptions,
  type ScriptFilter,
  type SqlParam,
  type Storage,
  type StoredScript,
} from '@insitu/core';
import type { Schema, Table } from 'apache-arrow';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { kindOfValues } from './sqlite-column-kind.js';
import { migrate } from './sqlite-migrations.js';
import { declaredKinds, scanBatches, schemaOf } from './sqlite-scanner.js';
import { SqliteScriptStore } from './sqlite-script-store.js';
import { writeTable } from './sqlite-table-writer.js';

/** Options for {@link SqliteStorage}. */
export interface SqliteStorageOptions {
  /** Milliseconds a connection waits for a lock before failing. Default 5000. */
  readonly busyTimeoutMs?: number;
}

/** Bind values for better-sqlite3: booleans as 0/1, Dates as ISO text, Uint8Array as Buffer. */
function bindable(params: readonly SqlParam[]): unknown[] {
  return params.map((p) => {
    if (typeof p === 'boolean') return p ? 1 : 0;
    if (p instanceof Date) return p.toISOString();
    if (p instanceof Uint8Array && !Buffer.isBuffer(p)) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    if (p === null || ['number', 'bigint', 'string'].includes(typeof p) || Buffer.isBuffer(p)) return p;
    throw badInput(`query parameter of type ${typeof p} cannot be bound; use null, boolean, number, bigint, string, Date or Uint8Array`);
  });
}

/** Turn a better-sqlite3 error about user SQL into a typed error. */
function sqlError(e: unknown, sql: string): InsituError {
  if (e instanceof InsituError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const missing = /^no such table: (.*)$/.exec(msg);
  if (missing !== null) return new InsituError(ErrorCode.TABLE_NOT_FOUND, `table ${missing[1]} does not exist`, { cause: e });
  if (e instanceof RangeError || (e instanceof Error && (e as { code?: string }).code === 'SQLITE_ERROR')) {
    return badInput(`query is not valid SQL: ${msg} (in: ${sql.slice(0, 200)})`, { cause: e });
  }
  return new InsituError(ErrorCode.STORAGE_ERROR, `SQLite failed: ${msg}`, { cause: e });
}

/**
 * insitu storage on one SQLite database file (WAL mode) or `:memory:`. User tables are plain tables;
 * engine state lives in `insitu_*` tables created by versioned migrations.
 */
export class SqliteStorage implements Storage {
  /** The database path or `:memory:`. */
  readonly location: string;
  readonly #db: BetterSqlite3.Database;
  readonly #scripts: SqliteScriptStore;
  readonly #busyTimeoutMs: number;
  readonly #readers = new Set<BetterSqlite3.Database>();

  /** Open (creating if needed) and migrate the database at `location`. */
  constructor(location: string, opts: SqliteStorageOptions = {}) {
    if (typeof location !== 'string' || location === '') throw badInput('database must be a file path or ":memory:"');
    this.location = location;
    this.#busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    try {
      this.#db = new Database(location, { timeout: this.#busyTimeoutMs });
      if (!this.inMemory) this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      migrate(this.#db);
    } catch (e) {
      throw new InsituError(ErrorCode.STORAGE_ERROR, `cannot open database ${location}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    this.#scripts = new SqliteScriptStore(this.#db);
  }

  /** Whether the database lives only in this connection's memory. */
  get inMemory(): boolean {
    return this.location === ':memory:' || this.location === '';
  }

  // ---- tables -------------------------------------------------------------------------------------

  /** @inheritdoc */
  async createTable(name: string, data: Table | readonly RowObject[], opts: CreateTableOptions = {}): Promise<void> {
    const exists = await this.hasTable(name);
    if (exists && opts.overwrite !== true) {
      throw new InsituError(ErrorCode.ALREADY_EXISTS, `table ${name} already exists; pass { overwrite: true } to replace it`);
    }
    try {
      writeTable(this.#db, name, data, opts.overwrite === true, exists);
    } catch (e) {
      throw sqlError(e, `CREATE TABLE ${name}`);
    }
  }

  /** @inheritdoc */
  async hasTable(name: string): Promise<boolean> {
    return (
      this.#db.prepare(`SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE`).get(name) !== undefined
    );
  }

  /** @inheritdoc */
  async describe(query: QuerySpec): Promise<Schema> {
    const stmt = this.#prepareRead(this.#db, query);
    const params = bindable(query.params);
    const { names, kinds } = declaredKinds(stmt);
    let first: unknown[] | undefined;
    if (kinds.includes(null)) first = stmt.raw(true).get(...params) as unknown[] | undefined;
    return schemaOf(
      names,
      kinds.map((k, c) => k ?? (first === undefined ? 'null' : kindOfValues([first], c, 1))),
    );
  }

  /** @inheritdoc */
  async count(query: QuerySpec): Promise<number> {
    this.#prepareRead(this.#db, query);
    const sql = `SELECT count(*) FROM (${query.sql}\n)`;
    try {
      return this.#db.prepare(sql).pluck().get(...bindable(query.params)) as number;
    } catch (e) {
      throw sqlError(e, query.sql);
    }
  }

  /**
   * @inheritdoc
   * File databases are read on a connection of the scan's own, so a long streamed scan never blocks
   * other calls (WAL gives it a consistent snapshot). `:memory:` databases are read up front.
   */
  async *scan(query: QuerySpec, opts: ScanOptions): AsyncGenerator<Table> {
    const params = bindable(query.params);
    if (this.inMemory) {
      const stmt = this.#prepareRead(this.#db, query);
      const batches = [...scanBatches(stmt, params, opts.batchRows, opts.breakOn, opts.signal)];
      yield* batches;
      return;
    }
    const reader = new Database(this.location, { readonly: true, fileMustExist: true, timeout: this.#busyTimeoutMs });
    this.#readers.add(reader);
    try {
      const stmt = this.#prepareRead(reader, query);
      for (const batch of scanBatches(stmt, params, opts.batchRows, opts.breakOn, opts.signal)) yield batch;
    } catch (e) {
      throw sqlError(e, query.sql);
    } finally {
      this.#readers.delete(reader);
      reader.close();
    }
  }

  /**
   * Prepare `query` and make sure it is one read-only statement that returns rows and touches no engine
   * table. better-sqlite3 refuses several statements; the rest is checked here before anything runs.
   */
  #prepareRead(db: BetterSqlite3.Database, query: QuerySpec): BetterSqlite3.Statement {
    let stmt: BetterSqlite3.Statement;
    try {
      stmt = db.prepare(query.sql);
    } catch (e) {
      if (e instanceof RangeError && /more than one statement/.test(e.message)) {
        throw badInput('a query must be a single SQL statement; remove the extra statements');
      }
      throw sqlError(e, query.sql);
    }
    if (!stmt.readonly) throw badInput(`a query must be read-only (a SELECT); this statement would write: ${query.sql.slice(0, 200)}`);
    if (!stmt.reader) throw badInput(`a query must return rows (a SELECT): ${query.sql.slice(0, 200)}`);
    this.#refuseEngineTables(db, query);
    return stmt;
  }

  /** Refuse queries that open any b-tree of an `insitu_*` table (found from the statement's bytecode). */
  #refuseEngineTables(db: BetterSqlite3.Database, query: QuerySpec): void {
    const roots = new Set(
      db.prepare(`SELECT rootpage FROM sqlite_schema WHERE tbl_name LIKE 'insitu\\_%' ESCAPE '\\'`).pluck().all() as number[],
    );
    const ops = db.prepare(`EXPLAIN ${query.sql}`).all(...bindable(query.params)) as { opcode: string; p2: number; p3: number }[];
    for (const op of ops) {
      if ((op.opcode === 'OpenRead' || op.opcode === 'OpenWrite') && op.p3 === 0 && roots.has(op.p2)) {
        throw badInput('queries cannot read engine tables (insitu_*); use the scripts API instead');
      }
    }
  }

  // ---- scripts ------------------------------------------------------------------------------------

  /** @inheritdoc */
  putScript(script: StoredScript, opts: { overwrite: boolean }): Promise<void> {
    return this.#scripts.putScript(script, opts);
  }

  /** @inheritdoc */
  getScript(name: string, scope: { owner: string } | { global: true }): Promise<StoredScript | null> {
    return this.#scripts.getScript(name, scope);
  }

  /** @inheritdoc */
  listScripts(filter: ScriptFilter): Promise<StoredScript[]> {
    return this.#scripts.listScripts(filter);
  }

  /** @inheritdoc */
  deleteScript(name: string, scope: { owner: string } | { global: true }): Promise<boolean> {
    return this.#scripts.deleteScript(name, scope);
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    for (const r of this.#readers) r.close();
    this.#readers.clear();
    if (this.#db.open) this.#db.close();
  }
}
