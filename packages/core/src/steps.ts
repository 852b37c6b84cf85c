/**
 * Logic over storage calls written once and run either way: asynchronously against the engine's
 * (async) storage, or synchronously against a storage that answers at once — the worker's own SQLite
 * connection, where a UDF's `insitu.ds` call must finish before Python continues (it cannot await).
 *
 * A computation is a generator that `yield*`s {@link step} for every storage call; {@link runAsync}
 * awaits each answer, {@link runSync} takes it as it is.
 */

/** A computation over storage calls that returns `T`. */
export type Steps<T> = Generator<unknown, T, unknown>;

/** An interface whose async methods may also answer synchronously. */
export type MaybeSync<T> = {
  [K in keyof T]: NonNullable<T[K]> extends (...args: infer A) => Promise<infer R> ? (...args: A) => R | Promise<R> : T[K];
};

/** An interface whose async methods answer synchronously instead. */
export type Synchronous<T> = {
  [K in keyof T]: NonNullable<T[K]> extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : T[K];
};

/** One storage call inside a computation: `const x = yield* step(storage.get(...))`. */
export function* step<T>(answer: T | Promise<T>): Generator<T | Promise<T>, T, unknown> {
  return (yield answer) as T;
}

/** Run a computation, awaiting every storage answer. */
export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  let next = steps.next();
  while (next.done !== true) {
    let answer: unknown;
    try {
      answer = await next.value;
    } catch (e) {
      next = steps.throw(e);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}

/** Run a computation whose storage answers at once; a storage call that returns a promise is a bug. */
export function runSync<T>(steps: Steps<T>): T {
  let next = steps.next();
  while (next.done !== true) {
    if (next.value instanceof Promise) {
      void next.value.catch(() => {});
      throw new Error('a synchronous computation got a promise from storage');
    }
    next = steps.next(next.value);
  }
  return next.value;
}
