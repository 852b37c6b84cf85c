import type { Table } from 'apache-arrow';
import type { ContextMode } from './runtime.js';
import type { DatastoreStorage, GrantStorage, ScriptStorage } from './storage.js';
import type { SqlParam } from './values.js';

/**
 * The database session behind `insitu.connect()` for one task (one partition) when the storage gives
 * workers no connection of their own and the engine answers their SQL instead (PostgreSQL: the sandbox
 * has no network). Statements run with the caller's privileges, engine tables unreachable, read-only
 * unless the call's context is `write`. The partition's statements are one transaction: committed by
 * {@link commit} (the worker asks once the partition succeeded), rolled back by {@link rollback} or
 * {@link release}. Calls are answered one at a time, in order.
 */
export interface ContextSession {
  /**
   * The engine's datastore, grant and script stores working inside the partition's transaction, so
   * that the partition's `insitu.ds` saves and deletes commit or roll back with its SQL writes and it
   * loads what it saved. Absent: `insitu.ds` runs on the engine's storage and commits at once.
   */
  readonly stores?: DatastoreStorage & GrantStorage & ScriptStorage;
  /** Run one read-only query and return all its rows. */
  query(sql: string, params: readonly SqlParam[]): Promise<Table>;
  /** Run one statement (a change only with context `write`); the number of rows it changed. */
  execute(sql: string, params: readonly SqlParam[]): Promise<number>;
  /** Commit the partition's transaction, if one is open. */
  commit(): Promise<void>;
  /** Roll back the partition's transaction, if one is open. */
  rollback(): Promise<void>;
  /**
   * End the session: roll back what is still open and give its connection back. Idempotent; every
   * call after it is refused. The engine calls it when the task ends, however it ended.
   */
  release(): Promise<void>;
}

/** A storage whose UDFs reach the database through the engine (see {@link ContextSession}). */
export interface ContextSessionStorage {
  /** A new session acting as `user`, read-only unless `mode` is `write`. Opens no connection until used. */
  openContextSession(user: string, mode: ContextMode): ContextSession;
}
