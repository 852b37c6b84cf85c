import { APPLY_KINDS, checkApplyCall, type ApplyCall, type ApplyKind } from './apply-call.js';
import { checkContext, checkPositiveInt } from './apply-options.js';
import type { ApplyRunner } from './apply-runner.js';
import { asInsituError } from './error-boundary.js';
import { ErrorCode, InsituError, badInput, deserializeError } from './errors.js';
import { checkIdentifier } from './identifiers.js';
import { checkSchedule, decodeSchedule, encodeSchedule, firstRun, nextRun } from './schedule-spec.js';
import type { RunOutcome, StoredRun, StoredSchedule } from './schedule-storage.js';
import type { CreateScheduleOptions, ListRunsOptions, RunState, ScheduleInfo, ScheduleJobs, ScheduleRun, SchedulerSettings } from './scheduler-types.js';
import type { Storage } from './storage.js';
import { TableProxy } from './table-proxy.js';

const CREATE_FIELDS = [
  'name', 'kind', 'func', 'data', 'by', 'times', 'options', 'args', 'positional', 'schedule', 'enabled', 'autoDrop', 'maxRuns', 'context',
] as const;

const FINAL: readonly RunState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

/** Due schedules claimed per tick, and open runs looked at per tick. */
const TICK_BATCH = 100;
/** A claimed run whose job was never recorded after this long (its engine died mid-submit) is ended. */
const SUBMIT_GRACE_MS = 60_000;

function notFound(name: unknown): InsituError {
  return new InsituError(ErrorCode.SCHEDULE_NOT_FOUND, `no schedule ${JSON.stringify(String(name).slice(0, 128))}: it does not exist, was dropped, or is not yours`);
}

