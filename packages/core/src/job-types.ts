import type { ApplyProgress } from './apply-options.js';
import type { ApplyKind, CallOptions } from './apply-call.js';
import type { FuncRef } from './apply-options.js';
import type { DataPlan } from './data-plan.js';
import type { InsituError } from './errors.js';
import type { JobState } from './storage.js';
import type { TableProxy } from './table-proxy.js';

/** What `session.jobs.submit()` takes: an apply call (as the sync methods take it) and how to retry it. */
export interface JobSpec {
  readonly kind: ApplyKind;
  /** The input rows (tableApply, rowApply, groupApply): a table proxy or its plan. */
  readonly data?: TableProxy | DataPlan;
  /** Grouping columns (groupApply). */
  readonly by?: readonly string[] | string;
  /** How many times to call the function (indexApply). */
  readonly times?: number;
  readonly func: FuncRef;
  /**
   * The same options the sync call takes, but for `signal` and `onProgress` (use `jobs.cancel()` and
   * `jobs.status()`). `timeoutMs` defaults to 1800 s and may not exceed the engine's `maxJobTimeoutMs`.
   */
  readonly options?: CallOptions;
  /** How many times a run cut short by its engine closing or dying is queued again. Default 0 (it fails INTERRUPTED). */
  readonly retries?: number;
}

/** A job's progress (see `onProgress` of the sync calls). */
export type JobProgress = ApplyProgress;

/** What `session.jobs.status()` reports. */
export interface JobStatus {
  readonly id: string;
  /** The user who submitted it; it runs with this user's privileges. */
  readonly owner: string;
  readonly kind: ApplyKind;
  /** The function: a script name, `owner.name`, or `<inline>` (`<inline NAME>`). */
  readonly func: string;
  readonly state: JobState;
  readonly created: Date;
  /** When the current (or last) run started; null while queued. */
  readonly started: Date | null;
  /** When it ended; null while queued or running. */
  readonly finished: Date | null;
  /** Milliseconds it has run (so far, while running); 0 while queued. */
  readonly elapsedMs: number;
  readonly progress: JobProgress;
  /** Why it failed, timed out or was cancelled. */
  readonly error?: InsituError;
  /** Who submitted it on the owner's behalf (e.g. `schedule:NAME`), when not the owner directly. */
  readonly origin?: string;
  /** Runs started so far (more than one when an interrupted run was retried). */
  readonly attempts: number;
}

/** Options of `session.jobs.list()`. */
export interface ListJobsOptions {
  /** Only jobs in this state. */
  readonly state?: JobState;
  /** At most this many (default 100). */
  readonly limit?: number;
}

/** Options of `session.jobs.wait()`. */
export interface WaitJobOptions {
  /** Stop waiting (CANCELLED); the job goes on. */
  readonly signal?: AbortSignal;
  /** Stop waiting after this many milliseconds (TIMEOUT); the job goes on. */
  readonly timeoutMs?: number;
}

/** Engine settings of the job queue (createEngine options of the same names). */
export interface JobSettings {
  /** Jobs running at once on one database file, over all engines on it. Default 1. 0: this engine runs none, it only submits. */
  readonly maxConcurrentJobs?: number;
  /** Finished jobs (and their results) are deleted this long after they finish. Default 7 days. */
  readonly jobRetentionMs?: number;
  /** Largest `timeoutMs` a job may ask for. Default 43 200 000 (12 h). */
  readonly maxJobTimeoutMs?: number;
  /** How long a running job's lease lasts unless its engine renews it (every third of it). Default 30 000. */
  readonly jobLeaseMs?: number;
  /** How often an engine looks for queued jobs of other engines and for expired leases. Default 1000. */
  readonly jobPollMs?: number;
  /** Jobs one user may have queued (submitted, not yet running) at once; one more is TOO_MANY_JOBS. Default 100. */
  readonly maxQueuedJobsPerUser?: number;
}
