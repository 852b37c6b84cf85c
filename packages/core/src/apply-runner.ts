import { Table as ArrowTable, type Schema, type Table } from 'apache-arrow';
import { InsituError, badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';
import { checkApplyCall, type ApplyCall, type CallControls, type CallOptions } from './apply-call.js';
import { checkArgs, checkContext, checkTimeout, checkInputType, checkPositiveInt, degreeOf, type FuncRef, type OnError } from './apply-options.js';
import { decodePlan } from './data-plan.js';
import { ProgressReporter } from './progress-reporter.js';
import { resultAsNumbers, type Int64Mode } from './int64-values.js';
import { ErrorCode } from './errors.js';
import { asInsituError } from './error-boundary.js';
import type { ResultBudget } from './result-budget.js';
import { groupOutcomesBytes, outcomeBytes } from './result-size.js';
import { abortError, runOrdered } from './ordered-runner.js';
import { PartitionEmitter } from './partition-emitter.js';
import type { Partition } from './partition.js';
import { groupPartitions, indexPartitions, rowChunks, wholePartition } from './partitioner.js';
import { groupPacks } from './group-packs.js';
import { assemble, type ApplyResult, type AssemblyShape, type FailedPartition } from './result-assembly.js';
import { hostApiFor, withContextSession } from './host-api.js';
import type { ContextMode, GroupOutcome, HostApi, OrderKey, Runtime, Task, TaskInput, TaskOutcome } from './runtime.js';
import type { CellKey } from './partition-key.js';
import { resolveScript } from './script-repository.js';
import type { Storage } from './storage.js';
import { TableProxy } from './table-proxy.js';
import { checkInto, type IntoMode } from './into-target.js';
import { IntoWriter } from './into-writer.js';
import type { EnvironmentService } from './environment-service.js';
import { noPackageSource, type PackageSet } from './packages.js';
import { DistributedCall, type Distributor } from './distributed-call.js';
import { decodePartition, encodeOutcome } from './partition-wire.js';
import type { ClaimedTask } from './task-storage.js';

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
  /** How Int64 columns of results and pulled tables reach JavaScript by default. Default `'number'`. */
  readonly int64?: Int64Mode;
  /** The engine's environments and package index (absent: calls that ask for packages are PACKAGE_MISSING). */
  readonly environments?: EnvironmentService;
  /** The shared task queue and this engine's part in it (absent: `distribute: true` runs locally). */
  readonly distributor?: Distributor;
}

