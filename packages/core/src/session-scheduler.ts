import type { SchedulerService } from './scheduler-service.js';
import type { CreateScheduleOptions, ListRunsOptions, ScheduleInfo, ScheduleRun } from './scheduler-types.js';

/**
 * A session's schedules (`session.scheduler`): stored apply calls that run as jobs of their owner at a
 * time, at an interval or on a cron pattern, each run logged. A schedule belongs to its creator and
 * runs with their privileges; another user's schedule answers exactly like a missing one
 * (SCHEDULE_NOT_FOUND).
 */
export class SessionScheduler {
  readonly #service: SchedulerService;
  readonly #user: string;
  readonly #admit: () => Promise<void>;

  /** @internal Use `session.scheduler`. */
  constructor(service: SchedulerService, user: string, admit: () => Promise<void>) {
    this.#service = service;
    this.#user = user;
    this.#admit = admit;
  }

  /**
   * Create a schedule (disabled unless `enabled: true`). The call, the schedule and the function are
   * checked now: BAD_INPUT naming the field, SCRIPT_NOT_FOUND, ALREADY_EXISTS for a name you use.
   */
  async create(spec: CreateScheduleOptions): Promise<ScheduleInfo> {
    await this.#admit();
    return this.#service.createAs(this.#user, spec);
  }

  /** Enable a schedule: it runs next at its next time from now (an `at` time already past: at once). */
  async enable(name: string): Promise<ScheduleInfo> {
    await this.#admit();
    return this.#service.enableAs(this.#user, name);
  }

  /** Disable a schedule: it runs no more until enabled (runs already submitted go on). */
  async disable(name: string): Promise<ScheduleInfo> {
    await this.#admit();
    return this.#service.disableAs(this.#user, name);
  }

  /** Run a schedule's call now, enabled or not; resolves to the run's job id (`session.jobs` takes it). */
  async runNow(name: string): Promise<string> {
    await this.#admit();
    return this.#service.runNowAs(this.#user, name);
  }

  /** Drop a schedule and its run log (runs already submitted go on as jobs). */
  async drop(name: string): Promise<void> {
    await this.#admit();
    return this.#service.dropAs(this.#user, name);
  }

  /** Your schedules, by name, with their next run time and latest run. */
  async list(): Promise<ScheduleInfo[]> {
    await this.#admit();
    return this.#service.listAs(this.#user);
  }

  /** One of your schedules, with its next run time and latest run. */
  async get(name: string): Promise<ScheduleInfo> {
    await this.#admit();
    return this.#service.getAs(this.#user, name);
  }

  /** The run-details log of your schedules (or of one, `name`), newest first, at most `limit` (100). */
  async runs(opts: ListRunsOptions = {}): Promise<ScheduleRun[]> {
    await this.#admit();
    return this.#service.runsAs(this.#user, opts);
  }
}
