import { ErrorCode, InsituError } from './errors.js';

/**
 * Guards a component that is closed once: `check()` throws CLOSED after `close()`, and `close()` runs
 * its cleanup exactly once however often it is called.
 */
export class Lifecycle {
  #closing: Promise<void> | null = null;
  readonly #what: string;

  /** `what` names the component in the CLOSED error message. */
  constructor(what: string) {
    this.#what = what;
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /** Throw CLOSED if the component was closed. */
  check(): void {
    if (this.#closing !== null) {
      throw new InsituError(ErrorCode.CLOSED, `${this.#what} is closed; create a new one to continue`);
    }
  }

  /** Run `cleanup` once; later calls return the same promise. */
  close(cleanup: () => Promise<void>): Promise<void> {
    this.#closing ??= cleanup();
    return this.#closing;
  }
}
