import { badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';
import { tableNotFound } from './table-errors.js';
import type { TablePrivilegeStorage } from './table-privilege-storage.js';
import type { UserDirectory } from './user-directory.js';

/**
 * Administration of table owners (`engine.tables`): whoever holds the engine may use it. Tables made
 * through insitu get their owner when they are made; this adopts tables made outside insitu, or hands a
 * table to another user.
 */
export class TableAdmin {
  readonly #storage: TablePrivilegeStorage;
  readonly #users: Pick<UserDirectory, 'known'>;

  /** @internal Use `engine.tables`. */
  constructor(storage: TablePrivilegeStorage, users: Pick<UserDirectory, 'known'>) {
    this.#storage = storage;
    this.#users = users;
  }

  /** The owner of table (or view) `name`, or null when it has none. TABLE_NOT_FOUND if it does not exist. */
  async owner(name: string): Promise<string | null> {
    const t = await this.#storage.getTableOwnership(checkIdentifier(name, 'table'));
    if (t === null) throw tableNotFound(name);
    return t.owner;
  }

  /**
   * Make `user` (a known user) the owner of table `name`, or with null leave it without owner (the
   * engine's `unownedTables` rule then applies). Grants on it stay.
   */
  async setOwner(name: string, user: string | null): Promise<void> {
    const t = await this.#storage.getTableOwnership(checkIdentifier(name, 'table'));
    if (t === null) throw tableNotFound(name);
    if (user !== null && (typeof user !== 'string' || user.toUpperCase() === 'PUBLIC' || !(await this.#users.known(user)))) {
      throw badInput(`cannot make ${JSON.stringify(String(user).slice(0, 128))} the owner of table ${t.name}: no such user (create it with engine.users.create)`);
    }
    await this.#storage.setTableOwner(t.name, user);
  }
}
