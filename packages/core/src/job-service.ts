import { randomUUID } from 'node:crypto';
import { checkApplyCall, type ApplyCall, type ApplyKind } from './apply-call.js';
import { checkPositiveInt } from './apply-options.js';
import type { ApplyProgress } from './apply-options.js';
import type { ApplyRunner } from './apply-runner.js';
import { engineIsDead, newEngineId, releaseEngineId } from './engine-identity.js';
import { addLeaseHolder } from './thread-leases.js';
import { asInsituError } from './error-boundary.js';
import { ErrorCode, InsituError, badInput, deserializeError } from './errors.js';
import type { JobSettings, JobSpec, JobStatus, ListJobsOptions, WaitJobOptions } from './job-types.js';
import type { ApplyResult } from './result-assembly.js';
import { decodeResult, encodeResult } from './result-codec.js';
import { JOB_STATES, type JobState, type Storage, type StoredJob, type StoredJobProgress } from './storage.js';
import { TableProxy } from './table-proxy.js';

/** Default `timeoutMs` of a job: 1800 s, as OML4Py's asynchronous calls. */
export const DEFAULT_JOB_TIMEOUT_MS = 1_800_000;
/** Default largest job timeout: 12 h. */
export const DEFAULT_MAX_JOB_TIMEOUT_MS = 43_200_000;
/** Default retention of finished jobs: 7 days. */
export const DEFAULT_JOB_RETENTION_MS = 7 * 24 * 3_600_000;

const FINAL: readonly JobState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

/** Settings with their defaults, validated. */
function settingsOf(s: JobSettings): Required<JobSettings> {
  const n = (v: unknown, what: string, d: number) => checkPositiveInt(v, what, d);
  return {
    // 0: this engine submits jobs but runs none (short-lived engines such as the CLI's, whose close would interrupt them).
    maxConcurrentJobs: s.maxConcurrentJobs === 0 ? 0 : n(s.maxConcurrentJobs, 'maxConcurrentJobs', 1),
    jobRetentionMs: n(s.jobRetentionMs, 'jobRetentionMs', DEFAULT_JOB_RETENTION_MS),
    maxJobTimeoutMs: n(s.maxJobTimeoutMs, 'maxJobTimeoutMs', DEFAULT_MAX_JOB_TIMEOUT_MS),
    jobLeaseMs: n(s.jobLeaseMs, 'jobLeaseMs', 30_000),
    jobPollMs: n(s.jobPollMs, 'jobPollMs', 1000),
    maxQueuedJobsPerUser: n(s.maxQueuedJobsPerUser, 'maxQueuedJobsPerUser', 100),
  };
}

function notFound(id: unknown): InsituError {
  return new InsituError(ErrorCode.JOB_NOT_FOUND, `no job ${JSON.stringify(String(id).slice(0, 64))}: it does not exist, was deleted or purged, or is not yours`);
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 128) throw badInput('a job id must be the string submit() returned');
  return id;
}

/** A short description of a call's function, for status and listings. */
function describeFunc(call: ApplyCall): string {
  const f = call.func;
  if (typeof f === 'string') return f;
  if ('source' in f) return f.name === undefined ? '<inline>' : `<inline ${f.name}>`;
  return f.owner === undefined ? f.name : `${f.owner}.${f.name}`;
}

function statusOf(j: StoredJob, now: number): JobStatus {
  const started = j.started?.getTime();
  const end = j.finished?.getTime() ?? (j.state === 'running' ? now : undefined);
  return {
    id: j.id,
    owner: j.owner,
    kind: j.kind as ApplyKind,
    func: j.func,
    state: j.state,
    created: j.created,
    started: j.started,
    finished: j.finished,
    elapsedMs: started === undefined || end === undefined ? 0 : Math.max(0, end - started),
    progress: {
      partitionsDone: j.progress.partitionsDone,
      ...(j.progress.partitionsTotal === null ? {} : { partitionsTotal: j.progress.partitionsTotal }),
      rowsDone: j.progress.rowsDone,
    },
    ...(j.error === null ? {} : { error: deserializeError(j.error) }),
    ...(j.origin === null ? {} : { origin: j.origin }),
    attempts: j.attempts,
  };
}

function storedProgress(p: ApplyProgress): StoredJobProgress {
  return { partitionsDone: p.partitionsDone, partitionsTotal: p.partitionsTotal ?? null, rowsDone: p.rowsDone };
}

interface RunningJob {
  readonly abort: AbortController;
  readonly done: Promise<void>;
}

