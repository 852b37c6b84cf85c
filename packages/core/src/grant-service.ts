import { badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';
import { datastoreNotFound, privilegeError } from './privileges.js';
import { scriptNotFound } from './script-repository.js';
import { PUBLIC, type Grant, type Storage } from './storage.js';
import type { UserDirectory } from './user-directory.js';

/** What to grant or revoke: exactly one of `script` or `datastore`, and a grantee. */
export type GrantTarget =
  | { readonly script: string; readonly datastore?: never; readonly to: string }
  | { readonly datastore: string; readonly script?: never; readonly to: string };

function checkTarget(t: unknown): { kind: Grant['kind']; name: string; to: string } {
  if (t === null || typeof t !== 'object') throw badInput('grant needs { script | datastore: name, to: user | "PUBLIC" }');
  const { script, datastore, to } = t as { script?: unknown; datastore?: unknown; to?: unknown };
  if ((script === undefined) === (datastore === undefined)) throw badInput('name exactly one of script or datastore');
  if (typeof to !== 'string' || to === '' || to.length > 128 || /[\u0000-\u001f]/.test(to)) throw badInput('to must be a user name or "PUBLIC"');
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

  /** Let `to` (a user, or PUBLIC for everyone) read one of your private scripts or grantable datastores. */
  async grant(target: GrantTarget): Promise<void> {
    const g = await this.#ownGrant(target, 'grant');
    await this.#storage.putGrant(g);
  }

  /** Take a grant back; returns whether there was one. */
  async revoke(target: GrantTarget): Promise<boolean> {
    const g = await this.#ownGrant(target, 'revoke');
    return this.#storage.deleteGrant(g);
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

  async #ownGrant(target: GrantTarget, action: 'grant' | 'revoke'): Promise<Grant> {
    const { kind, name, to } = checkTarget(target);
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
