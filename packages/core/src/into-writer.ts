import type { Table } from 'apache-arrow';
import { ErrorCode, InsituError } from './errors.js';
import type { TableSink } from './storage.js';

/**
 * Writes a call's partition tables into a {@link TableSink} in partition order, whatever order they
 * finish in. `put(i, t)` resolves once table `i` (and every one before it) is stored, so a partition
 * holds its slot until then: with `degree` partitions in flight, at most `degree` tables wait here, and
 * memory stays bounded by the partitions in flight, not by the result.
 */
export class IntoWriter {
  readonly #sink: TableSink;
  readonly #waiting = new Map<number, { table: Table | null; done: () => void; fail: (e: unknown) => void }>();
  #next = 0;
  #draining = false;
  #failure: unknown = undefined;

  constructor(sink: TableSink) {
    this.#sink = sink;
  }

  /** Store partition `index`'s table (null: a partition that wrote nothing) after those before it. */
  put(index: number, table: Table | null): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise<void>((done, fail) => {
      this.#waiting.set(index, { table, done, fail });
      void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let w = this.#waiting.get(this.#next); w !== undefined; w = this.#waiting.get(this.#next)) {
        this.#waiting.delete(this.#next);
        this.#next++;
        try {
          if (this.#failure !== undefined) throw this.#failure;
          if (w.table !== null) await this.#sink.write(w.table);
          w.done();
        } catch (e) {
          this.#failure ??= e;
          w.fail(e);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** A partition failed: nothing more is written, and partitions waiting to be written fail too. */
  fail(error: unknown): void {
    this.#failure ??= error;
    for (const w of this.#waiting.values()) w.fail(this.#failure);
    this.#waiting.clear();
  }

  /** Commit after `count` partitions were put; resolves to the rows written. */
  async commit(count: number, signal: AbortSignal | undefined): Promise<number> {
    if (this.#next !== count) throw new InsituError(ErrorCode.RUNTIME_ERROR, `into: ${count - this.#next} partition results were never written`);
    if (signal?.aborted === true) throw signal.reason;
    return this.#sink.commit();
  }

  /** Throw away what was written (the call failed or was cancelled). */
  abandon(): Promise<void> {
    for (const w of this.#waiting.values()) w.fail(new InsituError(ErrorCode.CANCELLED, 'into: the call ended before this partition was written'));
    this.#waiting.clear();
    return this.#sink.abandon();
  }
}
