import type { UserDirectory } from './user-directory.js';

/**
 * Admission of a session's user, checked before anything the session does reaches storage or the
 * Python runtime: calls, table proxies, UDFs' host calls, inline UDFs that read nothing.
 */

/**
 * A function that resolves once `user` is admitted by the directory (registered in `open` mode, found
 * in `registered` mode) and rejects otherwise. Admission starts at once (in `open` mode the user is a
 * valid grantee from the moment its session exists). A success is remembered until a user is dropped;
 * a refusal is not (the user may be created later).
 */
export function admissionOf(directory: UserDirectory, user: string): () => Promise<void> {
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
  admit().catch(() => undefined);
  return admit;
}

/**
 * A view of `target` (a storage or a runtime, whose methods all return promises or, for `scan`, async
 * iterables) whose methods wait for `admit` first. `close`, `openContextSession`, `compileQuery` (pure,
 * synchronous: it only writes SQL text) and plain properties pass through.
 */
export function admitted<T extends object>(target: T, admit: () => Promise<void>): T {
  return new Proxy(target, {
    get(t, prop) {
      const v = Reflect.get(t, prop, t) as unknown;
      // openContextSession answers at once (a session opens no connection until used): only its use waits.
      if (typeof v !== 'function' || prop === 'close') return v;
      if (prop === 'openContextSession' || prop === 'compileQuery') return (v as (...a: unknown[]) => unknown).bind(t);
      const method = v as (...a: unknown[]) => unknown;
      if (prop === 'scan') {
        return async function* (...args: unknown[]): AsyncGenerator<unknown> {
          await admit();
          yield* method.apply(t, args) as AsyncIterable<unknown>;
        };
      }
      return (...args: unknown[]) => admit().then(() => method.apply(t, args));
    },
  });
}
