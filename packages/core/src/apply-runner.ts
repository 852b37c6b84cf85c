import type { Schema } from 'apache-arrow';
import { InsituError, badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';
import {
  checkArgs,
  checkContext,
  checkTimeout,
  checkInputType,
  checkPositiveInt,
  degreeOf,
  type DataApplyOptions,
  type FuncRef,
  type GroupApplyOptions,
  type IndexApplyOptions,
  type ApplyOptions,
  type RowApplyOptions,
} from './apply-options.js';
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
}

/** Runs the five apply functions for one user. Used by `Session`. */
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
   * One signal for the whole call: aborted by the caller's signal (CANCELLED) or by the timeout (TIMEOUT).
   * Everything the call starts (scans, partitions, running UDFs) follows it.
   */
  #callSignal(opts: ApplyOptions): { signal?: AbortSignal; done: () => void } {
    const timeoutMs = checkTimeout(opts.timeoutMs ?? this.#defaults.timeoutMs);
    const outer = opts.signal;
    if (timeoutMs === undefined && outer === undefined) return { done: () => {} };
    const ac = new AbortController();
    const cancel = () => ac.abort(new InsituError(ErrorCode.CANCELLED, 'the call was cancelled by its AbortSignal', { cause: outer?.reason }));
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

  /** f(**args), once, no input data. */
  doEval(func: FuncRef, opts: ApplyOptions = {}): Promise<ApplyResult> {
    return this.#guarded('doEval', opts, (o) => this.#doEval(func, o));
  }

  /** f(whole data, **args), once. */
  tableApply(data: TableProxy, func: FuncRef, opts: DataApplyOptions = {}): Promise<ApplyResult> {
    return this.#guarded('tableApply', opts, (o) => this.#tableApply(data, func, o));
  }

  /** f(chunk, **args) for successive chunks of `rows` rows. */
  rowApply(data: TableProxy, func: FuncRef, opts: RowApplyOptions = {}): Promise<ApplyResult> {
    return this.#guarded('rowApply', opts, (o) => this.#rowApply(data, func, o));
  }

  /** f(group, **args) once per distinct value combination of `by`, in ascending key order. */
  groupApply(data: TableProxy, by: readonly string[] | string, func: FuncRef, opts: GroupApplyOptions = {}): Promise<ApplyResult> {
    return this.#guarded('groupApply', opts, (o) => this.#groupApply(data, by, func, o));
  }

  /** f(i, **args) for i = 1..times. */
  indexApply(times: number, func: FuncRef, opts: IndexApplyOptions = {}): Promise<ApplyResult> {
    return this.#guarded('indexApply', opts, (o) => this.#indexApply(times, func, o));
  }

  /** Run one apply call under its signal; whatever fails leaves as an InsituError. */
  async #guarded<O extends ApplyOptions>(what: string, opts: O, body: (o: O) => Promise<ApplyResult>): Promise<ApplyResult> {
    const call = this.#callSignal(opts ?? ({} as O));
    try {
      return await body(call.signal === undefined ? opts : { ...opts, signal: call.signal });
    } catch (e) {
      throw asInsituError(e, what);
    } finally {
      call.done();
    }
  }

  /** f(**args), once, no input data. */
  async #doEval(func: FuncRef, opts: ApplyOptions = {}): Promise<ApplyResult> {
    const args = checkArgs(opts.args);
    const resolved = await this.#resolve(func);
    return this.#run(resolved, args, (async function* () {
      yield { key: null, input: { kind: 'none' } } satisfies Partition;
    })(), 1, { kind: 'single' }, opts);
  }

  /** f(whole data, **args), once. */
  async #tableApply(data: TableProxy, func: FuncRef, opts: DataApplyOptions = {}): Promise<ApplyResult> {
    checkProxy(data);
    const args = checkArgs(opts.args);
    const inputType = checkInputType(opts.inputType);
    const resolved = await this.#resolve(func);
    const parts = wholePartition(this.#storage, this.#user, data.toQuery(), inputType, this.#runtime.readsQueries, opts.signal);
    return this.#run(resolved, args, parts, 1, { kind: 'single' }, opts);
  }

  /** f(chunk, **args) for successive chunks of `rows` rows. */
  async #rowApply(data: TableProxy, func: FuncRef, opts: RowApplyOptions = {}): Promise<ApplyResult> {
    checkProxy(data);
    const args = checkArgs(opts.args);
    const inputType = checkInputType(opts.inputType);
    const rows = checkPositiveInt(opts.rows, 'rows', 1);
    const degree = degreeOf(opts.parallel, this.#runtime.concurrency);
    const resolved = await this.#resolve(func);
    const query = data.toQuery();
    await this.#storage.describe(query, this.#user);
    const split = this.#runtime.readsQueries ? data.asTableScan() : null;
    const parts = rowChunks(this.#storage, this.#user, query, rows, inputType, split, opts.signal);
    return this.#run(resolved, args, parts, degree, { kind: 'many' }, opts);
  }

  /** f(group, **args) once per distinct value combination of `by`, in ascending key order. */
  async #groupApply(data: TableProxy, by: readonly string[] | string, func: FuncRef, opts: GroupApplyOptions = {}): Promise<ApplyResult> {
    checkProxy(data);
    const keys = typeof by === 'string' ? [by] : by;
    if (!Array.isArray(keys) || keys.length === 0) throw badInput('groupApply needs at least one grouping column');
    for (const k of keys) checkIdentifier(k, 'grouping column', { reservedPrefixes: false });
    const args = checkArgs(opts.args);
    const inputType = checkInputType(opts.inputType);
    const degree = degreeOf(opts.parallel, this.#runtime.concurrency);
    const resolved = await this.#resolve(func);
    const schema: Schema = await data.schema();
    const names = schema.fields.map((f) => f.name);
    const unknown = keys.filter((k) => !names.includes(k));
    if (unknown.length > 0) throw badInput(`grouping column ${unknown.join(', ')} is not among the data's columns (${names.join(', ')})`);
    const keySchema = schema.select(keys);
    const shape: AssemblyShape = { kind: 'groups', by: keys, keySchema };
    const scan = this.#runtime.readsQueries ? data.asTableScan() : null;
    const ranges = scan !== null && this.#storage.splitGroups !== undefined ? await this.#storage.splitGroups(scan, keys, degree, this.#user) : null;
    if (ranges !== null) return this.#runGroupRanges(resolved, args, ranges, keys, inputType, degree, shape, opts);
    const parts = groupPartitions(this.#storage, this.#user, data.groupedQuery(keys), keys, inputType, opts.signal);
    return this.#run(resolved, args, parts, degree, shape, opts);
  }

  /** f(i, **args) for i = 1..times. */
  async #indexApply(times: number, func: FuncRef, opts: IndexApplyOptions = {}): Promise<ApplyResult> {
    const n = checkPositiveInt(times, 'times', 1);
    const args = checkArgs(opts.args);
    const degree = degreeOf(opts.parallel, this.#runtime.concurrency);
    const resolved = await this.#resolve(func);
    return this.#run(resolved, args, indexPartitions(n), degree, { kind: 'many' }, opts);
  }

  async #run(
    f: ResolvedFunc,
    args: Task['args'],
    parts: AsyncIterable<Partition>,
    degree: number,
    shape: AssemblyShape,
    opts: ApplyOptions,
  ): Promise<ApplyResult> {
    const signal = opts.signal;
    const context: ContextMode = checkContext(opts.context ?? this.#defaults.context);
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
            user: this.#user,
            host: this.#host,
            context,
          };
          try {
            const outcome = await this.#runtime.run(task, signal === undefined ? {} : { signal });
            finished[i] = true;
            lease?.charge(outcomeBytes(outcome));
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
    opts: ApplyOptions,
  ): Promise<ApplyResult> {
    const context: ContextMode = checkContext(opts.context ?? this.#defaults.context);
    const signal = opts.signal;
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
            user: this.#user,
            host: this.#host,
            context,
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

/**
 * The error of an apply call that failed after partitions ran, listing the partitions whose writes were
 * committed; with `signal` fired, the abort's error (TIMEOUT, CANCELLED): groups a worker ran report an
 * interrupted group with whatever the interrupt raised in it.
 */
function callFailure(e: unknown, signal: AbortSignal | undefined, committed: unknown[]): InsituError {
  const error = signal?.aborted === true ? abortError(signal) : asInsituError(e, 'a partition');
  return error.withCommitted(committed);
}

function checkProxy(data: unknown): asserts data is TableProxy {
  if (!(data instanceof TableProxy)) throw badInput('data must be a table proxy from session.table(), session.query() or session.create()');
}
