import { badInput } from './errors.js';
import { hostFromStored, storedFromHost, type DatastoreValue } from './host-values.js';
import { checkIdentifier } from './identifiers.js';
import { datastoreNotFound, privilegeError, readableDatastoreSteps } from './privileges.js';
import { runAsync, step, type MaybeSync, type Steps } from './steps.js';
import type { DatastoreInfo, DatastoreListType, DatastoreStorage, GrantStorage, ObjectInfo, SaveMode, Storage, StoredObject } from './storage.js';

/** Options for saving a datastore. */
export interface SaveDatastoreOptions {
  /** Free-text description (ignored with `append` on an existing datastore). */
  readonly description?: string;
  /** Replace the whole datastore if it exists. */
  readonly overwrite?: boolean;
  /** Add (or replace) these objects in an existing datastore, creating it if needed. */
  readonly append?: boolean;
  /** Allow the owner to grant read access to others. Default false. */
  readonly grantable?: boolean;
}

/** Options for loading from a datastore. */
export interface LoadDatastoreOptions {
  /** Only these objects (default: all). */
  readonly objs?: readonly string[];
  /** Owner of the datastore (default: the caller); reading another user's needs a grant. */
  readonly owner?: string;
}

/** Options for listing datastores. */
export interface ListDatastoresOptions {
  /** SQL LIKE pattern on the name; with `regex`, a regular expression the name must match (anywhere in it). */
  readonly name?: string;
  /**
   * Take `name` as a JavaScript regular expression (`'^ds_(lm|glm)$'`), as OML's `regex_match`. Default
   * false. The pattern runs in the engine's thread: this is for the host application's own patterns.
   */
  readonly regex?: boolean;
  /** `user` (default): yours; `all`: yours and those granted to you; `grant`: yours you granted (one row per grantee); `granted`: others' granted to you. */
  readonly type?: DatastoreListType;
}

const LIST_TYPES: readonly DatastoreListType[] = ['user', 'all', 'grant', 'granted'];

function checkObjectNames(objs: unknown, what: string): readonly string[] | undefined {
  if (objs === undefined || objs === null) return undefined;
  if (!Array.isArray(objs) || objs.length === 0) throw badInput(`${what} must be a non-empty array of object names`);
  return objs.map((o) => checkIdentifier(o, 'object', { reservedPrefixes: false }));
}

/**
 * Datastores as one user sees them: named bags of objects (models, tables, settings) that UDFs and the
 * host save and load. Used by `session.datastores` with host values, and by UDF calls (`insitu.ds`)
 * with serialised objects. Every operation checks the caller's privileges (see {@link DatastoreSteps}).
 */
export class DatastoreService {
  readonly #storage: Storage;
  readonly #user: string;
  readonly #steps: DatastoreSteps;

  /** @internal Use `session.datastores`. */
  constructor(storage: Storage, user: string) {
    this.#storage = storage;
    this.#user = user;
    this.#steps = new DatastoreSteps(storage, user);
  }

