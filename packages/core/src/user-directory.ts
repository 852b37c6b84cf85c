import { badInput, ErrorCode, InsituError } from './errors.js';
import { PUBLIC } from './storage.js';
import type { UserStorage } from './user-storage.js';

/**
 * Which session users an engine accepts. `open`: any valid name, registered the first time a session
 * of it is made (embedding, today's behaviour). `registered`: only users created with
 * `engine.users.create()`; sessions of others are refused with PRIVILEGE.
 */
export type UserMode = 'open' | 'registered';

/** Check a `users` engine option; undefined means `open`. */
export function checkUserMode(mode: unknown): UserMode {
  if (mode === undefined) return 'open';
  if (mode !== 'open' && mode !== 'registered') throw badInput(`users must be 'open' or 'registered', got ${JSON.stringify(mode)}`);
  return mode;
}

/**
 * Decides who may act and who may be granted to. Sessions are admitted here: in `open` mode by
 * registering their user, in `registered` mode by finding it. Drops bump an epoch so that admitted
 * sessions are checked again.
 */
export class UserDirectory {
  /** The engine's user mode. */
  readonly mode: UserMode;
  readonly #storage: UserStorage;
  /** Registrations started by `open`-mode sessions and not finished yet, by name. */
  readonly #pending = new Map<string, Promise<unknown>>();
  #epoch = 0;
  readonly #dropListeners = new Set<(user: string) => void>();

  /** Apply `mode` over the given registry. */
  constructor(storage: UserStorage, mode: UserMode) {
    this.#storage = storage;
    this.mode = mode;
  }

  /** Changes whenever a user is dropped: admissions made before then must be made again. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Note that `user` was dropped, and tell the listeners (see {@link onDropped}). */
  dropped(user: string): void {
    this.#epoch++;
    for (const listener of this.#dropListeners) {
      try {
        listener(user);
      } catch {
        // A listener's failure does not undo the drop.
      }
    }
  }

  /**
   * Call `listener` with each dropped user's name, after admissions of this directory were reset: for
   * what admitted the user elsewhere (the SQL host's engine has a directory of its own).
   */
  onDropped(listener: (user: string) => void): void {
    this.#dropListeners.add(listener);
  }

  /**
   * Let a session of `user` (a checked name) act: register it in `open` mode, or resolve only if it is
   * registered (PRIVILEGE otherwise).
   */
  admit(user: string): Promise<void> {
    if (this.mode === 'open') {
      const registering = this.#storage.putUser({ name: user, description: '', created: new Date() }, { ifMissing: true });
      this.#pending.set(user, registering);
      const done = () => {
        if (this.#pending.get(user) === registering) this.#pending.delete(user);
      };
      return registering.then(done, (e: unknown) => {
        done();
        throw e;
      });
    }
    return this.#storage.getUser(user).then((found) => {
      if (found === null) {
        throw new InsituError(
          ErrorCode.PRIVILEGE,
          `user ${user} is not registered and this engine takes sessions of registered users only (users: 'registered'); create it with engine.users.create(${JSON.stringify(user)})`,
        );
      }
    });
  }

  /** Whether `name` may be named as a grantee: PUBLIC, or a registered user (waiting for one being registered). */
  async known(name: string): Promise<boolean> {
    if (name === PUBLIC) return true;
    await this.#pending.get(name)?.catch(() => undefined);
    return (await this.#storage.getUser(name)) !== null;
  }
}
