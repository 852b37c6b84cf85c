import type { ContextMode, HostApi, SqlParam, Synchronous } from '@insitu/core';
import type { Table } from 'apache-arrow';

/**
 * The connection behind `insitu.connect()` in a worker: the adapter's context module opens one on the
 * database file (see `@insitu/adapters/sqlite-context`), or {@link EngineContextConnection} asks the
 * engine over the worker's channel.
 */
export interface ContextConnection {
  query(sql: string, params: readonly SqlParam[], byColumn?: readonly string[]): Table;
  scan(sql: string, params: readonly SqlParam[], batchRows: number, breakOn: readonly string[]): Iterable<Table>;
  groups(sql: string, params: readonly SqlParam[], key: string): Iterable<Table>;
  execute(sql: string, params: readonly SqlParam[], mode: ContextMode): number;
  datastores(user: string): Synchronous<HostApi>;
  commit(): void;
  reset(): void;
  close(): void;
}
