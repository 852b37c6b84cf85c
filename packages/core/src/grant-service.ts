import { ErrorCode, InsituError, badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';
import { datastoreNotFound, privilegeError } from './privileges.js';
import { scriptNotFound } from './script-repository.js';
import { PUBLIC, type Grant, type Storage } from './storage.js';
import type { TableGrant, TablePrivilege } from './table-privilege-storage.js';
import { tableNotFound } from './table-errors.js';
import type { UserDirectory } from './user-directory.js';

/**
 * What to grant or revoke: exactly one of `script`, `datastore` or `table`, and a grantee. A table
 * grant gives `privilege` `'read'` (default) or `'write'` (which implies read); revoking a table grant
 * takes the grantee's privilege on it back whole.
 */
export type GrantTarget =
  | { readonly script: string; readonly datastore?: never; readonly table?: never; readonly to: string }
  | { readonly datastore: string; readonly script?: never; readonly table?: never; readonly to: string }
  | { readonly table: string; readonly script?: never; readonly datastore?: never; readonly to: string; readonly privilege?: TablePrivilege };

type CheckedTarget = { kind: Grant['kind']; name: string; to: string } | { kind: 'table'; name: string; to: string; privilege: TablePrivilege };

function checkTarget(t: unknown): CheckedTarget {
  if (t === null || typeof t !== 'object') throw badInput('grant needs { script | datastore | table: name, to: user | "PUBLIC" }');
  const { script, datastore, table, to, privilege } = t as { script?: unknown; datastore?: unknown; table?: unknown; to?: unknown; privilege?: unknown };
  if ([script, datastore, table].filter((v) => v !== undefined).length !== 1) throw badInput('name exactly one of script, datastore or table');
  if (typeof to !== 'string' || to === '' || to.length > 128 || /[\u0000-\u001f]/.test(to)) throw badInput('to must be a user name or "PUBLIC"');
  if (table !== undefined) {
    if (privilege !== undefined && privilege !== 'read' && privilege !== 'write') throw badInput(`privilege must be 'read' or 'write', got ${JSON.stringify(privilege)}`);
    return { kind: 'table', name: checkIdentifier(table, 'table'), to, privilege: privilege ?? 'read' };
  }
  if (privilege !== undefined) throw badInput('privilege applies to table grants only');
  return script !== undefined
    ? { kind: 'script', name: checkIdentifier(script, 'script'), to }
    : { kind: 'datastore', name: checkIdentifier(datastore, 'datastore'), to };
}

/** Grants read (and, for scripts, execute) privilege on the caller's own scripts and datastores. */
export class GrantService {
  readonly #storage: Storage;
  readonly #user: string;
  readonly #users: Pick<UserDirectory, 'known'>;

  /** @internal Use `session.grant()` / `session.revoke()`. `users` says who may be granted to. */
  constructor(storage: Storage, user: string, users: Pick<UserDirectory, 'known'>) {
    this.#storage = storage;
    this.#user = user;
    this.#users = users;
  }

  /**
   * Let `to` (a user, or PUBLIC for everyone) read one of your private scripts or grantable datastores,
   * or read or write one of your tables.
   */
  async grant(target: GrantTarget): Promise<void> {
    const t = checkTarget(target);
    if (t.kind === 'table') {
      await this.#storage.putTableGrant(await this.#ownTableGrant(t, 'grant'));
      return;
    }
    await this.#storage.putGrant(await this.#ownGrant(t, 'grant'));
  }

  /** Take a grant back; returns whether there was one. */
  async revoke(target: GrantTarget): Promise<boolean> {
    const t = checkTarget(target);
    if (t.kind === 'table') {
      const g = await this.#ownTableGrant(t, 'revoke');
      return this.#storage.deleteTableGrant(g.table, g.grantee);
    }
    return this.#storage.deleteGrant(await this.#ownGrant(t, 'revoke'));
  }

  /**
   * A grant on one of the caller's tables. A table the caller cannot see is TABLE_NOT_FOUND, like a
   * missing one; one they can see but do not own is PRIVILEGE.
   */
  async #ownTableGrant(t: { name: string; to: string; privilege: TablePrivilege }, action: 'grant' | 'revoke'): Promise<TableGrant> {
    const grantee = t.to.toUpperCase() === PUBLIC ? PUBLIC : t.to;
    const table = await this.#storage.getTableOwnership(t.name);
    const access = table === null ? 'none' : await this.#storage.tableAccess(table.name, this.#user);
    if (table === null || access === 'none') throw tableNotFound(t.name);
    if (access !== 'owner') {
      const why = table.owner === null ? 'which has no owner (an administrator can give it one with engine.tables.setOwner)' : 'which another user owns';
      throw new InsituError(ErrorCode.PRIVILEGE, `user ${this.#user} cannot ${action} table ${table.name}, ${why}`);
    }
    if (action === 'grant' && !(await this.#users.known(grantee))) {
      throw badInput(`cannot grant table ${table.name} to user ${JSON.stringify(grantee.slice(0, 128))}: no such user (create it with engine.users.create, or grant to PUBLIC)`);
    }
    return { table: table.name, grantee, privilege: t.privilege };
  }

  /**
   * Whether another user's object of that name is visible to the caller through a grant: re-granting
   * it is then a missing privilege, not a missing object (the caller can see it).
   */
  async #grantedToMe(kind: Grant['kind'], name: string): Promise<boolean> {
    const visible =
      kind === 'script'
        ? await this.#storage.listScripts({ user: this.#user, type: 'granted', name })
        : await this.#storage.listDatastores({ user: this.#user, type: 'granted', name });
    return visible.some((o) => o.name === name);
  }

  async #ownGrant(target: { kind: Grant['kind']; name: string; to: string }, action: 'grant' | 'revoke'): Promise<Grant> {
    const { kind, name, to } = target;
    const grantee = to.toUpperCase() === PUBLIC ? PUBLIC : to;
    if (kind === 'script') {
      if ((await this.#storage.getScript(name, { owner: this.#user })) === null) {
        const global = await this.#storage.getScript(name, { global: true });
        if (global !== null) throw badInput(`script ${name} is global and visible to everyone already; grants apply to private scripts`, { script: name });
        if (await this.#grantedToMe('script', name)) throw privilegeError(`script ${name}, which another user owns and granted to you`, this.#user, action, { script: name });
        throw scriptNotFound(name, this.#user);
      }
    } else {
      const ds = await this.#storage.getDatastore(this.#user, name);
      if (ds === null) {
        if (await this.#grantedToMe('datastore', name)) {
          throw privilegeError(`datastore ${name}, which another user owns and granted to you`, this.#user, action, { datastore: name });
        }
        throw datastoreNotFound(name, this.#user, this.#user);
      }
      if (action === 'grant' && !ds.grantable) {
        throw privilegeError(`datastore ${name}, which was saved with grantable: false`, this.#user, 'grant', { datastore: name });
      }
    }
    // Only the owner gets this far, so only an owner learns whether a user exists.
    if (action === 'grant' && !(await this.#users.known(grantee))) {
      throw badInput(`cannot grant ${kind} ${name} to user ${JSON.stringify(grantee.slice(0, 128))}: no such user (create it with engine.users.create, or grant to PUBLIC)`, {
        [kind]: name,
      });
    }
    return { kind, owner: this.#user, name, grantee };
  }
}
