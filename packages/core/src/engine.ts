import { asInsituError, guardedService } from './error-boundary.js';
import { badInput } from './errors.js';
import { Lifecycle } from './lifecycle.js';
import { ApplyRunner, type ApplyDefaults } from './apply-runner.js';
import { checkInt64Mode } from './int64-values.js';
import { EnvironmentService } from './environment-service.js';
import { checkPackagePolicy, type PackagePolicy, type PackageSource } from './packages.js';
import { JobService } from './job-service.js';
import type { JobSettings } from './job-types.js';
import { SessionJobs } from './session-jobs.js';
import { SchedulerService } from './scheduler-service.js';
import type { SchedulerSettings } from './scheduler-types.js';
import { SessionScheduler } from './session-scheduler.js';
import { ResultBudget } from './result-budget.js';
import { checkResultLimits } from './result-limits.js';
import type { Runtime } from './runtime.js';
import { admissionOf, admitted } from './session-admission.js';
import { Session } from './session.js';
import type { SqlBinder } from './session-sql.js';

import { checkUserMode, UserDirectory, type UserMode } from './user-directory.js';
import { checkUserName } from './user-names.js';
import { UserService } from './user-service.js';
import { TableAdmin } from './table-admin.js';
import { TaskServer } from './task-server.js';
import { PUBLIC, type Storage } from './storage.js';
import { ErrorCode, InsituError } from './errors.js';
import { checkServeSettings, type ServeSettings } from './serve-settings.js';

/** User a session runs as when none is given. */
export const DEFAULT_USER = 'default';

/** Options for {@link Engine.session}. */
export interface SessionOptions {
  /** The user the session acts as. Default {@link DEFAULT_USER}. */
  readonly user?: string;
}

/** Options of {@link Engine.close}. */
export interface CloseOptions {
  /**
   * What happens to the jobs (scheduled runs included) this engine is running: `'interrupt'` (default)
   * stops them now and records them `failed` with INTERRUPTED (or queues them again when they have
   * retries left); `'wait'` lets them finish first, claiming nothing new. Either way no job is left
   * `running`; queued jobs stay queued for the next engine.
   */
  readonly jobs?: 'interrupt' | 'wait';
}

/** Engine-wide settings: defaults of every apply call, and the budget of result bytes in flight. */
export interface EngineSettings extends Omit<ApplyDefaults, 'budget' | 'environments'>, JobSettings, SchedulerSettings {
  /** Where Python packages come from (the runtime's package index). Absent: calls cannot load packages. */
  readonly packageSource?: PackageSource;
  /**
   * Which packages a call may name in its own `packages` (default `'index'`: any of the index); a list
   * refuses others with PRIVILEGE. Environments and preloaded packages are always allowed.
   */
  readonly allowPackages?: PackagePolicy;
  /**
   * Bytes of partition results that calls still running may hold together (default 1 GiB): a call
   * whose next result would go past it fails with RESULT_TOO_LARGE and releases what it held.
   */
  readonly maxResultBytesInFlight?: number;
  /**
   * Which session users are accepted: `open` (default) registers a user the first time a session of
   * it is made; `registered` refuses sessions of users not created with `engine.users.create()`
   * (every call of such a session fails with PRIVILEGE).
   */
  readonly users?: UserMode;
  /** Gives sessions their `session.sql` (the `insitu` package wires one); closed with the engine. */
  readonly sql?: SqlBinder;
  /** What this engine serves to other engines on the same database (see {@link ServeSettings}). */
  readonly serve?: ServeSettings;
}

/**
 * An insitu engine: one storage backend and one Python runtime. Create it with `createEngine()` from
 * the `insitu` package, open sessions per user, and close it once (`await using` works too).
 */
export class Engine implements AsyncDisposable {
  /** The storage backend. */
  readonly storage: Storage;
  /** The Python runtime. */
  readonly runtime: Runtime;
  /** The budget of result bytes held by this engine's running calls (shared by all its sessions). */
  readonly resultBudget: ResultBudget;
  /** Named Python environments: create, list, drop (see {@link EnvironmentService}). */
  readonly environments: EnvironmentService;
  /** The known users: create, list, drop. */
  readonly users: UserService;
  /** Table owners: adopt a table made outside insitu, or hand one to another user. */
  readonly tables: TableAdmin;
  readonly #directory: UserDirectory;
  readonly #life = new Lifecycle('engine');
  readonly #defaults: ApplyDefaults;
  /**
   * The engine's job queue. Sessions reach it through `session.jobs`; the scheduler and servers submit
   * on a user's behalf with `jobs.submitAs(owner, spec, { origin })`.
   */
  readonly jobs: JobService;
  /** The engine's scheduler. Sessions reach it through `session.scheduler`. */
  readonly scheduler: SchedulerService;
  readonly #sql: SqlBinder | undefined;
  readonly #taskServer: TaskServer | undefined;

