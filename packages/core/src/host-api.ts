import { DatastoreService } from './datastore-service.js';
import type { HostApi } from './runtime.js';
import { visibleScriptBySourceHash } from './script-visibility.js';
import type { Storage } from './storage.js';

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
