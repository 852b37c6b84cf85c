import { badInput } from './errors.js';
import { checkPassword, hashPassword, verifyPassword } from './password-hash.js';
import type { UserDirectory } from './user-directory.js';
import { checkUserName } from './user-names.js';
import type { UserObjects, UserStorage } from './user-storage.js';

/** A registered user, as `engine.users.list()` gives it. */
export interface UserInfo {
  /** The user's name. */
  readonly name: string;
  /** When the user was registered (created, or first seen by an `open`-mode engine). */
  readonly created: Date;
  /** Free-text description ('' when none). */
  readonly description: string;
}

/** Options for {@link UserService.create}. */
export interface CreateUserOptions {
  /** Free-text description. Default ''. */
  readonly description?: string;
  /**
   * The password the user signs in to the REST server with (8 to 1024 characters), stored as a
   * salted scrypt hash. Default: none (the user cannot sign in until `setPassword`).
   */
  readonly password?: string;
}

/** Options for {@link UserService.drop}. */
export interface DropUserOptions {
  /** Also remove everything the user owns (scripts, datastores, the grants on them). Default false. */
  readonly cascade?: boolean;
}

/** What {@link UserService.drop} removed. */
export interface DroppedUser {
  /** The user's objects removed with them (all zero when they owned nothing). */
  readonly removed: UserObjects;
  /** Grants other users had given to the dropped user, revoked. */
  readonly revoked: number;
}

const MAX_DESCRIPTION = 4000;

function describeOwned(o: UserObjects): string {
  const parts = [
    [o.scripts, 'script'],
    [o.datastores, 'datastore'],
    [o.tables, 'table'],
    [o.grants, 'grant'],
  ] as const;
  return parts
    .filter(([n]) => n > 0)
    .map(([n, what]) => `${n} ${what}${n === 1 ? '' : 's'}`)
    .join(', ');
}

/**
 * The engine's known users (`engine.users`): create, list, drop. An engine-level administration API:
 * whoever holds the engine may use it (the REST server exposes none of it).
 */
export class UserService {
  readonly #storage: UserStorage;
  readonly #directory: UserDirectory;

  /** @internal Use `engine.users`. */
  constructor(storage: UserStorage, directory: UserDirectory) {
    this.#storage = storage;
    this.#directory = directory;
  }

  /** Register a user. A bad or reserved name is BAD_INPUT; an existing user ALREADY_EXISTS. */
  async create(name: string, opts: CreateUserOptions = {}): Promise<UserInfo> {
    const user = checkUserName(name);
    const description = opts.description ?? '';
    if (typeof description !== 'string' || description.length > MAX_DESCRIPTION) {
      throw badInput(`description must be a string of at most ${MAX_DESCRIPTION} characters`);
    }
    const passwordHash = opts.password === undefined ? {} : { passwordHash: await hashPassword(checkPassword(opts.password)) };
    const created = new Date();
    await this.#storage.putUser({ name: user, description, created, ...passwordHash }, { ifMissing: false });
    return { name: user, created, description };
  }

  /**
   * Set a user's password (8 to 1024 characters), or with null remove it (the user can no longer sign
   * in). Tokens issued before stop working. An unknown user is BAD_INPUT.
   */
  async setPassword(name: string, password: string | null): Promise<void> {
    const user = checkUserName(name);
    const hash = password === null ? null : await hashPassword(checkPassword(password));
    if (!(await this.#storage.setPasswordHash(user, hash))) throw badInput(`user ${user} does not exist`);
  }

  /**
   * Whether `password` is the password of user `name`. False for unknown users, users without a
   * password and malformed input, after the same work as a real check (so the time taken does not
   * tell whether the user exists); the comparison is constant-time.
   */
  async authenticate(name: string, password: string): Promise<boolean> {
    let user: string | null = null;
    try {
      user = checkUserName(name);
    } catch {
      user = null;
    }
    const found = user === null ? null : await this.#storage.getCredentials(user);
    const ok = await verifyPassword(typeof password === 'string' ? password : '', found?.passwordHash ?? null);
    return ok && found !== null;
  }

  /** Every registered user, ordered by name. */
  async list(): Promise<UserInfo[]> {
    return (await this.#storage.listUsers()).map((u) => ({ name: u.name, created: u.created, description: u.description }));
  }

  /**
   * Remove a user. One who owns scripts, datastores or tables is BAD_INPUT (naming what they own)
   * unless `cascade`, which removes those objects (tables are dropped), the grants on them and the
   * user in one transaction.
   * Grants other users gave to them are revoked either way, so a later user of that name starts with
   * nothing. An unknown user is BAD_INPUT.
   */
  async drop(name: string, opts: DropUserOptions = {}): Promise<DroppedUser> {
    const user = checkUserName(name);
    if (opts.cascade !== undefined && typeof opts.cascade !== 'boolean') throw badInput('cascade must be a boolean');
    const outcome = await this.#storage.deleteUser(user, { cascade: opts.cascade === true });
    if (outcome === null) throw badInput(`user ${user} does not exist`);
    if (!outcome.deleted) {
      throw badInput(`user ${user} owns ${describeOwned(outcome.owned)}; pass { cascade: true } to drop the user with them`);
    }
    this.#directory.dropped(user);
    return { removed: outcome.owned, revoked: outcome.revoked };
  }
}
