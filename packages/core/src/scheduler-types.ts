import type { ApplyCall, ApplyKind, CallOptions } from './apply-call.js';
import type { FuncRef } from './apply-options.js';
import type { ApplyResult } from './result-assembly.js';
import type { DataPlan } from './data-plan.js';
import type { InsituError } from './errors.js';
import type { ContextMode } from './runtime.js';
import type { Schedule, ScheduleSpec } from './schedule-spec.js';
import type { TableProxy } from './table-proxy.js';
import type { JsonValue } from './values.js';

/** What `session.scheduler.create()` takes: an apply call, when it runs, and how. */
export interface CreateScheduleOptions {
  /** The schedule's name (identifier rules), unique among the owner's schedules. */
  readonly name: string;
  /** The apply function. Default `'doEval'`. */
  readonly kind?: ApplyKind;
  /** The function: a stored script name, `{ name, owner }`, or `{ source, name? }`. */
  readonly func: FuncRef;
  /** The input rows (tableApply, rowApply, groupApply): a table proxy or its plan. */
  readonly data?: TableProxy | DataPlan;
  /** Grouping columns (groupApply). */
  readonly by?: readonly string[] | string;
  /** How many times to call the function (indexApply). */
  readonly times?: number;
  /** The call's options, as a sync call takes them but `signal` and `onProgress`. */
  readonly options?: CallOptions;
  /** Keyword arguments (the same as `options.args`; give one or the other). */
  readonly args?: Readonly<Record<string, JsonValue>>;
  /** Positional arguments, passed before the keyword ones (the same as `options.positional`). */
  readonly positional?: readonly JsonValue[];
  /** When it runs: `{ at }`, `{ every }` or `{ cron, tz? }`. */
  readonly schedule: ScheduleSpec;
  /** Whether it starts enabled. Default false: `enable()` it. */
  readonly enabled?: boolean;
  /** Drop the schedule once it will run no more (`at` fired, or `maxRuns` reached). Default false. */
  readonly autoDrop?: boolean;
  /** Stop (disable, or drop with `autoDrop`) after this many scheduled runs. Default: no limit. */
  readonly maxRuns?: number;
  /**
   * What the runs may do through `insitu.connect()`: `'read'` (default) or `'write'` (the runs change
   * tables as the owner). The same as `options.context`.
   */
  readonly context?: ContextMode;
}

/** The state of a run: its job's state (`queued` until its job is submitted). */
export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out';

/** One run in the run-details log (`scheduler.runs()`). */
export interface ScheduleRun {
  /** The schedule's name. */
  readonly schedule: string;
  /** The run's job (`session.jobs.status()` / `result()` take it); null when it could not be submitted. */
  readonly jobId: string | null;
  /** `schedule` for a scheduled run, `manual` for `runNow()`. */
  readonly trigger: 'schedule' | 'manual';
  /** The time it was due (scheduled runs). */
  readonly due: Date | null;
  /** When it started running; null while queued. */
  readonly started: Date | null;
  /** When it ended; null while queued or running. */
  readonly finished: Date | null;
  readonly state: RunState;
  /** What it printed (a failed run: what it printed before failing). */
  readonly stdout: string;
  /** Why it failed, timed out or was cancelled. */
  readonly error?: InsituError;
}

/** A schedule, as `get()` and `list()` report it. */
export interface ScheduleInfo {
  readonly name: string;
  readonly owner: string;
  readonly kind: ApplyKind;
  /** The call each run submits as a job. */
  readonly call: ApplyCall;
  readonly schedule: Schedule;
  readonly enabled: boolean;
  readonly autoDrop: boolean;
  readonly maxRuns: number | null;
  /** Scheduled runs so far (`runNow()` runs are not counted). */
  readonly runCount: number;
  /** When it runs next; null while disabled or when it will run no more. */
  readonly nextRun: Date | null;
  readonly created: Date;
  /** Its latest run, or null. */
  readonly lastRun: ScheduleRun | null;
}

/** Options of `scheduler.runs()`. */
export interface ListRunsOptions {
  /** Only this schedule's runs. */
  readonly name?: string;
  /** At most this many, newest first (default 100). */
  readonly limit?: number;
}

/** The engine settings of the scheduler (createEngine options of the same names). */
export interface SchedulerSettings {
  /**
   * The scheduler's clock, in epoch milliseconds: when schedules are due is decided by it (jobs keep
   * real time). For tests that drive time. Default `Date.now`.
   */
  readonly schedulerClock?: () => number;
  /** How often the engine looks for due schedules, in ms. Default 1000. */
  readonly schedulerTickMs?: number;
}

/** What the scheduler needs of the job queue: submit as a user, and read a job back. */
export interface ScheduleJobs {
  /** The largest `timeoutMs` a job may ask for, and how long finished jobs are kept (the run log's too). */
  readonly settings: { readonly maxJobTimeoutMs: number; readonly jobRetentionMs: number };
  submitAs(owner: string, spec: ApplyCall, opts: { origin?: string }): Promise<{ id: string }>;
  status(owner: string, id: string): Promise<{ state: RunState; started: Date | null; finished: Date | null; error?: InsituError }>;
  result(owner: string, id: string): Promise<ApplyResult>;
}