  /** Save host values (Arrow tables, JSON-able values) under `name`; all or nothing. */
  async save(name: string, objs: Readonly<Record<string, unknown>>, opts: SaveDatastoreOptions = {}): Promise<DatastoreInfo> {
    if (objs === null || typeof objs !== 'object' || Array.isArray(objs)) throw badInput('objs must be an object of named values');
    const stored = Object.entries(objs).map(([k, v]) => storedFromHost(checkIdentifier(k, 'object', { reservedPrefixes: false }), v));
    await this.saveStored(name, stored, opts);
    return (await this.#storage.getDatastore(this.#user, name))!;
  }

  /** Save already-serialised objects (from a UDF); all or nothing. */
  saveStored(name: string, objects: readonly StoredObject[], opts: SaveDatastoreOptions = {}): Promise<void> {
    return runAsync(this.#steps.saveStored(name, objects, opts));
  }

  /** Load objects as host values: tables, JSON values, or {@link PythonObject} handles. */
  async load(name: string, opts: LoadDatastoreOptions = {}): Promise<Record<string, DatastoreValue>> {
    const objects = await this.loadStored(name, opts);
    return Object.fromEntries(objects.map((o) => [o.name, hostFromStored(o, name)]));
  }

  /** Load serialised objects (for a UDF). */
  loadStored(name: string, opts: LoadDatastoreOptions = {}): Promise<StoredObject[]> {
    return runAsync(this.#steps.loadStored(name, opts));
  }

  /** List datastores, ordered by name. */
  list(opts: ListDatastoresOptions = {}): Promise<DatastoreInfo[]> {
    return runAsync(this.#steps.list(opts));
  }

  /** One row per object: name, class, size, length, rows, columns. */
  describe(name: string, opts: { owner?: string } = {}): Promise<ObjectInfo[]> {
    return runAsync(this.#steps.describe(name, opts));
  }

  /** Delete your datastore, or only the named objects in it. Returns how many objects were removed. */
  delete(name: string, opts: { objs?: readonly string[]; owner?: string } = {}): Promise<number> {
    return runAsync(this.#steps.delete(name, opts));
  }
}

/**
 * The datastore operations of one user and their privilege checks, written once as steps (see
 * steps.ts): {@link DatastoreService} runs them on the engine's storage, a worker runs them on its own
 * connection inside the partition's transaction.
 */
export class DatastoreSteps {
  readonly #storage: MaybeSync<DatastoreStorage & GrantStorage>;
  readonly #user: string;

  /** Operations as `user` on `storage`. */
  constructor(storage: MaybeSync<DatastoreStorage & GrantStorage>, user: string) {
    this.#storage = storage;
    this.#user = user;
  }

  /** Save serialised objects as datastore `name` of the user; all or nothing. */
  *saveStored(name: string, objects: readonly StoredObject[], opts: SaveDatastoreOptions = {}): Steps<void> {
    checkIdentifier(name, 'datastore');
    if (opts.overwrite === true && opts.append === true) throw badInput('overwrite and append cannot both be set: overwrite replaces the datastore, append adds to it');
    if (objects.length === 0) throw badInput(`datastore ${name} needs at least one object to save`);
    const names = new Set<string>();
    for (const o of objects) {
      checkIdentifier(o.name, 'object', { reservedPrefixes: false });
      if (names.has(o.name)) throw badInput(`object ${o.name} appears twice`);
      names.add(o.name);
    }
    const description = opts.description ?? '';
    if (typeof description !== 'string') throw badInput('description must be a string');
    const mode: SaveMode = opts.overwrite === true ? 'overwrite' : opts.append === true ? 'append' : 'create';
    yield* step(this.#storage.saveDatastore(this.#user, name, objects, { mode, description, grantable: opts.grantable === true }));
  }

  /** Load serialised objects of a datastore the user may read. */
  *loadStored(name: string, opts: LoadDatastoreOptions = {}): Steps<StoredObject[]> {
    checkIdentifier(name, 'datastore');
    const owner = this.#owner(opts.owner);
    const objs = checkObjectNames(opts.objs, 'objs');
    yield* readableDatastoreSteps(this.#storage, this.#user, name, owner);
    const found = yield* step(this.#storage.loadObjects(owner, name, objs));
    if (objs !== undefined && found.length !== objs.length) {
      const missing = objs.filter((o) => !found.some((f) => f.name === o));
      throw badInput(`datastore ${name} has no object ${missing.join(', ')}`, { datastore: name });
    }
    return found;
  }

  /** List datastores, ordered by name. */
  *list(opts: ListDatastoresOptions = {}): Steps<DatastoreInfo[]> {
    const type = opts.type ?? 'user';
    if (!LIST_TYPES.includes(type)) throw badInput(`list type must be one of ${LIST_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
    if (opts.name !== undefined && typeof opts.name !== 'string') throw badInput('name pattern must be a string');
    if (opts.regex !== undefined && typeof opts.regex !== 'boolean') throw badInput('regex must be true or false');
    if (opts.regex === true && opts.name !== undefined) {
      let re: RegExp;
      try {
        re = new RegExp(opts.name, 'u');
      } catch (e) {
        throw badInput(`name is not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`);
      }
      const all = yield* step(this.#storage.listDatastores({ user: this.#user, type }));
      return all.filter((d) => re.test(d.name));
    }
    return yield* step(this.#storage.listDatastores({ user: this.#user, type, ...(opts.name === undefined ? {} : { name: opts.name }) }));
  }

  /** One row per object: name, class, size, length, rows, columns. */
  *describe(name: string, opts: { owner?: string } = {}): Steps<ObjectInfo[]> {
    checkIdentifier(name, 'datastore');
    const owner = this.#owner(opts.owner);
    yield* readableDatastoreSteps(this.#storage, this.#user, name, owner);
    return yield* step(this.#storage.describeObjects(owner, name));
  }

  /** Delete the user's datastore, or only the named objects in it. Returns how many objects were removed. */
  *delete(name: string, opts: { objs?: readonly string[]; owner?: string } = {}): Steps<number> {
    checkIdentifier(name, 'datastore');
    const owner = this.#owner(opts.owner);
    const objs = checkObjectNames(opts.objs, 'objs');
    if (owner !== this.#user) {
      yield* readableDatastoreSteps(this.#storage, this.#user, name, owner);
      throw privilegeError(`datastore ${name} of user ${owner}`, this.#user, 'delete from', { datastore: name });
    }
    if ((yield* step(this.#storage.getDatastore(owner, name))) === null) throw datastoreNotFound(name, owner, this.#user);
    if (objs !== undefined) {
      const present = (yield* step(this.#storage.describeObjects(owner, name))).map((o) => o.name);
      const missing = objs.filter((o) => !present.includes(o));
      if (missing.length > 0) throw badInput(`datastore ${name} has no object ${missing.join(', ')}; nothing was deleted`, { datastore: name });
    }
    return yield* step(this.#storage.deleteDatastore(owner, name, objs));
  }

  #owner(owner: unknown): string {
    if (owner === undefined || owner === null) return this.#user;
    if (typeof owner !== 'string' || owner === '') throw badInput('owner must be a user name');
    return owner;
  }
}