  /**
   * Wire a storage backend and a runtime; the engine owns both and closes them. `settings` apply to
   * every call (an invalid one is BAD_INPUT).
   */
  constructor(storage: Storage, runtime: Runtime, settings: EngineSettings = {}) {
    const { packageSource, allowPackages, maxResultBytesInFlight, users, sql, maxConcurrentJobs, jobRetentionMs, maxJobTimeoutMs, jobLeaseMs, jobPollMs, maxQueuedJobsPerUser, schedulerClock, schedulerTickMs, serve, ...defaults } =
      settings;
    this.#directory = new UserDirectory(storage, checkUserMode(users));
    this.users = guardedService(new UserService(storage, this.#directory), 'users', () => this.#life.check());
    this.tables = guardedService(new TableAdmin(storage, this.#directory), 'tables', () => this.#life.check());
    this.resultBudget = new ResultBudget(checkResultLimits({ maxResultBytesInFlight }).maxResultBytesInFlight);
    this.storage = storage;
    this.runtime = runtime;
    checkInt64Mode(defaults.int64, 'int64');
    this.#sql = sql;
    // The SQL host's engine admitted the user through a directory of its own: it must forget the user too.
    if (sql !== undefined) this.#directory.onDropped((user) => sql.userDropped(user));
    const environments = new EnvironmentService(packageSource ?? null, checkPackagePolicy(allowPackages));
    this.environments = guardedService(environments, 'environments', () => this.#life.check());
    const serving = checkServeSettings(serve);
    const tasks = storage.tasks;
    this.#defaults = {
      ...defaults,
      budget: this.resultBudget,
      environments,
      ...(tasks === undefined ? {} : { distributor: { tasks, serveCall: (call: string) => this.#taskServer!.serveCall(call) } }),
    };
    const jobSettings = { maxConcurrentJobs, jobRetentionMs, maxJobTimeoutMs, jobLeaseMs, jobPollMs, maxQueuedJobsPerUser };
    // Jobs run as their owner: through that user's admission, as a session of it would.
    const runnerFor = (owner: string): ApplyRunner => {
      const admit = admissionOf(this.#directory, owner);
      return new ApplyRunner(admitted(storage, admit), admitted(runtime, admit), owner, this.#defaults);
    };
    this.jobs = new JobService(storage, runnerFor, Object.fromEntries(Object.entries(jobSettings).filter(([, v]) => v !== undefined)) as JobSettings);
    this.scheduler = new SchedulerService(storage, this.jobs, runnerFor, {
      ...(schedulerClock === undefined ? {} : { schedulerClock }),
      ...(schedulerTickMs === undefined ? {} : { schedulerTickMs }),
    });
    this.scheduler.start();
    if (tasks !== undefined) {
      // Tasks of distributed calls run as their user, admitted as a session of it would be; a user the
      // database does not know runs nothing, whatever the task row says.
      const runTask = async (task: Parameters<ApplyRunner['runTask']>[0], signal: AbortSignal): Promise<Uint8Array> => {
        if (task.user === PUBLIC || (await storage.getUser(task.user)) === null) throw new InsituError(ErrorCode.PRIVILEGE, `user ${task.user} does not exist on this database`);
        return runnerFor(task.user).runTask(task, signal);
      };
      this.#taskServer = new TaskServer(tasks, this.jobs.engineId, runTask, {
        serveAll: serving.distributed,
        slots: runtime.concurrency,
        leaseMs: serving.leaseMs,
        pollMs: serving.pollMs,
      });
    }
  }

  /** Which session users this engine accepts (see {@link EngineSettings.users}). */
  get userMode(): UserMode {
    return this.#directory.mode;
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#life.closed;
  }

  /**
   * A session acting as `user` (a name with the identifier rules, BAD_INPUT otherwise). In `open` mode
   * the user is registered now if new; in `registered` mode every call of a session of an unknown user
   * fails with PRIVILEGE.
   */
  session(opts: SessionOptions = {}): Session {
    this.#life.check();
    const user = checkUserName(opts.user ?? DEFAULT_USER);
    const admit = admissionOf(this.#directory, user);
    const jobs = new SessionJobs(this.jobs, user, admit);
    const scheduler = new SessionScheduler(this.scheduler, user, admit);
    return new Session(admitted(this.storage, admit), admitted(this.runtime, admit), user, () => this.#life.check(), this.#defaults, this.#directory, jobs, scheduler, this.#sql?.forUser(user));
  }

  /**
   * Stop the scheduler, end or finish the running jobs (`jobs: 'interrupt' | 'wait'`), stop the workers and
   * close the database. Idempotent; later calls on the engine fail with CLOSED.
   */
  close(opts: CloseOptions = {}): Promise<void> {
    const mode = opts?.jobs ?? 'interrupt';
    if (mode !== 'interrupt' && mode !== 'wait') return Promise.reject(badInput(`close() jobs must be 'interrupt' or 'wait', got ${JSON.stringify(mode)}`));
    return this.#life.close(async () => {
      // No new runs fire once close() starts; the runs already claimed are submitted first.
      await this.scheduler.close().catch(() => undefined);
      // The SQL functions' engine (a thread of its own) stops before this one's workers and database.
      await this.#sql?.close({ jobs: mode }).catch(() => undefined);
      await this.jobs.close({ wait: mode === 'wait' }).catch(() => undefined);
      await this.#taskServer?.close().catch(() => undefined);
      const results = await Promise.allSettled([this.runtime.close(), this.storage.close()]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw asInsituError(failed.reason, 'close');
    });
  }

  /** Same as {@link Engine.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
