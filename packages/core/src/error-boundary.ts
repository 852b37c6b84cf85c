import { ErrorCode, InsituError } from './errors.js';

/**
 * The public API's error boundary: whatever a lower layer throws (a RangeError from Arrow, a TypeError,
 * a driver's own error) leaves the engine as an InsituError with a code, the original kept as `cause`.
 */

/** Whether `e` comes from the SQLite driver (better-sqlite3's SqliteError and its `SQLITE_*` codes). */
function isSqliteError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return e.name === 'SqliteError' || (typeof code === 'string' && code.startsWith('SQLITE_'));
}

/**
 * `e` as an InsituError: InsituErrors as they are; SQLite failures STORAGE_ERROR; anything else
 * RUNTIME_ERROR, with `what` (the operation) in the message and `e` as the cause.
 */
export function asInsituError(e: unknown, what: string): InsituError {
  if (e instanceof InsituError) return e;
  const code = isSqliteError(e) ? ErrorCode.STORAGE_ERROR : ErrorCode.RUNTIME_ERROR;
  const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new InsituError(code, `${what} failed unexpectedly: ${why}`, { cause: e });
}

/** Run `fn`; anything it throws, or its promise rejects with, becomes an InsituError (see {@link asInsituError}). */
export function withBoundary<T>(what: string, fn: () => T): T {
  let out: T;
  try {
    out = fn();
  } catch (e) {
    throw asInsituError(e, what);
  }
  if (out instanceof Promise) return out.catch((e: unknown) => Promise.reject(asInsituError(e, what))) as T;
  return out;
}

/**
 * A view of `service` whose methods first run `before` (e.g. the engine's closed check) and report any
 * failure as an InsituError naming `name.method`.
 */
export function guardedService<T extends object>(service: T, name: string, before: () => void): T {
  return new Proxy(service, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const what = `${name}.${String(prop)}`;
      return (...args: unknown[]) =>
        withBoundary(what, () => {
          before();
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        });
    },
  });
}
