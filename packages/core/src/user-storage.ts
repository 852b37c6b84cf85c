/** A registered user as kept by storage. */
export interface StoredUser {
  /** The user's name (see `checkUserName`). */
  readonly name: string;
  /** Free-text description. */
  readonly description: string;
  /** When the user was registered. */
  readonly created: Date;
}

/** What a user owns: counted before a drop, removed by a cascading one. */
export interface UserObjects {
  /** Scripts the user created, private and global. */
  readonly scripts: number;
  /** Datastores the user owns. */
  readonly datastores: number;
  /** Tables and views the user owns (made through insitu, or given to them). */
  readonly tables: number;
  /** Grants the user gave on their own scripts, datastores and tables. */
  readonly grants: number;
}

/** The outcome of {@link UserStorage.deleteUser} for a user that exists. */
export interface UserDeletion {
  /** Whether the user was removed (false: they own objects and the drop did not cascade). */
  readonly deleted: boolean;
  /** What the user owned when the drop ran (removed with them when `deleted`). */
  readonly owned: UserObjects;
  /** Grants other users had given to this user, revoked with them (0 when not `deleted`). */
  readonly revoked: number;
}

/** What a user signs in with, as kept by storage. */
export interface StoredCredentials {
  /** When the user was registered (a user dropped and created again differs here). */
  readonly created: Date;
  /** The user's password hash (see `hashPassword`), or null when none is set. */
  readonly passwordHash: string | null;
}

/** The registry of known users. */
export interface UserStorage {
  /**
   * Register a user, with a password hash when given. An existing one is ALREADY_EXISTS unless
   * `ifMissing`, when nothing changes. Resolves to whether the user was added.
   */
  putUser(user: StoredUser & { readonly passwordHash?: string }, opts: { ifMissing: boolean }): Promise<boolean>;
  /** Set (or with null, remove) a user's password hash. Resolves to false when there is no such user. */
  setPasswordHash(name: string, hash: string | null): Promise<boolean>;
  /** The registration time and password hash of the user of that exact name, or null. */
  getCredentials(name: string): Promise<StoredCredentials | null>;
  /** The user of that exact name, or null. */
  getUser(name: string): Promise<StoredUser | null>;
  /** Every registered user, ordered by name. */
  listUsers(): Promise<StoredUser[]>;
  /**
   * In one transaction: count what `name` owns; unless they own something and `cascade` is false,
   * delete their scripts, datastores and tables and the grants on them, revoke the grants given to
   * them and remove the user. Resolves to null when there is no such user.
   */
  deleteUser(name: string, opts: { cascade: boolean }): Promise<UserDeletion | null>;
}
