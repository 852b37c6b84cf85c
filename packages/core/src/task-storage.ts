import type { SerializedError } from './errors.js';

/**
 * The shared queue of a distributed apply call's partitions (`distribute: true`): the calling engine adds
 * one task per partition, any engine serving distributed work on the same database claims tasks under a
 * lease, runs them and stores each result back; the caller takes the finished ones. A storage that holds
 * no such queue leaves `Storage.tasks` undefined and distributed calls run locally.
 */

/** A partition of a distributed call, as the caller queues it. */
export interface NewTask {
  /** The call's id (one per distributed call, unique across engines). */
  readonly call: string;
  /** The partition's position in the call, from 0. */
  readonly seq: number;
  /** The user the call runs as (the serving engine checks it again). */
  readonly user: string;
  /** The partition as JSON text: the call value, the partition key and its input (see `partition-wire`). */
  readonly spec: string;
  /** The partition's rows as Arrow IPC, when the caller read them itself (absent: the task names a query). */
  readonly data?: Uint8Array;
}

/** A task an engine claimed: it holds the lease until it finishes it or the lease runs out. */
export interface ClaimedTask {
  readonly call: string;
  readonly seq: number;
  readonly user: string;
  readonly spec: string;
  readonly data: Uint8Array | null;
  /** How many times the task was claimed, this time included. */
  readonly attempts: number;
}

/** The identity of a task: its call and position. */
export interface TaskRef {
  readonly call: string;
  readonly seq: number;
}

/** A task's result as the serving engine stored it. */
export type TaskResult = { readonly result: Uint8Array } | { readonly error: SerializedError };

/** A finished task, as the caller takes it. */
export interface FinishedTask {
  readonly seq: number;
  /** The engine that ran it. */
  readonly engine: string;
  readonly outcome: TaskResult;
}

/** The queue of distributed partitions (see the module comment). */
export interface TaskStorage {
  /** Queue tasks (each claimable at once), their call seen alive at `now`. */
  addTasks(tasks: readonly NewTask[], now: Date): Promise<void>;
  /** The caller of `call` is alive at `now` (it says so every few seconds while the call runs). */
  touchCall(call: string, now: Date): Promise<void>;
  /**
   * Claim one task for `engine` until `leaseUntil`: a queued one, or a running one whose lease ran out
   * before `now` (its engine is presumed dead), the lowest position of the oldest call first; with `call`,
   * only tasks of that call. Tasks of a call whose caller was last seen before `staleBefore` (it died:
   * nobody will take their results) are not claimed. Never gives one task to two engines at once. Null
   * when there is none.
   */
  claimTask(c: {
    readonly engine: string;
    readonly now: Date;
    readonly leaseUntil: Date;
    readonly staleBefore: Date;
    readonly call?: string;
  }): Promise<ClaimedTask | null>;
  /**
   * Extend the leases `engine` holds on `tasks` to `until`; returns the tasks it no longer holds
   * (cancelled with their call, or re-claimed by another engine after the lease ran out): their runs stop.
   */
  renewTasks(engine: string, tasks: readonly TaskRef[], until: Date): Promise<TaskRef[]>;
  /** Give back tasks `engine` holds (it is closing): they are queued again, claimable at once. */
  releaseTasks(engine: string, tasks: readonly TaskRef[]): Promise<void>;
  /** Store a task's result, when `engine` still holds it; returns whether it did. */
  finishTask(task: TaskRef, engine: string, outcome: TaskResult): Promise<boolean>;
  /** The finished tasks of `call`, removed from the queue as they are returned. */
  takeFinished(call: string): Promise<FinishedTask[]>;
  /** Remove every task of `call` (the call ended: succeeded, failed or was cancelled). */
  dropCall(call: string): Promise<void>;
  /** Remove the tasks of calls whose caller was last seen before `before`; returns how many. */
  dropStale(before: Date): Promise<number>;
}
