import type { Storage } from './storage.js';
import type { UserDirectory } from './user-directory.js';

/**
 * A view of `storage` for one session: every operation first waits for `user` to be admitted by the
 * directory (registered in `open` mode, found in `registered` mode), so nothing a session does — calls,
 * table proxies, UDFs' host calls — reaches storage for a refused user. A success is remembered until
 * a user is dropped; a refusal is not (the user may be created later).
 */
export function admittedStorage(storage: Storage, directory: UserDirectory, user: string): Storage {
  let admitted: { epoch: number; done: Promise<void> } | null = null;
  const admit = (): Promise<void> => {
    if (admitted !== null && admitted.epoch === directory.epoch) return admitted.done;
    const entry = { epoch: directory.epoch, done: directory.admit(user) };
    admitted = entry;
    entry.done.catch(() => {
      if (admitted === entry) admitted = null;
    });
    return entry.done;
  };
  // Start now: in open mode the user is known (as a grantee) from the moment its session exists.
  admit().catch(() => undefined);
  return new Proxy(storage, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function' || prop === 'close') return v;
      const method = v as (...a: unknown[]) => unknown;
      if (prop === 'scan') {
        return async function* (...args: unknown[]): AsyncGenerator<unknown> {
          await admit();
          yield* method.apply(target, args) as AsyncIterable<unknown>;
        };
      }
      return (...args: unknown[]) => admit().then(() => method.apply(target, args));
    },
  });
}
