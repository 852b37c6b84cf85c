import { randomUUID } from 'node:crypto';
import { deserializeError } from './errors.js';
import type { ApplyCall } from './apply-call.js';
import { abortError } from './ordered-runner.js';
import type { PartitionKey } from './partition.js';
import { decodeOutcome, encodePartition } from './partition-wire.js';
import type { OrderKey, TaskInput, TaskOutcome } from './runtime.js';
import type { TaskStorage } from './task-storage.js';

/** How often a distributed call looks for finished partitions, in ms. */
const RESULT_POLL_MS = 20;

/** How often a running distributed call tells the queue its caller is alive, in ms. */
export const CALLER_TOUCH_MS = 2000;

/** What an engine lends its distributed calls: the queue, and its own workers for the call's tasks. */
export interface Distributor {
  readonly tasks: TaskStorage;
  /**
   * Let this engine's workers run the tasks of `call` (the calling engine always runs its own calls'
   * tasks, serving or not); returns what ends that.
   */
  serveCall(call: string): () => void;
}

interface Waiter {
  readonly resolve: (o: TaskOutcome) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * One distributed apply call, on the calling engine: its partitions go into the shared queue as tasks
 * and come back, whichever engine ran them, as outcomes marked with that engine. Aborting the call's
 * signal removes its tasks from the queue, which stops the engines running them at their next lease
 * renewal.
 */
export class DistributedCall {
  readonly id = randomUUID();
  readonly #tasks: TaskStorage;
  readonly #user: string;
  readonly #call: ApplyCall;
  readonly #signal: AbortSignal | undefined;
  readonly #waiting = new Map<number, Waiter>();
  readonly #stopServing: () => void;
  #polling: Promise<void> | null = null;
  #closed = false;
  #touched = 0;

  constructor(distributor: Distributor, user: string, call: ApplyCall, signal: AbortSignal | undefined) {
    this.#tasks = distributor.tasks;
    this.#user = user;
    this.#call = call;
    this.#signal = signal;
    this.#stopServing = distributor.serveCall(this.id);
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => {
    const error = abortError(this.#signal!);
    for (const w of this.#waiting.values()) w.reject(error);
    this.#waiting.clear();
    void this.#tasks.dropCall(this.id).catch(() => undefined);
  };

  /** Queue partition `seq` and wait for its outcome (its error, as the engine that ran it raised it). */
  async run(seq: number, key: PartitionKey, input: TaskInput, orderWithin: readonly OrderKey[]): Promise<TaskOutcome> {
    this.#signal?.throwIfAborted();
    const { spec, data } = encodePartition(this.#call, key, input, orderWithin);
    const done = new Promise<TaskOutcome>((resolve, reject) => this.#waiting.set(seq, { resolve, reject }));
    try {
      await this.#tasks.addTasks([{ call: this.id, seq, user: this.#user, spec, ...(data === undefined ? {} : { data }) }], new Date());
    } catch (e) {
      this.#waiting.delete(seq);
      throw e;
    }
    this.#polling ??= this.#poll();
    return done;
  }

  async #poll(): Promise<void> {
    try {
      while (!this.#closed && this.#waiting.size > 0) {
        if (Date.now() - this.#touched >= CALLER_TOUCH_MS) {
          this.#touched = Date.now();
          await this.#tasks.touchCall(this.id, new Date(this.#touched));
        }
        for (const f of await this.#tasks.takeFinished(this.id)) {
          const w = this.#waiting.get(f.seq);
          if (w === undefined) continue;
          this.#waiting.delete(f.seq);
          if ('result' in f.outcome) {
            try {
              w.resolve(decodeOutcome(f.outcome.result, f.engine));
            } catch (e) {
              w.reject(e);
            }
          } else w.reject(deserializeError(f.outcome.error));
        }
        if (this.#waiting.size > 0) await new Promise((r) => setTimeout(r, RESULT_POLL_MS));
      }
    } catch (e) {
      for (const w of this.#waiting.values()) w.reject(e);
      this.#waiting.clear();
    } finally {
      this.#polling = null;
      // A partition queued while the loop was ending starts it again.
      if (!this.#closed && this.#waiting.size > 0) this.#polling = this.#poll();
    }
  }

  /** End the call: its remaining tasks leave the queue and this engine stops serving them. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#stopServing();
    await this.#polling?.catch(() => undefined);
    await this.#tasks.dropCall(this.id).catch(() => undefined);
  }
}
