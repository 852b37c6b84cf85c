import { ErrorCode, InsituError } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

/** Each attempt lets SQLite wait this long for the write lock (blocking the thread) before yielding. */
const ATTEMPT_MS = 10;

/** Whether `e` (or the driver error it wraps) says another connection holds a lock. */
function isBusy(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 3; x = x.cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return true;
  }
  return false;
}

/**
 * Run `write` (all or nothing: one statement or one transaction, done synchronously even when it
 * answers with a promise) on the engine's
 * connection, waiting for SQLite's write lock without blocking the thread: a partition that writes holds
 * the lock until it ends, and SQLite's own busy wait would stall the engine's event loop (every other
 * call) for as long. Each attempt waits at most {@link ATTEMPT_MS} inside SQLite, then the thread is
 * free for a few ms; after `timeoutMs` in all, the busy error leaves as STORAGE_ERROR saying what held it.
 */
export async function writeWhenUnlocked<T>(db: BetterSqlite3.Database, timeoutMs: number, write: () => T | Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    db.pragma(`busy_timeout = ${ATTEMPT_MS}`);
    try {
      return await write();
    } catch (e) {
      if (!isBusy(e)) throw e;
      if (Date.now() >= deadline) {
        throw new InsituError(
          ErrorCode.STORAGE_ERROR,
          `the database stayed locked by another writer for ${timeoutMs} ms (busyTimeoutMs); a UDF partition that writes holds the write lock until it ends`,
          { cause: e },
        );
      }
    } finally {
      db.pragma(`busy_timeout = ${timeoutMs}`);
    }
    await new Promise((resolve) => setTimeout(resolve, ATTEMPT_MS));
  }
}
