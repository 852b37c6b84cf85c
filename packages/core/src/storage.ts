import type { Schema, Table } from 'apache-arrow';
import type { RowObject, SqlParam } from './values.js';

/**
 * The storage interfaces core depends on. An adapter (SQLite today) implements them; core never sees
 * SQL drivers. Methods are async so that a networked backend fits the same shape.
 */

/** A read-only SQL query with bound parameters, as compiled from a table proxy. */
export interface QuerySpec {
  readonly sql: string;
  readonly params: readonly SqlParam[];
}

/** Options for {@link TableStorage.scan}. */
export interface ScanOptions {
  /** Rows per batch; every batch but the last is exactly this long (unless cut by `breakOn`). */
  readonly batchRows: number;
  /** Also end a batch whenever the values of these columns change from one row to the next. */
  readonly breakOn?: readonly string[];
  /** Stop reading when aborted. */
  readonly signal?: AbortSignal;
}

/** Options for {@link TableStorage.createTable}. */
export interface CreateTableOptions {
  /** Replace an existing table of that name (in one transaction). Default false. */
  readonly overwrite?: boolean;
}

/** User tables and read-only queries. */
export interface TableStorage {
  /** Create (or with `overwrite`, replace) a table from an Arrow table or row objects, atomically. */
  createTable(name: string, data: Table | readonly RowObject[], opts?: CreateTableOptions): Promise<void>;
  /** Whether a user table or view of that name exists. */
  hasTable(name: string): Promise<boolean>;
  /**
   * Check that `query` is one read-only statement and return its Arrow schema. Anything else is
   * BAD_INPUT and nothing is executed.
   */
  describe(query: QuerySpec): Promise<Schema>;
  /** Number of rows `query` returns. */
  count(query: QuerySpec): Promise<number>;
  /** Stream the rows of `query` as Arrow tables of one record batch each, built column-wise. */
  scan(query: QuerySpec, opts: ScanOptions): AsyncIterable<Table>;
}

/** A stored script as kept by storage. */
export interface StoredScript {
  /** Script name (an identifier). */
  readonly name: string;
  /** User who created it. */
  readonly owner: string;
  /** Visible to every user when true. */
  readonly global: boolean;
  /** Python source text. */
  readonly source: string;
  /** Free-text description. */
  readonly description: string;
  /** When it was created or last replaced. */
  readonly created: Date;
}

/** Filter for {@link ScriptStorage.listScripts}. */
export interface ScriptFilter {
  /** Scripts visible to this user. */
  readonly user: string;
  /** `user`: the user's private and global scripts they own; `global`: all global ones; `all`: everything visible. */
  readonly type: 'user' | 'global' | 'all';
  /** SQL LIKE pattern on the name. */
  readonly name?: string;
}

/** Script repository storage. A script is private to its owner (`global: false`) or global. */
export interface ScriptStorage {
  /**
   * Store a script. Private scripts are unique per (owner, name), global ones per name.
   * Without `overwrite`, an existing one is ALREADY_EXISTS and nothing changes.
   */
  putScript(script: StoredScript, opts: { overwrite: boolean }): Promise<void>;
  /** The private script `name` of `owner`, or the global script `name` when `global`; null if absent. */
  getScript(name: string, scope: { owner: string } | { global: true }): Promise<StoredScript | null>;
  /** Scripts matching a filter, ordered by name then owner. */
  listScripts(filter: ScriptFilter): Promise<StoredScript[]>;
  /** Delete a script; returns whether one was deleted. */
  deleteScript(name: string, scope: { owner: string } | { global: true }): Promise<boolean>;
}

/** Everything core needs from a storage backend. Datastores, grants and jobs join this later. */
export interface Storage extends TableStorage, ScriptStorage {
  /** Where the data lives: a file path, or `:memory:`. */
  readonly location: string;
  /** Release connections. Idempotent. */
  close(): Promise<void>;
}
