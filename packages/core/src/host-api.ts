import { tableToIPC } from 'apache-arrow';
import type { ContextSession } from './context-session.js';
import { DatastoreService, DatastoreSteps } from './datastore-service.js';
import type { HostApi } from './runtime.js';
import { visibleScriptBySourceHash, visibleScriptSteps } from './script-visibility.js';
import { runAsync, runSync, type Synchronous } from './steps.js';
import type { DatastoreStorage, GrantStorage, ScriptStorage, Storage } from './storage.js';

/** The engine services a UDF running as `user` may call (`insitu.ds`), with that user's privileges. */
export function hostApiFor(storage: Storage, user: string): HostApi {
  const ds = new DatastoreService(storage, user);
  return {
    user,
    dsSave: (name, objects, opts) => ds.saveStored(name, objects, opts),
    dsLoad: (name, opts) => ds.loadStored(name, opts),
    dsList: (opts) => ds.list(opts),
    dsDescribe: (name, opts) => ds.describe(name, opts),
    dsDelete: (name, opts) => ds.delete(name, opts),
    dsVisibleScript: (sourceHash) => visibleScriptBySourceHash(storage, user, sourceHash),
  };
}

/** The datastore services of {@link HostApi} on `stores`, with the same checks as {@link hostApiFor}. */
function storeServices(stores: DatastoreStorage & GrantStorage & ScriptStorage, user: string): Omit<HostApi, 'user'> {
  const ds = new DatastoreSteps(stores, user);
  return {
    dsSave: (name, objects, opts) => runAsync(ds.saveStored(name, objects, opts)),
    dsLoad: (name, opts) => runAsync(ds.loadStored(name, opts)),
    dsList: (opts) => runAsync(ds.list(opts)),
    dsDescribe: (name, opts) => runAsync(ds.describe(name, opts)),
    dsDelete: (name, opts) => runAsync(ds.delete(name, opts)),
    dsVisibleScript: (sourceHash) => visibleScriptBySourceHash(stores, user, sourceHash),
  };
}

/**
 * `host` with `insitu.connect()` answered on `session` (one task's): queries come back as Arrow IPC,
 * so they cross threads and processes as bytes. When the session has its own stores, `insitu.ds`
 * works inside the partition's transaction too.
 */
export function withContextSession(host: HostApi, session: ContextSession): HostApi {
  return {
    ...host,
    ...(session.stores === undefined ? {} : storeServices(session.stores, host.user)),
    sqlQuery: async (sql, params) => tableToIPC(await session.query(sql, params), 'stream'),
    sqlExecute: (sql, params) => session.execute(sql, params),
    sqlEnd: (commit) => (commit ? session.commit() : session.rollback()),
  };
}

/**
 * The same services answered synchronously, on a storage that answers at once: a worker runs them on
 * its own database connection, inside the transaction of the partition that asks (so a partition's
 * saves and deletes commit or roll back with its SQL writes, and it reads what it wrote). Same checks
 * as {@link hostApiFor}: they are the same steps.
 */
export function syncHostApiFor(
  storage: Synchronous<DatastoreStorage & GrantStorage & ScriptStorage>,
  user: string,
  sha256: (text: string) => string,
): Synchronous<HostApi> {
  const ds = new DatastoreSteps(storage, user);
  return {
    user,
    dsSave: (name, objects, opts) => runSync(ds.saveStored(name, objects, opts)),
    dsLoad: (name, opts) => runSync(ds.loadStored(name, opts)),
    dsList: (opts) => runSync(ds.list(opts)),
    dsDescribe: (name, opts) => runSync(ds.describe(name, opts)),
    dsDelete: (name, opts) => runSync(ds.delete(name, opts)),
    dsVisibleScript: (sourceHash) => runSync(visibleScriptSteps(storage, user, sourceHash, sha256)),
  };
}
