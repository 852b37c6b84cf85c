import type { PartitionResult } from './result-assembly.js';

/** Where a call hands its partitions as they finish (see `CallControls.onPartition`). */
export type PartitionSink = (partition: PartitionResult, index: number) => void | Promise<void>;

interface Held {
  readonly partition: PartitionResult | null;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Hands partitions that finish in any order to a sink in partition order, one at a time: partition i
 * goes once every partition before it went (or was skipped), and the sink's promise is awaited before
 * the next. `put` resolves when its partition was taken, so a call that awaits it holds at most its
 * degree of finished partitions. After `fail`, every waiting and later `put` rejects with that error.
 */
export class PartitionEmitter {
  readonly #sink: PartitionSink;
  readonly #held = new Map<number, Held>();
  #next = 0;
  #chain: Promise<void> = Promise.resolve();
  #failure: { error: unknown } | null = null;

  constructor(sink: PartitionSink) {
    this.#sink = sink;
  }

  /** Give partition `index` (null: it failed and is skipped); resolves once the sink took it. */
  put(index: number, partition: PartitionResult | null): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure.error);
    return new Promise<void>((resolve, reject) => {
      this.#held.set(index, { partition, resolve, reject });
      for (let h = this.#held.get(this.#next); h !== undefined; h = this.#held.get(this.#next)) {
        const held = h;
        const i = this.#next++;
        this.#held.delete(i);
        this.#chain = this.#chain
          .then(() => (held.partition === null ? undefined : this.#sink(held.partition, i)))
          .then(held.resolve, (e: unknown) => {
            this.fail(e);
            held.reject(e);
            throw e;
          });
        // The failure reaches its put's caller; the chain itself is not awaited by anyone.
        this.#chain.catch(() => undefined);
      }
    });
  }

  /** Stop: partitions waiting for earlier ones (and later puts) reject with `error`. */
  fail(error: unknown): void {
    if (this.#failure !== null) return;
    this.#failure = { error };
    for (const h of this.#held.values()) h.reject(error);
    this.#held.clear();
  }
}
