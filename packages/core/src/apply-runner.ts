import type { Schema, Table } from 'apache-arrow';
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
import type { ContextMode, GroupOutcome, HostApi, InputType, Runtime, Task, TaskOutcome } from './runtime.js';
import type { CellKey } from './partition-key.js';
import type { GroupRange } from './storage.js';
import { resolveScript } from './script-repository.js';
import type { Storage } from './storage.js';
import { TableProxy } from './table-proxy.js';
import { checkInto, type IntoMode } from './into-target.js';
import { IntoWriter } from './into-writer.js';

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
    let into: Into | undefined;
    try {
      into = await this.#openInto(opts);
      const c: Ctl = { signal: handle.signal, progress, opts, ...(into === undefined ? {} : { into }) };
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
      await into?.writer.abandon();
      throw asInsituError(e, call.kind);
    } finally {
      progress.finish();
      handle.done();
    }
  }

  /** The writer of a call's `into` (privileges checked now), or undefined without one. */
  async #openInto(opts: CallOptions): Promise<Into | undefined> {
    if (opts.into === undefined) return undefined;
    const target = checkInto(opts.into, 'into');
    if (this.#storage.openTableSink === undefined) throw badInput('this storage cannot write results into tables (into)');
    return { table: target.table, mode: target.mode, writer: new IntoWriter(await this.#storage.openTableSink(target, this.#user)) };
  }

  /** With `into`: write partition `i`'s table (key columns included), and the outcome that stands for it. */
  async #putInto(c: Ctl, shape: AssemblyShape, i: number, key: Partition['key'], outcome: TaskOutcome): Promise<TaskOutcome> {
    const into = c.into!;
    const table = intoTable(shape, key, outcome);
    await into.writer.put(i, table);
    return { ...outcome, value: { kind: 'json', value: { rows: table.numRows } } };
  }

  /** With `into`: commit after `count` partitions and the result that names the table. */
  async #finishInto(c: Ctl, count: number, result: ApplyResult): Promise<ApplyResult> {
    const into = c.into!;
    const rows = await into.writer.commit(count, c.signal);
    return { ...result, value: new TableProxy(this.#storage, this.#user, { kind: 'table', name: into.table }), into: { table: into.table, mode: into.mode, rows } };
  }

  /**
   * Check what a call needs before it is stored to run later: the function is visible to this user and
   * the data's query is valid and reachable (SCRIPT_NOT_FOUND, TABLE_NOT_FOUND, BAD_INPUT, PRIVILEGE).
   * Runs no Python.
   */
  async preflight(value: ApplyCall): Promise<void> {
    const call = checkApplyCall(value);
    await this.#resolve(call.func);
    if (call.data !== undefined) await this.#proxy(call).schema();
    await (await this.#openInto(call.options ?? {}))?.writer.abandon();
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
          };
          try {
            let outcome = await this.#runtime.run(task, signal === undefined ? {} : { signal });
            finished[i] = true;
            if (c.into !== undefined) outcome = await this.#putInto(c, shape, i, p.key, outcome);
            lease?.charge(outcomeBytes(outcome));
            c.progress.done(1, partitionRows(p));
            return outcome;
          } catch (e) {
            const error = asInsituError(e, 'a partition');
            c.into?.writer.fail(error);
            throw p.key !== null ? error.withPartition(p.key) : error;
          }
        },
        signal,
      );
      const result = assemble(shape, keys, outcomes);
      return c.into === undefined ? result : await this.#finishInto(c, outcomes.length, result);
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
          };
          let groups: GroupOutcome[];
          try {
            groups = await this.#runtime.runGroups(task, signal === undefined ? {} : { signal });
          } catch (e) {
            finished[i] = e instanceof InsituError ? (e.committedPartitions ?? []) : [];
            c.into?.writer.fail(e);
            throw e;
          }
          finished[i] = groups.map((g) => g.key);
          if (c.into !== undefined) groups = await this.#putGroupsInto(c, shape, i, groups);
          lease?.charge(groupOutcomesBytes(groups));
          c.progress.done(groups.length, 0);
          return groups;
        },
        signal,
      );
      const groups = perRange.flat();
      const result = assemble(
        shape,
        groups.map((g) => g.key as Record<string, CellKey>),
        groups.map((g) => g.outcome),
      );
      return c.into === undefined ? result : await this.#finishInto(c, perRange.length, result);
    } catch (e) {
      throw callFailure(e, signal, finished.flat());
    } finally {
      lease?.release();
    }
  }

  /** With `into`: write one key range's groups as one table; the outcomes that stand for them. */
  async #putGroupsInto(c: Ctl, shape: AssemblyShape, i: number, groups: GroupOutcome[]): Promise<GroupOutcome[]> {
    const outcomes = groups.map((g) => g.outcome);
    outcomes.forEach((o) => intoTable(shape, null, o));
    const table = groups.length === 0 ? null : (assemble(shape, groups.map((g) => g.key as Record<string, CellKey>), outcomes).value as Table);
    try {
      await c.into!.writer.put(i, table);
    } catch (e) {
      c.into!.writer.fail(e);
      throw e;
    }
    return groups.map((g) => ({
      key: g.key,
      outcome: { ...g.outcome, value: { kind: 'json', value: { rows: (g.outcome.value as { table: Table }).table.numRows } } },
    }));
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
  readonly into?: Into;
}

/** A call's `into`: its target and writer. */
interface Into {
  readonly table: string;
  readonly mode: IntoMode;
  readonly writer: IntoWriter;
}

/**
 * The table a partition's outcome writes with `into` (groupApply: with its key columns first, as the
 * call's value would have them); BAD_RESULT for a partition that returned anything but a table.
 */
function intoTable(shape: AssemblyShape, key: Partition['key'], outcome: TaskOutcome): Table {
  if (outcome.value.kind !== 'table') {
    throw new InsituError(
      ErrorCode.BAD_RESULT,
      `into needs every partition to return a table (a DataFrame, Frame, dict of lists or list of dicts); one returned ${outcome.value.kind === 'bytes' ? 'bytes' : 'a JSON value'}`,
    );
  }
  if (shape.kind !== 'groups' || key === null) return outcome.value.table;
  return assemble(shape, [key], [outcome]).value as Table;
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
