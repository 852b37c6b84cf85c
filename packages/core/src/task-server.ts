import { asInsituError } from './error-boundary.js';
import { InsituError, ErrorCode } from './errors.js';
import type { ClaimedTask, TaskRef, TaskResult, TaskStorage } from './task-storage.js';
import { CALLER_TOUCH_MS } from './distributed-call.js';

/** A call whose caller has not been seen for this long is presumed dead: its tasks are dropped. */
const STALE_CALL_MS = 10 * CALLER_TOUCH_MS;

/** Settings of a {@link TaskServer}. */
export interface TaskServerSettings {
  /** Claim tasks of every call on the database (`serve: { distributed: true }`), not only this engine's own. */
  readonly serveAll: boolean;
  /** Tasks run at once (the engine's workers). */
  readonly slots: number;
  /** How long a claimed task's lease lasts unless renewed (every third of it), in ms. */
  readonly leaseMs: number;
  /** How often an idle server looks for tasks, in ms. */
  readonly pollMs: number;
}

/** Runs one claimed task and returns what the caller gets back. */
export type TaskRunner = (task: ClaimedTask, signal: AbortSignal) => Promise<Uint8Array>;

/**
 * The part of an engine that claims tasks of distributed calls from the shared queue and runs them on its
 * own workers: every call's tasks with `serveAll`, else only those of the calls this engine made. Holds
 * each task under a lease it renews; a task it no longer holds (its call ended or was cancelled, or its
 * lease ran out and another engine took it) is stopped.
 */
export class TaskServer {
  readonly #tasks: TaskStorage;
  readonly #engine: string;
  readonly #run: TaskRunner;
  readonly #settings: TaskServerSettings;
  readonly #own = new Set<string>();
  readonly #running = new Map<string, { ref: TaskRef; ac: AbortController; done: Promise<void> }>();
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #renewTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #purged = 0;

  constructor(tasks: TaskStorage, engine: string, run: TaskRunner, settings: TaskServerSettings) {
    this.#tasks = tasks;
    this.#engine = engine;
    this.#run = run;
    this.#settings = settings;
    if (settings.serveAll) this.#start();
  }

  /** Run the tasks of this engine's own call `call` too; returns what stops that. */
  serveCall(call: string): () => void {
    this.#own.add(call);
    this.#start();
    this.#wake?.();
    return () => {
      this.#own.delete(call);
    };
  }

  #start(): void {
    if (this.#closed || this.#loop !== null) return;
    this.#renewTimer ??= setInterval(() => void this.#renew(), Math.max(50, Math.floor(this.#settings.leaseMs / 3)));
    this.#renewTimer.unref();
    this.#loop = this.#claimLoop().finally(() => {
      this.#loop = null;
    });
  }

  async #claimLoop(): Promise<void> {
    while (!this.#closed && (this.#settings.serveAll || this.#own.size > 0 || this.#running.size > 0)) {
      let claimed = false;
      if (this.#running.size < this.#settings.slots) {
        try {
          claimed = await this.#claimOne();
        } catch {
          claimed = false;
        }
      }
      if (!claimed) {
        if (!this.#settings.serveAll && this.#own.size === 0 && this.#running.size === 0) return;
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, this.#settings.pollMs);
          function done(): void {
            clearTimeout(t);
            resolve();
          }
          this.#wake = done;
        });
        this.#wake = null;
      }
    }
  }

  /** Claim one task (of any call, or of this engine's own calls) and start it; whether there was one. */
  async #claimOne(): Promise<boolean> {
    const now = new Date();
    const leaseUntil = new Date(now.getTime() + this.#settings.leaseMs);
    const staleBefore = new Date(now.getTime() - STALE_CALL_MS);
    let task: ClaimedTask | null = null;
    if (this.#settings.serveAll) {
      // Now and then, the tasks of callers that died go.
      if (now.getTime() - this.#purged >= STALE_CALL_MS) {
        this.#purged = now.getTime();
        await this.#tasks.dropStale(staleBefore);
      }
      task = await this.#tasks.claimTask({ engine: this.#engine, now, leaseUntil, staleBefore });
    } else {
      for (const call of this.#own) {
        task = await this.#tasks.claimTask({ engine: this.#engine, now, leaseUntil, staleBefore, call });
        if (task !== null) break;
      }
    }
    if (task === null) return false;
    if (this.#closed) return true;
    const ref: TaskRef = { call: task.call, seq: task.seq };
    const key = `${task.call}/${task.seq}`;
    const ac = new AbortController();
    const done = this.#runOne(task, ref, ac).finally(() => {
      this.#running.delete(key);
      this.#wake?.();
    });
    this.#running.set(key, { ref, ac, done });
    return true;
  }

  async #runOne(task: ClaimedTask, ref: TaskRef, ac: AbortController): Promise<void> {
    let outcome: TaskResult;
    try {
      outcome = { result: await this.#run(task, ac.signal) };
    } catch (e) {
      // A task this engine gave up (closing, or no longer held) is left for another engine.
      if (ac.signal.aborted) return;
      const { partition: _partition, ...error } = asInsituError(e, 'a distributed partition').toJSON();
      outcome = { error };
    }
    if (ac.signal.aborted) return;
    await this.#tasks.finishTask(ref, this.#engine, outcome).catch(() => false);
  }

  /** Renew the leases of the running tasks; stop those this engine no longer holds. */
  async #renew(): Promise<void> {
    if (this.#running.size === 0) return;
    const refs = [...this.#running.values()].map((r) => r.ref);
    let lost: TaskRef[];
    try {
      lost = await this.#tasks.renewTasks(this.#engine, refs, new Date(Date.now() + this.#settings.leaseMs));
    } catch {
      return;
    }
    for (const l of lost) {
      this.#running
        .get(`${l.call}/${l.seq}`)
        ?.ac.abort(new InsituError(ErrorCode.CANCELLED, 'the distributed call of this partition ended or another engine took it over'));
    }
  }

  /** Stop claiming; the tasks running now are stopped and queued again for other engines at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewTimer);
    this.#wake?.();
    const held = [...this.#running.values()];
    for (const r of held) r.ac.abort(new InsituError(ErrorCode.CLOSED, 'the engine closed'));
    await Promise.allSettled(held.map((r) => r.done));
    await this.#tasks.releaseTasks(this.#engine, held.map((r) => r.ref)).catch(() => undefined);
    await this.#loop?.catch(() => undefined);
  }
}
