import { ErrorCode, InsituError } from './errors.js';
import { runAsync, step, type MaybeSync, type Steps } from './steps.js';
import type { DatastoreInfo, GrantStorage, DatastoreStorage } from './storage.js';

/**
 * Read privilege rules shared by every entry point: an owner reads their own objects; others need a
 * grant to them or to PUBLIC. Invisible objects are reported exactly like missing ones.
 */

/** The datastore `name` of `owner` if `user` may read it; DATASTORE_NOT_FOUND otherwise. */
export function readableDatastore(
  storage: DatastoreStorage & GrantStorage,
  user: string,
  name: string,
  owner: string,
): Promise<DatastoreInfo> {
  return runAsync(readableDatastoreSteps(storage, user, name, owner));
}

/** {@link readableDatastore} as steps (see steps.ts), for storages that may answer synchronously. */
export function* readableDatastoreSteps(
  storage: MaybeSync<DatastoreStorage & GrantStorage>,
  user: string,
  name: string,
  owner: string,
): Steps<DatastoreInfo> {
  const ds = yield* step(storage.getDatastore(owner, name));
  if (ds !== null && (owner === user || (yield* step(storage.hasGrant('datastore', owner, name, user))))) return ds;
  throw datastoreNotFound(name, owner, user);
}

/** The error for a datastore that does not exist or that `user` cannot see. */
export function datastoreNotFound(name: string, owner: string, user: string): InsituError {
  const whose = owner === user ? '' : ` of user ${owner}`;
  return new InsituError(ErrorCode.DATASTORE_NOT_FOUND, `datastore ${name}${whose} does not exist or is not visible to user ${user}`, {
    datastore: name,
  });
}

/** The error for an operation `user` may not perform on an object they can see. */
export function privilegeError(what: string, user: string, action: string, details: { script?: string; datastore?: string } = {}): InsituError {
  return new InsituError(ErrorCode.PRIVILEGE, `user ${user} cannot ${action} ${what}`, details);
}
