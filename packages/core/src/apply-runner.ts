import type { Schema } from 'apache-arrow';
import { InsituError, badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';
import { checkApplyCall, type ApplyCall, type CallControls, type CallOptions } from './apply-call.js';
import { checkArgs, checkContext, checkTimeout, checkInputType, checkPositiveInt, degreeOf, type FuncRef } from './apply-options.js';
import { decodePlan } from './data-plan.js';
import { ProgressReporter } from './progress-reporter.js';
import { ErrorCode } from './errors.js';
import { asInsituError } from './error-boundary.js';
import type { ResultBudget } from './result-budget.js';
import { groupOutcomesBytes, outcomeBytes } from './result-size.js';
import { abortError, runOrdered } from './ordered-runner.js';
import type { Partition } from './partition.js';
import { groupPartitions, indexPartitions, rowChunks, wholePartition } from './partitioner.js';
import { assemble, type ApplyResult, type AssemblyShape } from './result-assembly.js';
import { hostApiFor } from './host-api.js';
import type { ContextMode, GroupOutcome, HostApi, InputType, Runtime, Task } from './runtime.js';
import type { CellKey } from './partition-key.js';
import type { GroupRange } from './storage.js';
import { resolveScript } from './script-repository.js';
import type { Storage } from './storage.js';
import { TableProxy } from './table-proxy.js';
import type { EnvironmentService } from './environment-service.js';
import { noPackageSource, type PackageSet } from './packages.js';

/** The source and names of the function an apply call runs. */
interface ResolvedFunc {
  readonly source: string;
  readonly name: string;
  readonly func?: string;
}

/** Engine-wide defaults for apply calls. */
export interface ApplyDefaults {
  /** Default `timeoutMs` of every call (none when absent). */
  readonly timeoutMs?: number;
  /** Default database context of every call. */
  readonly context?: ContextMode;
  /** The engine's budget of result bytes in flight, shared by all its calls (absent: no budget). */
  readonly budget?: ResultBudget;
  /** The engine's environments and package index (absent: calls that ask for packages are PACKAGE_MISSING). */
  readonly environments?: EnvironmentService;
}

/** Runs apply calls for one user: the sync session methods and jobs alike. */
export class ApplyRunner {
  readonly #storage: Storage;
  readonly #runtime: Runtime;
  readonly #user: string;
  readonly #host: HostApi;
  readonly #defaults: ApplyDefaults;

  /** @internal */
  constructor(storage: Storage, runtime: Runtime, user: string, defaults: ApplyDefaults = {}) {
    this.#storage = storage;
    this.#runtime = runtime;
    this.#user = user;
    this.#host = hostApiFor(storage, user);
    this.#defaults = defaults;
  }

  /**
   * One signal for the whole call: aborted by the caller's signal (CANCELLED, or its reason when that is
   * an InsituError) or by the timeout (TIMEOUT). Everything the call starts (scans, partitions, running
   * UDFs) follows it.
   */
  #callSignal(timeout: number | undefined, outer: AbortSignal | undefined): { signal?: AbortSignal; done: () => void } {
    const timeoutMs = checkTimeout(timeout ?? this.#defaults.timeoutMs);
    if (timeoutMs === undefined && outer === undefined) return { done: () => {} };
    const ac = new AbortController();
    const cancel = () =>
      ac.abort(
        outer?.reason instanceof InsituError
          ? outer.reason
          : new InsituError(ErrorCode.CANCELLED, 'the call was cancelled by its AbortSignal', { cause: outer?.reason }),
      );
    if (outer?.aborted === true) cancel();
    outer?.addEventListener('abort', cancel, { once: true });
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => ac.abort(new InsituError(ErrorCode.TIMEOUT, `the call ran longer than its ${timeoutMs} ms timeout and was stopped`)), timeoutMs);
    return {
      signal: ac.signal,
      done: () => {
        clearTimeout(timer);
        outer?.removeEventListener('abort', cancel);
      },
    };
  }

  /**
   * Run one apply call, sync or job: the one path every apply takes. `call` is validated first
   * (BAD_INPUT naming the field); whatever fails leaves as an InsituError.
   */
  async run(value: ApplyCall, controls: CallControls = {}): Promise<ApplyResult> {
    const call = checkApplyCall(value);
    const opts = call.options ?? {};
    const handle = this.#callSignal(opts.timeoutMs, controls.signal);
    const progress = new ProgressReporter(controls.onProgress);
    try {
      // Packages are resolved, fetched and verified before anything else runs (PACKAGE_MISSING, BAD_INPUT).
      const env = await this.#environment(opts);
      const c: Ctl = { signal: handle.signal, progress, opts, env };
      switch (call.kind) {
        case 'doEval':
          return await this.#doEval(call, c);
        case 'tableApply':
          return await this.#tableApply(call, c);
        case 'rowApply':
          return await this.#rowApply(call, c);
        case 'groupApply':
          return await this.#groupApply(call, c);
        case 'indexApply':
          return await this.#indexApply(call, c);
      }
    } catch (e) {
      throw asInsituError(e, call.kind);
    } finally {
      progress.finish();
      handle.done();
    }
  }

  /** The package set a call runs with (see {@link EnvironmentService.forCall}). */
  async #environment(opts: CallOptions): Promise<PackageSet | undefined> {
    const envs = this.#defaults.environments;
    if (envs === undefined) {
      if ((opts.packages?.length ?? 0) > 0) throw noPackageSource();
      if (opts.env !== undefined && opts.env !== 'default') throw badInput(`environment ${opts.env} does not exist (this engine has only the default environment)`);
      return undefined;
    }
    return envs.forCall(opts.env, opts.packages);
  }

  /**
   * Check what a call needs before it is stored to run later: the function is visible to this user and
   * the data's query is valid and reachable (SCRIPT_NOT_FOUND, TABLE_NOT_FOUND, BAD_INPUT, PRIVILEGE).
   * Runs no Python.
   */
  async preflight(value: ApplyCall): Promise<void> {
    const call = checkApplyCall(value);
    await this.#resolve(call.func);
    await this.#environment(call.options ?? {});
    if (call.data !== undefined) await this.#proxy(call).schema();
  }

  /** The proxy a call's data plan stands for, read through this runner's storage. */
  #proxy(call: ApplyCall): TableProxy {
    return new TableProxy(this.#storage, this.#user, decodePlan(call.data, 'call.data'));
  }

  /** f(**args), once, no input data. */
  async #doEval(call: ApplyCall, c: Ctl): Promise<ApplyResult> {
    const args = checkArgs(c.opts.args);
    const resolved = await this.#resolve(call.func);
    c.progress.total(1);
    return this.#run(resolved, args, (async function* () {
      yield { key: null, input: { kind: 'none' } } satisfies Partition;
    })(), 1, { kind: 'single' }, c);
  }

  /** f(whole data, **args), once. */
  async #tableApply(call: ApplyCall, c: Ctl): Promise<ApplyResult> {
    const data = this.#proxy(call);
    const args = checkArgs(c.opts.args);
    const inputType = checkInputType(c.opts.inputType);
    const resolved = await this.#resolve(call.func);
    c.progress.total(1);
    const parts = wholePartition(this.#storage, this.#user, data.toQuery(), inputType, this.#runtime.readsQueries, c.signal);
    return this.#run(resolved, args, parts, 1, { kind: 'single' }, c);
  }

  /** f(chunk, **args) for successive chunks of `rows` rows. */
  async #rowApply(call: ApplyCall, c: Ctl): Promise<ApplyResult> {
    const data = this.#proxy(call);
    const args = checkArgs(c.opts.args);
    const inputType = checkInputType(c.opts.inputType);
    const rows = checkPositiveInt(c.opts.rows, 'rows', 1);
    const degree = degreeOf(c.opts.parallel, this.#runtime.concurrency);
    const resolved = await this.#resolve(call.func);
    const query = data.toQuery();
    await this.#storage.describe(query, this.#user);
    // The total costs a count of the rows: paid only when someone listens.
    if (c.progress.listening) c.progress.total(Math.ceil((await this.#storage.count(query, this.#user)) / rows));
    const split = this.#runtime.readsQueries ? data.asTableScan() : null;
    const parts = rowChunks(this.#storage, this.#user, query, rows, inputType, split, c.signal);
    return this.#run(resolved, args, parts, degree, { kind: 'many' }, c);
  }

  /** f(group, **args) once per distinct value combination of `by`, in ascending key order. */
  async #groupApply(call: ApplyCall, c: Ctl): Promise<ApplyResult> {
    const data = this.#proxy(call);
    const keys = call.by ?? [];
    const args = checkArgs(c.opts.args);
    const inputType = checkInputType(c.opts.inputType);
    const degree = degreeOf(c.opts.parallel, this.#runtime.concurrency);
    const resolved = await this.#resolve(call.func);
    const schema: Schema = await data.schema();
    const names = schema.fields.map((f) => f.name);
    const unknown = keys.filter((k) => !names.includes(k));
    if (unknown.length > 0) throw badInput(`grouping column ${unknown.join(', ')} is not among the data's columns (${names.join(', ')})`);
    const keySchema = schema.select([...keys]);
    const shape: AssemblyShape = { kind: 'groups', by: keys, keySchema };
    const scan = this.#runtime.readsQueries ? data.asTableScan() : null;
    const ranges = scan !== null && this.#storage.splitGroups !== undefined ? await this.#storage.splitGroups(scan, keys, degree, this.#user) : null;
    if (ranges !== null) return this.#runGroupRanges(resolved, args, ranges, keys, inputType, degree, shape, c);
    const parts = groupPartitions(this.#storage, this.#user, data.groupedQuery(keys), keys, inputType, c.signal);
    return this.#run(resolved, args, parts, degree, shape, c);
  }

  /** f(i, **args) for i = 1..times. */
  async #indexApply(call: ApplyCall, c: Ctl): Promise<ApplyResult> {
    const n = checkPositiveInt(call.times, 'times', 1);
    const args = checkArgs(c.opts.args);
    const degree = degreeOf(c.opts.parallel, this.#runtime.concurrency);
    const resolved = await this.#resolve(call.func);
    c.progress.total(n);
    return this.#run(resolved, args, indexPartitions(n), degree, { kind: 'many' }, c);
  }

  async #run(
    f: ResolvedFunc,
    args: Task['args'],
    parts: AsyncIterable<Partition>,
    degree: number,
    shape: AssemblyShape,
    c: Ctl,
  ): Promise<ApplyResult> {
    const signal = c.signal;
    const context: ContextMode = checkContext(c.opts.context ?? this.#defaults.context);
    const keys: Partition['key'][] = [];
    /** Which partitions finished (and so committed their writes). */
    const finished: boolean[] = [];
    const lease = this.#defaults.budget?.lease();
    try {
      const outcomes = await runOrdered(
        parts,
        degree,
        async (p, i) => {
          keys[i] = p.key;
          const task: Task = {
            source: f.source,
            name: f.name,
            ...(f.func === undefined ? {} : { func: f.func }),
            input: p.input,
            args,
            ...positionalOf(c.opts),
            user: this.#user,
            host: this.#host,
            context,
            ...taskExtras(c),
          };
          try {
            const outcome = await this.#runtime.run(task, signal === undefined ? {} : { signal });
            finished[i] = true;
            lease?.charge(outcomeBytes(outcome));
            c.progress.done(1, partitionRows(p));
            return outcome;
          } catch (e) {
            const error = asInsituError(e, 'a partition');
            throw p.key !== null ? error.withPartition(p.key) : error;
          }
        },
        signal,
      );
      return assemble(shape, keys, outcomes);
    } catch (e) {
      // The runtime already reports an interrupted partition with the abort's error.
      throw callFailure(e, undefined, keys.filter((_, i) => finished[i] === true));
    } finally {
      lease?.release();
    }
  }

  /** groupApply where workers read key ranges themselves and call the UDF per group. */
  async #runGroupRanges(
    f: ResolvedFunc,
    args: Task['args'],
    ranges: readonly GroupRange[],
    by: readonly string[],
    inputType: InputType,
    degree: number,
    shape: AssemblyShape,
    c: Ctl,
  ): Promise<ApplyResult> {
    const context: ContextMode = checkContext(c.opts.context ?? this.#defaults.context);
    const signal = c.signal;
    async function* items(): AsyncGenerator<GroupRange> {
      yield* ranges;
    }
    /** Per range, the groups that finished (and so committed their writes). */
    const finished: unknown[][] = [];
    const lease = this.#defaults.budget?.lease();
    try {
      const perRange = await runOrdered(
        items(),
        degree,
        async ({ query, ordered }, i) => {
          const task: Task = {
            source: f.source,
            name: f.name,
            ...(f.func === undefined ? {} : { func: f.func }),
            input: { kind: 'groups', query, by, ordered, inputType },
            args,
            ...positionalOf(c.opts),
            user: this.#user,
            host: this.#host,
            context,
            ...taskExtras(c),
          };
          let groups: GroupOutcome[];
          try {
            groups = await this.#runtime.runGroups(task, signal === undefined ? {} : { signal });
          } catch (e) {
            finished[i] = e instanceof InsituError ? (e.committedPartitions ?? []) : [];
            throw e;
          }
          finished[i] = groups.map((g) => g.key);
          lease?.charge(groupOutcomesBytes(groups));
          c.progress.done(groups.length, 0);
          return groups;
        },
        signal,
      );
      const groups = perRange.flat();
      return assemble(
        shape,
        groups.map((g) => g.key as Record<string, CellKey>),
        groups.map((g) => g.outcome),
      );
    } catch (e) {
      throw callFailure(e, signal, finished.flat());
    } finally {
      lease?.release();
    }
  }

  async #resolve(func: FuncRef): Promise<ResolvedFunc> {
    if (typeof func === 'string') {
      const s = await resolveScript(this.#storage, this.#user, func);
      return { source: s.source, name: s.name, func: s.name };
    }
    if (func !== null && typeof func === 'object') {
      if ('source' in func && typeof func.source === 'string') {
        if (func.name !== undefined) checkIdentifier(func.name, 'function');
        return func.name === undefined ? { source: func.source, name: 'inline' } : { source: func.source, name: func.name, func: func.name };
      }
      if ('name' in func && typeof func.name === 'string') {
        const owner = 'owner' in func && typeof func.owner === 'string' ? func.owner : undefined;
        const s = await resolveScript(this.#storage, this.#user, func.name, owner);
        return { source: s.source, name: s.name, func: s.name };
      }
    }
    throw badInput('func must be a stored script name, { name, owner }, or { source, name? } with inline Python source');
  }
}

/** What one running call carries through its steps. */
interface Ctl {
  readonly signal: AbortSignal | undefined;
  readonly progress: ProgressReporter;
  readonly opts: CallOptions;
  /** The packages its interpreters load (absent: a clean interpreter). */
  readonly env: PackageSet | undefined;
}

/** The task fields of a call's environment and graphics option (none when unset). */
function taskExtras(c: Ctl): Pick<Task, 'env' | 'graphics'> {
  return { ...(c.env === undefined ? {} : { env: c.env }), ...(c.opts.graphics === true ? { graphics: true } : {}) };
}

/** The task field of a call's positional arguments (none when there are none). */
function positionalOf(opts: CallOptions): Pick<Task, 'positional'> {
  return opts.positional === undefined || opts.positional.length === 0 ? {} : { positional: opts.positional };
}

/** Input rows of a partition, when known without reading it. */
function partitionRows(p: Partition): number {
  if (p.data !== undefined) return p.data.numRows;
  if (p.key !== null && typeof p.key === 'object' && 'chunk' in p.key && typeof p.key.rows === 'number') return p.key.rows;
  return 0;
}

/**
 * The error of an apply call that failed after partitions ran, listing the partitions whose writes were
 * committed; with `signal` fired, the abort's error (TIMEOUT, CANCELLED): groups a worker ran report an
 * interrupted group with whatever the interrupt raised in it.
 */
function callFailure(e: unknown, signal: AbortSignal | undefined, committed: unknown[]): InsituError {
  const error = signal?.aborted === true ? abortError(signal) : asInsituError(e, 'a partition');
  return error.withCommitted(committed);
}
