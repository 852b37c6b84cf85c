import { ErrorCode, InsituError } from '@insitu/core';

/** Gives back a slot taken with {@link PgUserSlots.acquire}; calling it again does nothing. */
export type ReleaseSlot = () => void;

/** Options for {@link PgUserSlots.acquire}. */
export interface AcquireSlotOptions {
  /** Stop waiting when aborted (the caller's call ended or was stopped): rejects with CANCELLED. */
  readonly signal?: AbortSignal;
  /** Stop waiting after this many milliseconds: rejects with STORAGE_ERROR. Default: no limit. */
  readonly timeoutMs?: number;
}

/**
 * How many of the pool's connections one user's statements may hold at once: a counting semaphore per
 * user. A user's queries (describe, count, scan) and `insitu.connect()` sessions each take one slot for
 * as long as they hold a connection, so one user's heavy or lock-bound statements can hold at most
 * `limit` connections and the rest of the pool stays free for other users. Waiters are served in order.
 */
export class PgUserSlots {
  readonly #held = new Map<string, number>();
  readonly #waiting = new Map<string, (() => void)[]>();

  /** `limit`: slots per user (at least 1). */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new InsituError(ErrorCode.BAD_INPUT, `connections per user must be a positive integer, got ${limit}`);
  }

  /** Take one of `user`'s slots, waiting for one to be given back when they hold `limit` already. */
  acquire(user: string, opts: AcquireSlotOptions = {}): Promise<ReleaseSlot> {
    const { signal, timeoutMs } = opts;
    if (signal?.aborted === true) return Promise.reject(cancelled());
    if ((this.#held.get(user) ?? 0) < this.limit) return Promise.resolve(this.#take(user));
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const queue = this.#waiting.get(user) ?? [];
      this.#waiting.set(user, queue);
      let timer: NodeJS.Timeout | undefined;
      const leave = (): void => {
        const i = queue.indexOf(wake);
        if (i >= 0) queue.splice(i, 1);
        if (queue.length === 0 && this.#waiting.get(user) === queue) this.#waiting.delete(user);
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const wake = (): void => {
        leave();
        resolve(this.#take(user));
      };
      const onAbort = (): void => {
        leave();
        reject(cancelled());
      };
      queue.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          leave();
          reject(
            new InsituError(
              ErrorCode.STORAGE_ERROR,
              `user ${user} already holds ${this.limit} database connections (the most one user may) and none was given back within ${timeoutMs} ms; run fewer queries or partitions at once`,
            ),
          );
        }, timeoutMs);
      }
    });
  }

  /** Slots `user` holds now. */
  held(user: string): number {
    return this.#held.get(user) ?? 0;
  }

  #take(user: string): ReleaseSlot {
    this.#held.set(user, (this.#held.get(user) ?? 0) + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.#waiting.get(user)?.[0];
      if (next !== undefined) {
        // Handed straight to the next waiter: the count stays.
        this.#held.set(user, this.#held.get(user)! - 1);
        next();
        return;
      }
      const n = this.#held.get(user)! - 1;
      if (n === 0) this.#held.delete(user);
      else this.#held.set(user, n);
    };
  }
}

function cancelled(): InsituError {
  return new InsituError(ErrorCode.CANCELLED, 'stopped while waiting for a database connection');
}
