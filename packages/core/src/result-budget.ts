import { ErrorCode, InsituError } from './errors.js';
import { DEFAULT_MAX_RESULT_BYTES_IN_FLIGHT, formatBytes } from './result-limits.js';

/**
 * The engine-wide budget of result bytes in flight: the partition results that calls still running
 * hold (they are released when the call returns or fails). One per engine, shared by every session.
 * Results are charged as they arrive, so the engine holds at most the budget plus the results still
 * on their way from the workers (each at most `maxResultBytes`).
 */
export class ResultBudget {
  /** The budget, in bytes. */
  readonly limit: number;
  #inFlight = 0;

  /** A budget of `limit` bytes (default 1 GiB). */
  constructor(limit: number = DEFAULT_MAX_RESULT_BYTES_IN_FLIGHT) {
    this.limit = limit;
  }

  /** Bytes held by running calls now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** A lease for one call: it charges the call's results and releases them all at the end. */
  lease(): ResultLease {
    return new ResultLease(this, (delta) => {
      this.#inFlight += delta;
    });
  }
}

/**
 * What one call holds of its engine's {@link ResultBudget}. Charge each partition's result as it
 * arrives; release once when the call ends (returns or fails).
 */
export class ResultLease {
  readonly #budget: ResultBudget;
  readonly #adjust: (delta: number) => void;
  #held = 0;
  #closed = false;

  /** @internal Use {@link ResultBudget.lease}. */
  constructor(budget: ResultBudget, adjust: (delta: number) => void) {
    this.#budget = budget;
    this.#adjust = adjust;
  }

  /** Bytes this call holds now. */
  get held(): number {
    return this.#held;
  }

  /**
   * Take `bytes` more for this call, or fail with RESULT_TOO_LARGE when that would take the engine past
   * its budget: the lease then releases everything it held, and later charges are ignored (the call is
   * failing, its results will be dropped).
   */
  charge(bytes: number): void {
    if (this.#closed) return;
    if (!Number.isFinite(bytes) || bytes < 0) throw new InsituError(ErrorCode.RUNTIME_ERROR, `a partition's result has no valid size (${bytes})`);
    const total = this.#budget.inFlight + bytes;
    if (total > this.#budget.limit) {
      const held = this.#held;
      this.release();
      throw new InsituError(
        ErrorCode.RESULT_TOO_LARGE,
        `a partition's result of ${formatBytes(bytes)} would take the engine's results in flight past maxResultBytesInFlight, ` +
          `${formatBytes(this.#budget.limit)} (this call held ${formatBytes(held)}); return less, run fewer large calls at once, ` +
          'or raise the limit with createEngine({ maxResultBytesInFlight })',
      );
    }
    this.#held += bytes;
    this.#adjust(bytes);
  }

  /** Give back everything this call held. Idempotent. */
  release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#adjust(-this.#held);
    this.#held = 0;
  }
}
