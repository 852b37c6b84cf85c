import type { JobService } from './job-service.js';
import type { JobSpec, JobStatus, ListJobsOptions, WaitJobOptions } from './job-types.js';
import type { ApplyResult } from './result-assembly.js';

/**
 * A session's jobs (`session.jobs`): apply calls submitted to run in the engine's pool without the
 * caller waiting, persisted with their state, progress, result and error. A job belongs to its
 * submitter and runs with their privileges; another user's job answers exactly like a missing one
 * (JOB_NOT_FOUND).
 */
export class SessionJobs {
  readonly #service: JobService;
  readonly #user: string;
  readonly #admit: () => Promise<void>;

  /** @internal Use `session.jobs`. */
  constructor(service: JobService, user: string, admit: () => Promise<void>) {
    this.#service = service;
    this.#user = user;
    this.#admit = admit;
  }

  /**
   * Queue an apply call: `{ kind, data?, by?, times?, func, options?, retries? }`, with `options` the
   * same bag the sync call takes (but `signal` and `onProgress`). Resolves to `{ id }` at once; bad
   * input (BAD_INPUT naming the field), unknown scripts and unreachable data are refused here.
   */
  async submit(spec: JobSpec): Promise<{ id: string }> {
    await this.#admit();
    return this.#service.submitAs(this.#user, spec);
  }

  /** The job's state, timestamps, progress and error. */
  async status(id: string): Promise<JobStatus> {
    await this.#admit();
    return this.#service.status(this.#user, id);
  }

  /**
   * The job's result: the same ApplyResult the sync call gives. NOT_READY while queued or running; a
   * failed, timed-out or cancelled job's error is thrown.
   */
  async result(id: string): Promise<ApplyResult> {
    await this.#admit();
    return this.#service.result(this.#user, id);
  }

  /** Wait until the job is final and resolve to its status; `signal` / `timeoutMs` stop the wait, not the job. */
  async wait(id: string, opts: WaitJobOptions = {}): Promise<JobStatus> {
    await this.#admit();
    return this.#service.wait(this.#user, id, opts);
  }

  /** Cancel a queued or running job (a finished one is left as it is); resolves to its status. */
  async cancel(id: string): Promise<JobStatus> {
    await this.#admit();
    return this.#service.cancel(this.#user, id);
  }

  /** Your jobs, newest first (`state` filters, `limit` defaults to 100). */
  async list(opts: ListJobsOptions = {}): Promise<JobStatus[]> {
    await this.#admit();
    return this.#service.list(this.#user, opts);
  }

  /** Delete a job and its result (a queued or running one is cancelled). */
  async delete(id: string): Promise<void> {
    await this.#admit();
    return this.#service.delete(this.#user, id);
  }
}