/**
 * An engine's job queue: stores submitted calls, runs up to `maxConcurrentJobs` of them (over all
 * engines on the file) through the same {@link ApplyRunner.run} path as sync calls, renews the leases
 * of its running jobs, recovers jobs whose engine died, and purges old ones.
 *
 * The scheduler (and the REST server) submit through {@link JobService.submitAs}: a job for `owner`,
 * with an `origin` naming who submitted it on their behalf.
 */
export class JobService {
  /** This engine's lease-holder id. */
  readonly engineId: string;
  readonly #storage: Storage;
  readonly #runnerFor: (owner: string) => ApplyRunner;
  readonly #s: Required<JobSettings>;
  readonly #running = new Map<string, RunningJob>();
  readonly #listeners = new Set<() => void>();
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #ready: Promise<void>;
  #closed = false;
  /** Set by close({ wait: true }): no new claims while the running jobs finish. */
  #draining = false;
  #pumping: Promise<void> | null = null;
  #again = false;
  /** Unregisters this engine's leases from its thread's (see thread-leases.ts). */
  readonly #dropLeaseHolder: () => void;

  /**
   * Start the queue: recover jobs of dead engines and purge old ones now, then poll. `runnerFor` gives
   * an apply runner acting as a user (with that user's privileges and admission).
   */
  constructor(storage: Storage, runnerFor: (owner: string) => ApplyRunner, settings: JobSettings = {}) {
    this.#s = settingsOf(settings);
    this.#storage = storage;
    this.#runnerFor = runnerFor;
    this.engineId = newEngineId();
    // While this thread blocks in a SQL function, the SQL host renews these for it.
    this.#dropLeaseHolder = addLeaseHolder(() => (this.#closed ? null : { engine: this.engineId, jobs: [...this.#running.keys()], leaseMs: this.#s.jobLeaseMs }));
    this.#ready = (async () => {
      await this.#recover();
      await this.#purge();
    })();
    this.#ready.then(
      () => this.#pump(),
      () => undefined,
    );
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch(() => undefined), ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.#s.jobPollMs, async () => {
      await this.#recover();
      this.#pump();
    });
    // Renewal also carries cancels and deletes made through other engines: at least every poll.
    every(Math.max(1, Math.min(this.#s.jobPollMs, Math.floor(this.#s.jobLeaseMs / 3))), () => this.#heartbeat());
    every(Math.max(1000, Math.min(this.#s.jobRetentionMs, 3_600_000)), () => this.#purge());
  }

  /** The settings in force. */
  get settings(): Readonly<Required<JobSettings>> {
    return this.#s;
  }

  /**
   * Queue a call to run as `owner` and return its id at once. The call is validated (BAD_INPUT naming
   * the field), its function and data are checked as `owner` sees them, and its timeout against the
   * maximum. `origin` names who submits on the owner's behalf (e.g. `schedule:NAME`).
   */
  async submitAs(owner: string, spec: JobSpec, opts: { origin?: string } = {}): Promise<{ id: string }> {
    this.#checkOpen();
    if (spec === null || typeof spec !== 'object') throw badInput('submit() takes { kind, data?, by?, times?, func, options?, retries? }');
    const { retries: r, data, ...rest } = spec as JobSpec & Record<string, unknown>;
    const retries = r === undefined ? 0 : typeof r === 'number' && Number.isSafeInteger(r) && r >= 0 && r <= 100 ? r : NaN;
    if (Number.isNaN(retries)) throw badInput('retries must be an integer from 0 to 100');
    const call = checkApplyCall({ ...rest, ...(data === undefined ? {} : { data: data instanceof TableProxy ? data.toPlan() : data }) });
    const timeoutMs = call.options?.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
    if (timeoutMs <= 0 || timeoutMs > this.#s.maxJobTimeoutMs) {
      throw badInput(`call.options.timeoutMs of a job must be from 1 to ${this.#s.maxJobTimeoutMs} ms (the engine's maxJobTimeoutMs), got ${timeoutMs}`);
    }
    await this.#runnerFor(owner).preflight(call);
    await this.#ready;
    this.#checkOpen();
    // One user's submissions (a REST token, a tight schedule) must not fill the queue for everyone.
    const max = this.#s.maxQueuedJobsPerUser;
    if ((await this.#storage.listJobs({ owner, state: 'queued', limit: max })).length >= max) {
      throw new InsituError(ErrorCode.TOO_MANY_JOBS, `user ${owner} already has ${max} queued jobs (the engine's maxQueuedJobsPerUser); wait for some to start, or cancel some`);
    }
    const id = randomUUID();
    await this.#storage.insertJob({
      id,
      owner,
      kind: call.kind,
      func: describeFunc(call),
      call: JSON.stringify(call),
      origin: opts.origin ?? null,
      timeoutMs,
      retries,
      created: new Date(),
    });
    this.#pump();
    return { id };
  }

  /** A job's status as its owner sees it (JOB_NOT_FOUND for a missing job or another user's). */
  async status(owner: string, id: string): Promise<JobStatus> {
    return statusOf(await this.#get(owner, id), Date.now());
  }

  /** The job's result, the same as the sync call's: NOT_READY while queued or running, the job's error when it did not succeed. */
  async result(owner: string, id: string): Promise<ApplyResult> {
    const j = await this.#get(owner, id);
    if (j.state === 'queued' || j.state === 'running') throw new InsituError(ErrorCode.NOT_READY, `job ${id} is ${j.state}; wait() for it, then ask again`);
    if (j.state !== 'succeeded') throw j.error === null ? new InsituError(ErrorCode.RUNTIME_ERROR, `job ${id} ${j.state}`) : deserializeError(j.error);
    const bytes = await this.#storage.getJobResult(j.id, owner);
    if (bytes === null) throw notFound(id);
    const r = decodeResult(bytes);
    return r.into === undefined ? r : { ...r, value: new TableProxy(this.#storage, owner, { kind: 'table', name: r.into.table }) };
  }

  /** Resolve with the job's status once it is final. */
  async wait(owner: string, id: string, opts: WaitJobOptions = {}): Promise<JobStatus> {
    const { signal, timeoutMs } = opts ?? {};
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw badInput('signal must be an AbortSignal');
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs >= 0))) throw badInput('timeoutMs must be a non-negative number of milliseconds');
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(owner, id);
      if (FINAL.includes(s.state)) return s;
      if (signal?.aborted === true) throw new InsituError(ErrorCode.CANCELLED, `stopped waiting for job ${id} (it goes on; cancel() stops it)`, { cause: signal.reason });
      if (Date.now() >= deadline) throw new InsituError(ErrorCode.TIMEOUT, `job ${id} is still ${s.state} after ${timeoutMs} ms of waiting (it goes on)`);
      if (this.#closed) this.#checkOpen();
      await this.#changeOrTimeout(Math.min(200, deadline - Date.now()), signal);
    }
  }

  /**
   * Cancel a job: a queued one is cancelled at once; a running one is stopped as a sync call's signal
   * stops it (by whichever engine runs it) and ends `cancelled`. A finished job is left as it is.
   * Resolves to the job's status after the request.
   */
  async cancel(owner: string, id: string): Promise<JobStatus> {
    checkId(id);
    await this.#ready;
    const error = new InsituError(ErrorCode.CANCELLED, 'the job was cancelled').toJSON();
    const j = await this.#storage.cancelJob(id, owner, error, new Date());
    if (j === null) throw notFound(id);
    this.#running.get(id)?.abort.abort(new InsituError(ErrorCode.CANCELLED, 'the job was cancelled'));
    this.#notify();
    return statusOf(j, Date.now());
  }

  /** The owner's jobs, newest first. */
  async list(owner: string, opts: ListJobsOptions = {}): Promise<JobStatus[]> {
    const { state, limit } = opts ?? {};
    if (state !== undefined && !JOB_STATES.includes(state)) throw badInput(`state must be one of ${JOB_STATES.join(', ')}, got ${JSON.stringify(state)}`);
    const n = checkPositiveInt(limit, 'limit', 100);
    await this.#ready;
    const now = Date.now();
    return (await this.#storage.listJobs({ owner, ...(state === undefined ? {} : { state }), limit: n })).map((j) => statusOf(j, now));
  }

  /** Delete a job and its result; a queued or running one is cancelled first. */
  async delete(owner: string, id: string): Promise<void> {
    checkId(id);
    await this.#ready;
    if (!(await this.#storage.deleteJob(id, owner))) throw notFound(id);
    this.#running.get(id)?.abort.abort(new InsituError(ErrorCode.CANCELLED, 'the job was deleted'));
    this.#notify();
  }

  /**
   * Stop: no more claims or timers; running jobs are interrupted and recorded (`failed` INTERRUPTED, or
   * queued again when they have retries left) before this resolves. With `wait`, the jobs this engine
   * runs are first let finish (their leases still renewed; nothing new is claimed).
   */
  async close(opts: { wait?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    if (opts.wait === true && !this.#draining) {
      this.#draining = true;
      await this.#pumping;
      await Promise.allSettled([...this.#running.values()].map((r) => r.done));
    }
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#ready.catch(() => undefined);
    await this.#pumping;
    for (const r of this.#running.values()) r.abort.abort(new InsituError(ErrorCode.INTERRUPTED, 'the engine running the job was closed'));
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
    releaseEngineId(this.engineId);
    this.#dropLeaseHolder();
    this.#notify();
  }

  async #get(owner: string, id: unknown): Promise<StoredJob> {
    const key = checkId(id);
    await this.#ready;
    const j = await this.#storage.getJob(key, owner);
    if (j === null) throw notFound(id);
    return j;
  }

  #checkOpen(): void {
    if (this.#closed) throw new InsituError(ErrorCode.CLOSED, 'the engine is closed; create a new one to continue');
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  /** Resolve on a local job change, after `ms`, or when `signal` aborts, whichever comes first. */
  #changeOrTimeout(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#listeners.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async #recover(): Promise<void> {
    if (this.#closed) return;
    const error = new InsituError(ErrorCode.INTERRUPTED, 'the engine running the job stopped (crashed, was killed, or lost its lease) before the job finished').toJSON();
    const ended = await this.#storage.recoverJobs({ now: new Date(), isDead: (e) => e !== this.engineId && engineIsDead(e), error });
    if (ended.length > 0) this.#notify();
  }

  async #purge(): Promise<void> {
    if (this.#closed) return;
    await this.#storage.purgeJobs(new Date(Date.now() - this.#s.jobRetentionMs));
  }

  async #heartbeat(): Promise<void> {
    if (this.#running.size === 0 || this.#closed) return;
    const stop = await this.#storage.renewLeases(this.engineId, [...this.#running.keys()], new Date(Date.now() + this.#s.jobLeaseMs));
    for (const id of stop) this.#running.get(id)?.abort.abort(new InsituError(ErrorCode.CANCELLED, 'the job was cancelled'));
  }

  /** Claim and start queued jobs while there is room. One pump at a time; a request during one runs it again. */
  #pump(): void {
    if (this.#closed) return;
    if (this.#pumping !== null) {
      this.#again = true;
      return;
    }
    this.#pumping = (async () => {
      do {
        this.#again = false;
        while (!this.#closed && !this.#draining && this.#running.size < this.#s.maxConcurrentJobs) {
          const now = new Date();
          const job = await this.#storage.claimJob({
            engine: this.engineId,
            now,
            leaseUntil: new Date(now.getTime() + this.#s.jobLeaseMs),
            maxRunning: this.#s.maxConcurrentJobs,
          });
          if (job === null) break;
          this.#start(job);
        }
      } while (this.#again && !this.#closed);
    })()
      .catch(() => undefined)
      .finally(() => {
        this.#pumping = null;
      });
  }

  #start(job: StoredJob): void {
    const abort = new AbortController();
    const done = this.#execute(job, abort.signal).finally(() => {
      this.#running.delete(job.id);
      this.#notify();
      this.#pump();
    });
    this.#running.set(job.id, { abort, done });
    this.#notify();
  }

  /** Run one claimed job through the one apply path and record how it ended. */
  async #execute(job: StoredJob, signal: AbortSignal): Promise<void> {
    let last: StoredJobProgress = { partitionsDone: 0, partitionsTotal: null, rowsDone: 0 };
    const engine = this.engineId;
    const end = async (state: 'succeeded' | 'failed' | 'cancelled' | 'timed_out', extra: { error?: InsituError; result?: Uint8Array }) => {
      await this.#storage.finishJob(job.id, engine, {
        state,
        finished: new Date(),
        progress: last,
        ...(extra.error === undefined ? {} : { error: extra.error.toJSON() }),
        ...(extra.result === undefined ? {} : { result: extra.result }),
      });
    };
    try {
      let result: ApplyResult;
      try {
        const stored = JSON.parse(job.call) as ApplyCall;
        const call: ApplyCall = { ...stored, options: { ...stored.options, timeoutMs: job.timeoutMs } };
        result = await this.#runnerFor(job.owner).run(call, {
          signal,
          onProgress: (p) => {
            last = storedProgress(p);
            void this.#storage.updateJobProgress(job.id, engine, last).catch(() => undefined);
          },
        });
      } catch (e) {
        const error = asInsituError(e, 'the job');
        if (error.code === ErrorCode.INTERRUPTED) {
          if (!(await this.#storage.requeueJob(job.id, engine))) await end('failed', { error });
          return;
        }
        await end(error.code === ErrorCode.TIMEOUT ? 'timed_out' : error.code === ErrorCode.CANCELLED ? 'cancelled' : 'failed', { error });
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = encodeResult(result);
      } catch (e) {
        await end('failed', { error: asInsituError(e, 'storing the job result') });
        return;
      }
      try {
        await end('succeeded', { result: bytes });
      } catch (e) {
        // The result could not be written (too large for the database, disk full): say so.
        await end('failed', { error: asInsituError(e, 'storing the job result') });
      }
    } catch {
      // Storage failed while recording: the lease expires and recovery ends the job.
    }
  }
}
