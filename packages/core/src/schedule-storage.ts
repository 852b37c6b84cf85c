import type { SerializedError } from './errors.js';

/**
 * Persisted schedules and their run log, as core needs them from a storage backend. Every read and
 * change of a user's schedule names its owner; the engine's tick reads due schedules of all owners.
 * Times are Dates (stored as epoch milliseconds).
 */

/** A schedule as created. */
export interface NewSchedule {
  readonly owner: string;
  readonly name: string;
  /** The apply call it runs, as JSON text (an ApplyCall, context and arguments included). */
  readonly call: string;
  /** When it fires, as JSON text (see schedule-spec.ts). */
  readonly schedule: string;
  readonly enabled: boolean;
  /** Drop the schedule once it will fire no more (`at` fired, or `maxRuns` reached). */
  readonly autoDrop: boolean;
  /** Stop after this many scheduled runs (null: no limit). */
  readonly maxRuns: number | null;
  /** When it fires next (null: not while disabled, or never again). */
  readonly nextRun: Date | null;
  readonly created: Date;
}

/** A schedule as stored. */
export interface StoredSchedule extends NewSchedule {
  /** Scheduled runs fired so far (runNow() runs are not counted). */
  readonly runCount: number;
  /** Bumped by every change: a claim is a compare-and-set on it. */
  readonly revision: number;
}

/** How a run was started. */
export type RunTrigger = 'schedule' | 'manual';

/** What a finished run recorded in the log. */
export interface RunOutcome {
  /** The run's job state (`succeeded`, `failed`, `cancelled`, `timed_out`). */
  readonly state: string;
  readonly started: Date | null;
  readonly finished: Date;
  readonly stdout: string;
  readonly error: SerializedError | null;
}

/** A run in the log. `outcome` is null while its job is live (or not yet submitted). */
export interface StoredRun {
  readonly id: number;
  readonly owner: string;
  readonly schedule: string;
  readonly trigger: RunTrigger;
  /** The slot it was due at (null for runNow()). */
  readonly due: Date | null;
  /** When an engine claimed it. */
  readonly claimed: Date;
  /** Its job (null until submitted, or when the submit failed). */
  readonly jobId: string | null;
  readonly outcome: RunOutcome | null;
}

/** A run to log, as claimed. */
export interface NewRun {
  readonly owner: string;
  readonly schedule: string;
  readonly trigger: RunTrigger;
  readonly due: Date | null;
  readonly claimed: Date;
}

/** The change a claimed scheduled run makes to its schedule. */
export interface ScheduleAdvance {
  readonly owner: string;
  readonly name: string;
  /** The revision read: the claim fails if the schedule changed since (another engine claimed it). */
  readonly revision: number;
  readonly nextRun: Date | null;
  /** Whether it stays enabled (false once it will fire no more). */
  readonly enabled: boolean;
  /** Delete the schedule (autoDrop after its last run); its log stays. */
  readonly drop: boolean;
}

/** Schedules and run log storage. */
export interface ScheduleStorage {
  /** Store a new schedule; false when `owner` has one of that name already. Clears an old log of that name. */
  insertSchedule(s: NewSchedule): Promise<boolean>;
  /** One schedule of `owner`, or null. */
  getSchedule(owner: string, name: string): Promise<StoredSchedule | null>;
  /** `owner`'s schedules, by name. */
  listSchedules(owner: string): Promise<StoredSchedule[]>;
  /** Enable or disable a schedule of `owner`, setting its next run; false when there is none. */
  setScheduleEnabled(owner: string, name: string, enabled: boolean, nextRun: Date | null): Promise<boolean>;
  /** Delete a schedule of `owner` and its run log; false when there is none. */
  deleteSchedule(owner: string, name: string): Promise<boolean>;
  /** Enabled schedules of every owner due at `now` (next run at or before it), soonest first, at most `limit`. */
  dueSchedules(now: Date, limit: number): Promise<StoredSchedule[]>;
  /**
   * In one transaction: if the schedule is still at `advance.revision` and enabled, apply the advance
   * (next run, enabled, run count + 1, or delete it) and log `run`; return the run's id, else null (so
   * with several engines on one file each due run is claimed once).
   */
  claimRun(advance: ScheduleAdvance, run: NewRun): Promise<number | null>;
  /** Log a run started by hand (runNow) of a schedule of `run.owner`; null when the schedule is gone. */
  insertRun(run: NewRun): Promise<number | null>;
  /** Record the job a run was submitted as. */
  setRunJob(id: number, jobId: string): Promise<void>;
  /** Record how a run ended (once: a run already ended is left as it is). */
  finishRun(id: number, outcome: RunOutcome): Promise<void>;
  /** Runs of every owner not ended yet, oldest first, at most `limit`. */
  openRuns(limit: number): Promise<StoredRun[]>;
  /** `owner`'s runs, newest first, of one schedule name or all, at most `limit`. */
  listRuns(filter: { owner: string; schedule?: string; limit: number }): Promise<StoredRun[]>;
  /** The last run of each of `owner`'s schedules named (newest), by schedule name. */
  lastRuns(owner: string, schedules: readonly string[]): Promise<Map<string, StoredRun>>;
  /** Delete ended runs that ended before `before`; returns how many. */
  purgeRuns(before: Date): Promise<number>;
}