/** Partitions of a distributed call queued at once (the engines' free workers take them from there). */
const DISTRIBUTED_WINDOW = 64;

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
    let dist: DistributedCall | undefined;
    try {
      // Packages are resolved, fetched and verified before anything else runs (PACKAGE_MISSING, BAD_INPUT).
      const env = await this.#environment(opts, handle.signal);
      into = await this.#openInto(opts);
      const distributor = this.#defaults.distributor;
      if (opts.distribute === true && distributor !== undefined) {
        // The serving engines run the call as it is, with this engine's default context made explicit.
        const context = checkContext(opts.context ?? this.#defaults.context);
        dist = new DistributedCall(distributor, this.#user, { ...call, options: { ...opts, context } }, handle.signal);
      }
      const c: Ctl = {
        ...(dist === undefined ? {} : { dist }),
        signal: handle.signal,
        progress,
        opts,
        env,
        ...(into === undefined ? {} : { into }),
        ...(controls.onPartition === undefined ? {} : { emitter: new PartitionEmitter(controls.onPartition) }),
      };
      const result = await this.#dispatch(call, c);
      return (opts.int64 ?? this.#defaults.int64 ?? 'number') === 'number' ? resultAsNumbers(result) : result;
    } catch (e) {
      await into?.writer.abandon();
      throw asInsituError(e, call.kind);
    } finally {
      await dist?.close();
      progress.finish();
      handle.done();
    }
  }

  /**
   * Run one partition of another engine's (or this engine's) distributed call, claimed from the shared
   * queue, as this runner's user, and return its outcome's bytes. Nothing in the task row is trusted: the
   * call is validated again, the function resolved with this user's visibility, the data checked against
   * this user's privileges, and the UDF runs in this engine's own workers as this user.
   */
  async runTask(task: ClaimedTask, signal: AbortSignal): Promise<Uint8Array> {
    const p = decodePartition(task.spec, task.data);
    const call = checkApplyCall(p.call);
    const opts = call.options ?? {};
    if (opts.distribute !== true) throw badInput('a distributed task must carry a call with distribute: true');
    const env = await this.#environment(opts, signal);
    const f = await this.#resolve(call.func);
    const args = checkArgs(opts.args);
    const context = checkContext(opts.context ?? this.#defaults.context);
    let input = p.input;
    if (input.kind === 'query') {
      // The user must be able to read whatever the query reads (TABLE_NOT_FOUND otherwise), and whatever
      // each of its per-column statements reads: the workers may run those instead.
      const schema = await this.#storage.describe(input.query, this.#user);
      for (const sql of input.query.byColumn ?? []) await this.#storage.describe({ sql, params: input.query.params }, this.#user);
      if (!this.#runtime.readsQueries) {
        const batches = [];
        for await (const t of this.#storage.scan(input.query, { batchRows: SCAN_ROWS, user: this.#user, signal })) batches.push(...t.batches);
        const data = batches.length === 0 ? new ArrowTable(schema) : new ArrowTable(batches);
        input = { kind: 'data', data, inputType: input.inputType };
      }
    } else if (input.kind === 'data' && call.data !== undefined) {
      // Rows the caller read: the user must still be able to read the call's data.
      await (await this.#proxy(call)).schema();
    }
    const session = this.#storage.openContextSession?.(this.#user, context);
    const t: Task = {
      source: f.source,
      name: f.name,
      ...(f.func === undefined ? {} : { func: f.func }),
      input,
      args,
      ...positionalOf(opts),
      user: this.#user,
      host: session === undefined ? this.#host : withContextSession(this.#host, session),
      context,
      ...(p.orderWithin.length === 0 ? {} : { orderWithin: p.orderWithin }),
      ...(env === undefined ? {} : { env }),
      ...(opts.graphics === true ? { graphics: true } : {}),
    };
    try {
      return encodeOutcome(p.key, await this.#runtime.run(t, { signal }));
    } finally {
      await session?.release();
    }
  }

  #dispatch(call: ApplyCall, c: Ctl): Promise<ApplyResult> {
    switch (call.kind) {
      case 'doEval':
        return this.#doEval(call, c);
      case 'tableApply':
        return this.#tableApply(call, c);
      case 'rowApply':
        return this.#rowApply(call, c);
      case 'groupApply':
        return this.#groupApply(call, c);
      case 'indexApply':
        return this.#indexApply(call, c);
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

  /** The package set a call runs with (see {@link EnvironmentService.forCall}). */
  async #environment(opts: CallOptions, signal?: AbortSignal): Promise<PackageSet | undefined> {
    const envs = this.#defaults.environments;
    if (envs === undefined) {
      if ((opts.packages?.length ?? 0) > 0) throw noPackageSource();
      if (opts.env !== undefined && opts.env !== 'default') throw badInput(`environment ${opts.env} does not exist (this engine has only the default environment)`);
      return undefined;
    }
    try {
      return await envs.forCall(opts.env, opts.packages, signal);
    } catch (e) {
      if (signal?.aborted === true) throw abortError(signal);
      throw e;
    }
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
    if (call.data !== undefined) {
      const schema = await (await this.#proxy(call)).schema();
      orderWithin(call.options?.orderBy, schema);
    }
    await (await this.#openInto(call.options ?? {}))?.writer.abandon();
  }

  /**
   * The proxy a call's data plan stands for, read through this runner's storage; with `naOmit`, without
   * the rows that hold a NULL in any of its columns (a filter on the proxy, so a plain table scan stays
   * one the workers can read themselves; a limited proxy is filtered after its limit).
   */
  async #proxy(call: ApplyCall): Promise<TableProxy> {
    const proxy = new TableProxy(this.#storage, this.#user, decodePlan(call.data, 'call.data'));
    if (call.options?.naOmit !== true) return proxy;
    const columns = await proxy.columns();
    if (columns.length === 0) return proxy;
    return proxy.withoutNulls(columns);
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
    const data = await this.#proxy(call);
    const args = checkArgs(c.opts.args);
    const inputType = checkInputType(c.opts.inputType);
    const resolved = await this.#resolve(call.func);
    c.progress.total(1);
    const parts = wholePartition(this.#storage, this.#user, data.toQuery(), inputType, this.#runtime.readsQueries, c.signal);
    return this.#run(resolved, args, parts, 1, { kind: 'single' }, c);
  }

  /** f(chunk, **args) for successive chunks of `rows` rows. */
  async #rowApply(call: ApplyCall, c: Ctl): Promise<ApplyResult> {
    const data = await this.#proxy(call);
    const args = checkArgs(c.opts.args);
    const inputType = checkInputType(c.opts.inputType);
    const rows = checkPositiveInt(c.opts.rows, 'rows', 1);
    const degree = c.dist !== undefined ? DISTRIBUTED_WINDOW : degreeOf(c.opts.parallel, this.#runtime.concurrency);
    const resolved = await this.#resolve(call.func);
    const query = data.toQuery();
    // The data's schema is asked for only to check orderBy's columns: no extra statement without it.
    const order = c.opts.orderBy === undefined ? [] : orderWithin(c.opts.orderBy, await this.#storage.describe(query, this.#user));
    // The total costs a count of the rows: paid only when someone listens.
    if (c.progress.listening) c.progress.total(Math.ceil((await this.#storage.count(query, this.#user)) / rows));
    // A distributed call's chunks are queries too: each serving engine reads its own from the database.
    const split = this.#runtime.readsQueries || c.dist !== undefined ? data.asTableScan() : null;
    const parts = rowChunks(this.#storage, this.#user, query, rows, inputType, split, c.signal);
    return this.#run(resolved, args, parts, degree, { kind: 'many' }, c, order);
  }

  /** f(group, **args) once per distinct value combination of `by`, in ascending key order. */
  async #groupApply(call: ApplyCall, c: Ctl): Promise<ApplyResult> {
    const data = await this.#proxy(call);
    const keys = call.by ?? [];
    const args = checkArgs(c.opts.args);
    const inputType = checkInputType(c.opts.inputType);
    const degree = degreeOf(c.opts.parallel, this.#runtime.concurrency);
    const resolved = await this.#resolve(call.func);
    const schema: Schema = await data.schema();
    const names = schema.fields.map((f) => f.name);
    const unknown = keys.filter((k) => !names.includes(k));
    if (unknown.length > 0) throw badInput(`grouping column ${unknown.join(', ')} is not among the data's columns (${names.join(', ')})`);
    const order = orderWithin(c.opts.orderBy, schema);
    const keySchema = schema.select([...keys]);
    const groupDegree = c.dist !== undefined ? DISTRIBUTED_WINDOW : degree;
    const shape: AssemblyShape = { kind: 'groups', by: keys, keySchema };
    // A worker runs a range's groups as one batch that commits together: with onError a failed group
    // must not take its neighbours down, so each group is then a partition of its own, read here.
    // Distributed, each group is a task of its own (read here).
    const scan = this.#runtime.readsQueries && c.opts.onError === undefined && c.dist === undefined ? data.asTableScan() : null;
    const ranges = scan !== null && this.#storage.splitGroups !== undefined ? await this.#storage.splitGroups(scan, keys, degree, this.#user) : null;
    if (ranges !== null) {
      const tasks = (async function* (): AsyncGenerator<GroupTask> {
        for (const { query, ordered } of ranges) yield { input: { kind: 'groups', query, by: keys, ordered, inputType }, rows: 0 };
      })();
      return this.#runGroupTasks(resolved, args, tasks, degree, shape, c, order);
    }
    const parts = groupPartitions(this.#storage, this.#user, data.groupedQuery(keys), keys, inputType, c.signal);
    // Groups read here go to the workers packed, many small groups per task, with the same batch rules as
    // worker-read groups — except where each group must be a partition of its own: with onError (a failed
    // group must not take its neighbours down), distributed (each group is a queued task), and with
    // onPartition (each group is handed over as it finishes).
    if (c.opts.onError === undefined && c.dist === undefined && c.emitter === undefined) {
      const tasks = (async function* (): AsyncGenerator<GroupTask> {
        for await (const p of groupPacks(parts)) yield { input: { kind: 'groupData', data: p.data, by: keys, inputType }, rows: p.data.numRows };
      })();
      return this.#runGroupTasks(resolved, args, tasks, degree, shape, c, order);
    }
    return this.#run(resolved, args, parts, groupDegree, shape, c, order);
  }

  /** f(i, **args) for i = 1..times. */
  async #indexApply(call: ApplyCall, c: Ctl): Promise<ApplyResult> {
    const n = checkPositiveInt(call.times, 'times', 1);
    const args = checkArgs(c.opts.args);
    const degree = c.dist !== undefined ? DISTRIBUTED_WINDOW : degreeOf(c.opts.parallel, this.#runtime.concurrency);
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
    order: readonly OrderKey[] = [],
  ): Promise<ApplyResult> {
    const signal = c.signal;
    const context: ContextMode = checkContext(c.opts.context ?? this.#defaults.context);
    const onError: OnError = c.opts.onError ?? 'fail';
    const keys: Partition['key'][] = [];
    const failed: FailedPartition[] = [];
    /** Which partitions finished (and so committed their writes). */
    const finished: boolean[] = [];
    const lease = this.#defaults.budget?.lease();
    try {
      const outcomes = await runOrdered(
        parts,
        degree,
        async (p, i) => {
          keys[i] = p.key;
          // A distributed partition's context is opened by the engine that runs it.
          const session = c.dist === undefined ? this.#storage.openContextSession?.(this.#user, context) : undefined;
          const task: Task = {
            source: f.source,
            name: f.name,
            ...(f.func === undefined ? {} : { func: f.func }),
            input: p.input,
            args,
            ...positionalOf(c.opts),
            user: this.#user,
            host: session === undefined ? this.#host : withContextSession(this.#host, session),
            context,
            ...(order.length === 0 ? {} : { orderWithin: order }),
            ...taskExtras(c),
          };
          let outcome: TaskOutcome;
          try {
            if (c.dist !== undefined) outcome = await c.dist.run(i, p.key, p.input, order);
            else {
              try {
                outcome = await this.#runtime.run(task, signal === undefined ? {} : { signal });
              } finally {
                // Whatever the task's worker left open (it died, or the call was stopped) is rolled back.
                await session?.release();
              }
            }
            if (c.into !== undefined) outcome = await this.#putInto(c, shape, i, p.key, outcome);
          } catch (e) {
            const raw = asInsituError(e, 'a partition');
            const error = p.key !== null ? raw.withPartition(p.key) : raw;
            if (onError === 'fail' || signal?.aborted === true || !PARTITION_FAILURES.has(error.code)) {
              c.into?.writer.fail(error);
              c.emitter?.fail(error);
              throw error;
            }
            failed.push({ key: p.key, error });
            // A failed partition writes nothing into the target, and the partitions after it go on.
            if (c.into !== undefined) await c.into.writer.put(i, null);
            await c.emitter?.put(i, null);
            c.progress.done(1, partitionRows(p));
            return null;
          }
          finished[i] = true;
          lease?.charge(outcomeBytes(outcome));
          c.progress.done(1, partitionRows(p));
          if (c.emitter === undefined) return outcome;
          // Handed over in order (waiting for the partitions before it); the call keeps the rest.
          const one = assemble({ kind: 'many' }, [p.key], [outcome]);
          await c.emitter.put(i, ((c.opts.int64 ?? this.#defaults.int64 ?? 'number') === 'number' ? resultAsNumbers(one) : one).partitions[0]!);
          return { ...outcome, value: { kind: 'json', value: null } } satisfies TaskOutcome;
        },
        signal,
      );
      const result =
        onError === 'fail' ? assemble(shape, keys, outcomes as TaskOutcome[]) : assemble(shape, keys, outcomes, { mode: onError, failed: sortFailed(failed, keys) });
      return c.into === undefined ? result : await this.#finishInto(c, outcomes.length, result);
    } catch (e) {
      // The runtime already reports an interrupted partition with the abort's error.
      throw callFailure(e, undefined, keys.filter((_, i) => finished[i] === true));
    } finally {
      lease?.release();
    }
  }

  /**
   * groupApply where each task is many groups the worker calls the UDF on one by one: a key range the
   * worker reads itself, or a pack of groups read here.
   */
  async #runGroupTasks(
    f: ResolvedFunc,
    args: Task['args'],
    items: AsyncIterable<GroupTask>,
    degree: number,
    shape: AssemblyShape,
    c: Ctl,
    order: readonly OrderKey[],
  ): Promise<ApplyResult> {
    const context: ContextMode = checkContext(c.opts.context ?? this.#defaults.context);
    const signal = c.signal;
    /** Per task, the groups that finished (and so committed their writes). */
    const finished: unknown[][] = [];
    const lease = this.#defaults.budget?.lease();
    try {
      const perTask = await runOrdered(
        items,
        degree,
        async ({ input, rows }, i) => {
          const session = this.#storage.openContextSession?.(this.#user, context);
          const task: Task = {
            source: f.source,
            name: f.name,
            ...(f.func === undefined ? {} : { func: f.func }),
            input,
            args,
            ...positionalOf(c.opts),
            user: this.#user,
            host: session === undefined ? this.#host : withContextSession(this.#host, session),
            context,
            ...(order.length === 0 ? {} : { orderWithin: order }),
            ...taskExtras(c),
          };
          let groups: GroupOutcome[];
          try {
            groups = await this.#runtime.runGroups(task, signal === undefined ? {} : { signal });
          } catch (e) {
            finished[i] = e instanceof InsituError ? (e.committedPartitions ?? []) : [];
            c.into?.writer.fail(e);
            throw e;
          } finally {
            await session?.release();
          }
          finished[i] = groups.map((g) => g.key);
          if (c.into !== undefined) groups = await this.#putGroupsInto(c, shape, i, groups);
          lease?.charge(groupOutcomesBytes(groups));
          c.progress.done(groups.length, rows);
          return groups;
        },
        signal,
      );
      const groups = perTask.flat();
      const result = assemble(
        shape,
        groups.map((g) => g.key as Record<string, CellKey>),
        groups.map((g) => g.outcome),
      );
      return c.into === undefined ? result : await this.#finishInto(c, perTask.length, result);
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

/** One task of many groups: its input (`groups` or `groupData`) and the rows it holds, when known (else 0). */
interface GroupTask {
  readonly input: TaskInput;
  readonly rows: number;
}

/** What one running call carries through its steps. */
interface Ctl {
  readonly signal: AbortSignal | undefined;
  readonly progress: ProgressReporter;
  readonly opts: CallOptions;
  /** The packages its interpreters load (absent: a clean interpreter). */
  readonly env: PackageSet | undefined;
  readonly into?: Into;
  /** Where finished partitions go at once, in order (the call's `onPartition`). */
  readonly emitter?: PartitionEmitter;
  /** A distributed call's queue (its partitions run wherever an engine takes them). */
  readonly dist?: DistributedCall;
}

/** Rows per batch when a serving engine reads a distributed partition itself. */
const SCAN_ROWS = 65536;

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

/**
 * The errors that fail one partition rather than the call, which `onError: 'skip' | 'null'` lists
 * instead of failing: what the UDF raised or returned, or did to its own worker. A script that does not
 * compile (BAD_INPUT), a missing package, cancellation and timeouts fail the call whatever `onError` says.
 */
const PARTITION_FAILURES: ReadonlySet<string> = new Set([
  ErrorCode.PYTHON_ERROR,
  ErrorCode.BAD_RESULT,
  ErrorCode.RESULT_TOO_LARGE,
  ErrorCode.RUNTIME_ERROR,
  ErrorCode.PRIVILEGE,
  ErrorCode.TABLE_NOT_FOUND,
  ErrorCode.DATASTORE_NOT_FOUND,
  ErrorCode.ALREADY_EXISTS,
  ErrorCode.STORAGE_ERROR,
]);

/** The failed partitions in partition order (they are recorded in the order they failed). */
function sortFailed(failed: FailedPartition[], keys: readonly unknown[]): FailedPartition[] {
  return failed.sort((a, b) => keys.indexOf(a.key) - keys.indexOf(b.key));
}

/**
 * The sort keys of `orderBy` (`COL`, `-COL`) checked against the data's columns: an unknown column is
 * BAD_INPUT naming it and the columns there are.
 */
function orderWithin(terms: readonly string[] | undefined, schema: Schema): OrderKey[] {
  if (terms === undefined) return [];
  const names = schema.fields.map((f) => f.name);
  return terms.map((t) => {
    const descending = t.startsWith('-');
    const column = descending ? t.slice(1) : t;
    if (!names.includes(column)) throw badInput(`orderBy column ${JSON.stringify(column)} is not among the data's columns (${names.join(', ')})`);
    return { column, descending };
  });
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
