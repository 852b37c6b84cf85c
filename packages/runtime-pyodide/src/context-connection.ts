import type { ContextMode, HostApi, SqlParam, Synchronous } from '@insitu/core';
import type { Table } from 'apache-arrow';

/**
 * The connection behind `insitu.connect()` in a worker: the adapter's context module opens one on the
 * database file (see `@insitu/adapters/sqlite-context`), or {@link EngineContextConnection} asks the
 * engine over the worker's channel.
 */
export interface ContextConnection {
  /** One read-only query, all its rows (`byColumn`: the same rows one column per statement). */
  query(sql: string, params: readonly SqlParam[], byColumn?: readonly string[]): Table;
  /** A read-only query's rows in batches, also cut where the `breakOn` columns change. */
  scan(sql: string, params: readonly SqlParam[], batchRows: number, breakOn: readonly string[]): Iterable<Table>;
  /** An unordered read-only query's rows as one table per value of a numeric key, ascending. */
  groups(sql: string, params: readonly SqlParam[], key: string): Iterable<Table>;
  /** One statement (a change only with `write`); the number of rows it changed. */
  execute(sql: string, params: readonly SqlParam[], mode: ContextMode): number;
  /** The engine services of `insitu.ds` for `user`, inside the partition's transaction. */
  datastores(user: string): Synchronous<HostApi>;
  /** Commit the partition's transaction, if it wrote anything. */
  commit(): void;
  /** Undo what a call left open on the connection. */
  reset(): void;
  /** Close the connection. */
  close(): void;
}