function checkBool(v: unknown, field: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw badInput(`${field} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** The origin a scheduled job carries (`jobs.status().origin`). */
export function scheduleOrigin(name: string): string {
  return `schedule:${name}`;
}

/**
 * The engine's scheduler: stores schedules (an apply call and when it fires), ticks inside the engine
 * (an unref'd timer) to fire due ones as jobs of their owners, and logs every run. Firing is claimed
 * with a compare-and-set in one transaction, so several engines on one file fire each due run once;
 * slots missed while no engine was open fire once, at the next tick.
 */
export class SchedulerService {
  readonly #storage: Storage;
  readonly #jobs: ScheduleJobs;
  readonly #runnerFor: (owner: string) => ApplyRunner;
  readonly #now: () => number;
  readonly #tickMs: number;
  readonly #submitting = new Set<number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking: Promise<void> | null = null;
  #lastPurge = -Infinity;
  #closed = false;

  /**
   * `runnerFor` gives an apply runner acting as a user (to check a call at create time as its owner
   * sees it); `jobs` runs the calls.
   */
  constructor(storage: Storage, jobs: ScheduleJobs, runnerFor: (owner: string) => ApplyRunner, settings: SchedulerSettings = {}) {
    if (settings.schedulerClock !== undefined && typeof settings.schedulerClock !== 'function') throw badInput('schedulerClock must be a function returning epoch milliseconds');
    this.#storage = storage;
    this.#jobs = jobs;
    this.#runnerFor = runnerFor;
    this.#now = settings.schedulerClock ?? Date.now;
    this.#tickMs = checkPositiveInt(settings.schedulerTickMs, 'schedulerTickMs', 1000);
  }

  /** Start ticking: once now (runs missed while no engine was open), then every `schedulerTickMs`. */
  start(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.tick(), this.#tickMs);
    this.#timer.unref();
    void this.tick();
  }

  /**
   * One pass: fire every due schedule (each claimed in one transaction) and record the outcome of runs
   * whose jobs ended. Overlapping calls share the pass in progress. Failures are left for the next pass.
   */
  tick(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#ticking !== null) return this.#ticking;
    this.#ticking = (async () => {
      try {
        await this.#fireDue();
        await this.#settleOpenRuns();
        await this.#purge();
      } catch {
        // The storage failed (busy, closed under us): the next tick tries again.
      }
    })().finally(() => {
      this.#ticking = null;
    });
    return this.#ticking;
  }

  /** Stop ticking and wait for the pass in progress (its claimed runs are submitted as jobs). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#ticking;
  }

  // ---- a user's schedules -----------------------------------------------------------------------

  /** Create a schedule of `owner`. Everything is checked now: the call, the schedule, the script. */
  async createAs(owner: string, spec: CreateScheduleOptions): Promise<ScheduleInfo> {
    this.#checkOpen();
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw badInput(`create() takes { ${CREATE_FIELDS.join(', ')} }`);
    const o = spec as unknown as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!(CREATE_FIELDS as readonly string[]).includes(k)) throw badInput(`${k} is not a field of create() (fields are ${CREATE_FIELDS.join(', ')})`);
    }
    const name = checkIdentifier(o.name, 'schedule');
    const kind = o.kind ?? 'doEval';
    if (typeof kind !== 'string' || !(APPLY_KINDS as readonly string[]).includes(kind)) throw badInput(`kind must be one of ${APPLY_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    if (o.options !== undefined && (o.options === null || typeof o.options !== 'object' || Array.isArray(o.options))) throw badInput('options must be an object');
    const options: Record<string, unknown> = { ...(o.options as Record<string, unknown> | undefined) };
    for (const k of ['args', 'positional', 'context'] as const) {
      if (o[k] === undefined) continue;
      if (options[k] !== undefined) throw badInput(`${k} is given twice, as ${k} and as options.${k}: give one`);
      options[k] = o[k];
    }
    options.context = checkContext(options.context);
    const data = o.data instanceof TableProxy ? o.data.toPlan() : o.data;
    const call = checkApplyCall(
      {
        kind,
        ...(data === undefined ? {} : { data }),
        ...(o.by === undefined ? {} : { by: o.by }),
        ...(o.times === undefined ? {} : { times: o.times }),
        func: o.func,
        options,
      },
      '',
    );
    const timeoutMs = call.options?.timeoutMs;
    const maxTimeoutMs = this.#jobs.settings.maxJobTimeoutMs;
    if (timeoutMs !== undefined && timeoutMs > maxTimeoutMs) {
      throw badInput(`options.timeoutMs of a scheduled run must be at most ${maxTimeoutMs} ms (the engine's maxJobTimeoutMs), got ${timeoutMs}`);
    }
    const now = this.#now();
    const schedule = checkSchedule(o.schedule, now);
    const enabled = checkBool(o.enabled, 'enabled', false);
    const autoDrop = checkBool(o.autoDrop, 'autoDrop', false);
    const maxRuns = o.maxRuns === undefined ? null : checkPositiveInt(o.maxRuns, 'maxRuns', 1);
    await this.#runnerFor(owner).preflight(call);
    this.#checkOpen();
    const added = await this.#storage.insertSchedule({
      owner,
      name,
      call: JSON.stringify(call),
      schedule: encodeSchedule(schedule),
      enabled,
      autoDrop,
      maxRuns,
      nextRun: enabled ? dateOrNull(firstRun(schedule, now)) : null,
      created: new Date(now),
    });
    if (!added) throw new InsituError(ErrorCode.ALREADY_EXISTS, `schedule ${name} already exists; drop() it first or pick another name`);
    this.#kick();
    return this.getAs(owner, name);
  }

  /** Enable a schedule: it fires next at its next slot from now (an `at` time already past: at once). */
  async enableAs(owner: string, name: string): Promise<ScheduleInfo> {
    const s = await this.#get(owner, name);
    const now = this.#now();
    const spec = decodeSchedule(s.schedule);
    // An `at` schedule that fired, or a schedule that reached maxRuns, has nothing left to fire.
    const spent = ('at' in spec && s.runCount > 0) || (s.maxRuns !== null && s.runCount >= s.maxRuns);
    if (!(await this.#storage.setScheduleEnabled(owner, s.name, true, spent ? null : dateOrNull(firstRun(spec, now))))) throw notFound(name);
    this.#kick();
    return this.getAs(owner, s.name);
  }

  /** Disable a schedule: it fires no more until enabled (runs already started go on). */
  async disableAs(owner: string, name: string): Promise<ScheduleInfo> {
    const s = await this.#get(owner, name);
    if (!(await this.#storage.setScheduleEnabled(owner, s.name, false, null))) throw notFound(name);
    return this.getAs(owner, s.name);
  }

  /** Run a schedule's call now, enabled or not, as a job; resolves to its id. Its schedule is unchanged. */
  async runNowAs(owner: string, name: string): Promise<string> {
    const s = await this.#get(owner, name);
    const id = await this.#storage.insertRun({ owner, schedule: s.name, trigger: 'manual', due: null, claimed: new Date(this.#now()) });
    if (id === null) throw notFound(name);
    const jobId = await this.#submit(s, id);
    if (jobId instanceof InsituError) throw jobId;
    return jobId;
  }

  /** Drop a schedule and its run log. Runs already submitted go on as jobs. */
  async dropAs(owner: string, name: string): Promise<void> {
    const key = checkIdentifier(name, 'schedule');
    this.#checkOpen();
    if (!(await this.#storage.deleteSchedule(owner, key))) throw notFound(name);
  }

  /** One schedule of `owner`, with its next run time and latest run. */
  async getAs(owner: string, name: string): Promise<ScheduleInfo> {
    const s = await this.#get(owner, name);
    const last = (await this.#storage.lastRuns(owner, [s.name])).get(s.name);
    return infoOf(s, last === undefined ? null : await this.#present(last));
  }

  /** `owner`'s schedules, by name. */
  async listAs(owner: string): Promise<ScheduleInfo[]> {
    this.#checkOpen();
    const all = await this.#storage.listSchedules(owner);
    const last = await this.#storage.lastRuns(owner, all.map((s) => s.name));
    return Promise.all(all.map(async (s) => infoOf(s, last.has(s.name) ? await this.#present(last.get(s.name)!) : null)));
  }

  /** `owner`'s run-details log, newest first. */
  async runsAs(owner: string, opts: ListRunsOptions = {}): Promise<ScheduleRun[]> {
    this.#checkOpen();
    if (opts === null || typeof opts !== 'object') throw badInput('runs() takes { name?, limit? }');
    const schedule = opts.name === undefined ? undefined : checkIdentifier(opts.name, 'schedule');
    const limit = checkPositiveInt(opts.limit, 'limit', 100);
    const runs = await this.#storage.listRuns({ owner, ...(schedule === undefined ? {} : { schedule }), limit });
    return Promise.all(runs.map((r) => this.#present(r)));
  }

  // ---- firing -----------------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#closed) throw new InsituError(ErrorCode.CLOSED, 'the engine is closed; create a new one to continue');
  }

  async #get(owner: string, name: unknown): Promise<StoredSchedule> {
    const key = checkIdentifier(name, 'schedule');
    this.#checkOpen();
    const s = await this.#storage.getSchedule(owner, key);
    if (s === null) throw notFound(name);
    return s;
  }

  /** Tick soon (a schedule was created or enabled: an `at` in the past is due now). */
  #kick(): void {
    if (this.#timer !== undefined) setImmediate(() => void this.tick());
  }

  async #fireDue(): Promise<void> {
    const now = this.#now();
    for (const s of await this.#storage.dueSchedules(new Date(now), TICK_BATCH)) {
      if (this.#closed) return;
      const due = s.nextRun!.getTime();
      const next = nextRun(decodeSchedule(s.schedule), due, now);
      const spent = next === null || (s.maxRuns !== null && s.runCount + 1 >= s.maxRuns);
      const runId = await this.#storage.claimRun(
        { owner: s.owner, name: s.name, revision: s.revision, nextRun: spent ? null : new Date(next), enabled: !spent, drop: spent && s.autoDrop },
        { owner: s.owner, schedule: s.name, trigger: 'schedule', due: new Date(due), claimed: new Date(now) },
      );
      if (runId !== null) await this.#submit(s, runId);
    }
  }

  /** Submit a claimed run as a job of the schedule's owner; a refusal ends the run `failed`. */
  async #submit(s: StoredSchedule, runId: number): Promise<string | InsituError> {
    this.#submitting.add(runId);
    try {
      const { id } = await this.#jobs.submitAs(s.owner, JSON.parse(s.call) as ApplyCall, { origin: scheduleOrigin(s.name) });
      await this.#storage.setRunJob(runId, id);
      return id;
    } catch (e) {
      const error = asInsituError(e, `submitting a run of schedule ${s.name}`);
      await this.#storage.finishRun(runId, { state: 'failed', started: null, finished: new Date(this.#now()), stdout: '', error: error.toJSON() }).catch(() => undefined);
      return error;
    } finally {
      this.#submitting.delete(runId);
    }
  }

  /** Record the outcome of open runs whose jobs ended (so the log outlives the jobs). */
  async #settleOpenRuns(): Promise<void> {
    const now = this.#now();
    for (const r of await this.#storage.openRuns(TICK_BATCH)) {
      if (this.#closed) return;
      if (r.jobId === null) {
        if (!this.#submitting.has(r.id) && now - r.claimed.getTime() > SUBMIT_GRACE_MS) {
          const error = new InsituError(ErrorCode.INTERRUPTED, 'the engine that claimed the run stopped before it submitted its job');
          await this.#storage.finishRun(r.id, { state: 'failed', started: null, finished: new Date(now), stdout: '', error: error.toJSON() });
        }
        continue;
      }
      await this.#present(r);
    }
  }

  async #purge(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastPurge < 3_600_000) return;
    this.#lastPurge = now;
    // Ended runs are kept as long as finished jobs (jobRetentionMs), checked at most once an hour.
    await this.#storage.purgeRuns(new Date(now - this.#jobs.settings.jobRetentionMs));
  }

  /**
   * A logged run as its owner sees it: an ended run as recorded; an open one with its job's live state,
   * recording the outcome when the job has ended.
   */
  async #present(r: StoredRun): Promise<ScheduleRun> {
    const base = { schedule: r.schedule, jobId: r.jobId, trigger: r.trigger, due: r.due };
    if (r.outcome !== null) return { ...base, ...fromOutcome(r.outcome) };
    if (r.jobId === null) return { ...base, started: null, finished: null, state: 'queued', stdout: '' };
    let outcome: RunOutcome | null;
    let live: { state: RunState; started: Date | null } = { state: 'queued', started: null };
    try {
      const st = await this.#jobs.status(r.owner, r.jobId);
      live = st;
      outcome = FINAL.includes(st.state)
        ? {
            state: st.state,
            started: st.started,
            finished: st.finished ?? new Date(),
            stdout: st.state === 'succeeded' ? await this.#stdoutOf(r.owner, r.jobId) : (st.error?.stdout ?? ''),
            error: st.error === undefined ? null : st.error.toJSON(),
          }
        : null;
    } catch (e) {
      const error = asInsituError(e, 'reading a run of a schedule');
      // The job was deleted (or purged) before its outcome was recorded here.
      if (error.code !== ErrorCode.JOB_NOT_FOUND) throw error;
      outcome = { state: 'cancelled', started: null, finished: new Date(this.#now()), stdout: '', error: error.toJSON() };
    }
    if (outcome === null) return { ...base, started: live.started, finished: null, state: live.state, stdout: '' };
    await this.#storage.finishRun(r.id, outcome);
    return { ...base, ...fromOutcome(outcome) };
  }

  async #stdoutOf(owner: string, jobId: string): Promise<string> {
    try {
      return (await this.#jobs.result(owner, jobId)).stdout;
    } catch {
      return '';
    }
  }
}

function dateOrNull(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

function fromOutcome(o: RunOutcome): Pick<ScheduleRun, 'started' | 'finished' | 'state' | 'stdout' | 'error'> {
  return {
    started: o.started,
    finished: o.finished,
    state: o.state as RunState,
    stdout: o.stdout,
    ...(o.error === null ? {} : { error: deserializeError(o.error) }),
  };
}

function infoOf(s: StoredSchedule, lastRun: ScheduleRun | null): ScheduleInfo {
  const call = JSON.parse(s.call) as ApplyCall;
  return {
    name: s.name,
    owner: s.owner,
    kind: call.kind as ApplyKind,
    call,
    schedule: decodeSchedule(s.schedule),
    enabled: s.enabled,
    autoDrop: s.autoDrop,
    maxRuns: s.maxRuns,
    runCount: s.runCount,
    nextRun: s.nextRun,
    created: s.created,
    lastRun,
  };
}
