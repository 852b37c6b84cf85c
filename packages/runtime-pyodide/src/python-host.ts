import {
  ErrorCode,
  InsituError,
  keyOf,
  resultTooLarge,
  sameKey,
  tableFromStored,
  type CellKey,
  type ContextMode,
  type SerializedError,
  type SqlParam,
} from '@insitu/core';
import { Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { join } from 'node:path';
import type { PyodideInterface } from 'pyodide';
import { fromPyColumns, resultFootprint, toWireColumns, type PyColumn, type WireColumn } from './arrow-columns.js';
import { bootPyodide, installTree, SITE_DIR } from './pyodide-boot.js';
import { PACKAGE_FILES } from './runtime-files.js';
import { GroupKeys } from './group-keys.js';
import { installArchives } from './package-install.js';
import { wireImages, withImages } from './wire-images.js';
import { HostChannel, type HostReply } from './host-channel.js';
import type { ContextConnection } from './context-connection.js';
import { EngineContextConnection } from './engine-context.js';
import { answerHostRequest } from './host-dispatch.js';
import { badAnswer, functionNames, outputText, pythonError } from './python-answers.js';
import { interruptibleWait } from './interrupt-wait.js';
import { DEFAULT_MAX_MEMORY_MB } from './memory-limits.js';
import { checkWorkerLimits, taskResultTooLarge } from './worker-limits.js';
import type {
  GroupResult,
  GroupsResponse,
  InspectRequest,
  InspectResponse,
  RunRequest,
  RunResponse,
  StackedRows,
  ThreadInfo,
  WireImage,
  WireValue,
  WorkerConfig,
} from './protocol.js';

interface PyProxyLike {
  toJs(opts: { dict_converter: typeof Object.fromEntries; create_pyproxies: boolean }): unknown;
  destroy(): void;
}
type PyCallable = (...args: unknown[]) => PyProxyLike;

type OpenContext = (
  path: string,
  opts: { busyTimeoutMs: number; user: string; waitForLock: (ms: number) => void } & Readonly<Record<string, string | number | ((ms: number) => void)>>,
) => ContextConnection;

type Answer = { ok: true; [k: string]: unknown } | { ok: false; error: SerializedError };

/** What the Python runner returns for one call (or one group). */
type PyResult =
  | ({ ok: true; stdout: string; stderr: string; rows?: [number, number]; images?: unknown } & (
      | { kind: 'table'; columns: PyColumn[] }
      | { kind: 'json'; json: string; blobs?: Uint8Array[] }
      | { kind: 'bytes'; value: Uint8Array }
    ))
  | { ok: false; error: SerializedError };

/** Rows of groups handed to Python in one call (a batch ends at the group that reaches it). */
const GROUP_BATCH_ROWS = 65536;

/**
 * The wire form of a successful Python result that is not stacked. Python checked its size already
 * (before copying it out); this checks again what actually crosses, the Arrow IPC bytes of a table
 * included. Throws RESULT_TOO_LARGE past `maxResultBytes`.
 */
function wireValueOf(r: PyResult & { ok: true }, maxResultBytes: number): WireValue {
  let value: WireValue;
  let bytes: number;
  if (r.kind === 'table') {
    const table = fromPyColumns(r.columns);
    value = { kind: 'table', ipc: tableToIPC(table, 'stream') };
    bytes = resultFootprint(table, value.ipc.byteLength);
  } else if (r.kind === 'json') {
    if (typeof r.json !== 'string') throw badAnswer('JSON result');
    const blobs = r.blobs;
    if (blobs !== undefined && (!Array.isArray(blobs) || !blobs.every((b) => b instanceof Uint8Array))) throw badAnswer('JSON result bytes');
    value = blobs === undefined || blobs.length === 0 ? { kind: 'json', json: r.json } : { kind: 'json', json: r.json, blobs };
    bytes = r.json.length + (blobs ?? []).reduce((n, b) => n + b.byteLength, 0);
  } else if (r.kind === 'bytes') {
    if (!(r.value instanceof Uint8Array)) throw badAnswer('bytes result');
    value = { kind: 'bytes', value: r.value };
    bytes = r.value.byteLength;
  } else {
    throw badAnswer('result');
  }
  if (bytes > maxResultBytes) {
    const what = r.kind === 'table' ? 'a table whose Arrow IPC encoding takes' : r.kind === 'json' ? 'JSON text of' : 'bytes of length';
    throw resultTooLarge(what, bytes, maxResultBytes);
  }
  return value;
}

/** A group's rows of a stacked table, as Python reported them: whole numbers, in a table that exists. */
function stackedRows(rows: unknown, part: number): StackedRows {
  const [offset, length] = Array.isArray(rows) ? (rows as unknown[]) : [];
  if (part < 0 || !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || (offset as number) < 0 || (length as number) < 0) {
    throw badAnswer('group row range');
  }
  return { kind: 'rows', part, offset: offset as number, length: length as number };
}

/** Bytes of a group's result in a task's reply (its value unless stacked, and its output). */
function groupBytes(g: GroupResult): number {
  if (!g.ok) return 0;
  const v = g.value;
  const value = v.kind === 'table' ? v.ipc.byteLength : v.kind === 'bytes' ? v.value.byteLength : v.kind === 'json' ? v.json.length + (v.blobs ?? []).reduce((n, b) => n + b.byteLength, 0) : 0;
  return value + g.stdout.length + g.stderr.length;
}

function failure(e: unknown): Answer {
  if (e instanceof InsituError) return { ok: false, error: e.toJSON() };
  return { ok: false, error: { code: ErrorCode.RUNTIME_ERROR, message: e instanceof Error ? e.message : String(e) } };
}

/** The answer to a host-channel call with arguments of the wrong types. */
function badCall(): Answer {
  return failure(new InsituError(ErrorCode.BAD_INPUT, 'the engine channel takes strings'));
}

/** Convert a Python argument (a PyProxy or a primitive) to JS and release the proxy. */
function fromPy(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && 'toJs' in v) {
    const proxy = v as PyProxyLike;
    try {
      return proxy.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
    } finally {
      proxy.destroy();
    }
  }
  return v;
}

/**
 * One Pyodide interpreter with the `insitu` package loaded: the logic of a worker thread, usable
 * without threads too. Start it once and reuse it for every task.
 */
export class PythonHost {
  /** This thread's channel to the engine, for `insitu.ds`. */
  readonly channel = new HostChannel();
  readonly #py: PyodideInterface;
  /** Set once the interpreter has failed fatally; the worker must then be replaced. */
  fatal = false;
  readonly #runWire: PyCallable;
  readonly #runGroupsWire: PyCallable;
  readonly #inspect: PyCallable;
  readonly #openContext: OpenContext | null;
  readonly #config: WorkerConfig;
  /** The UDF's connection: `insitu.connect()`, `insitu.ds`, and the partition's transaction. */
  #connection: ContextConnection | null = null;
  /**
   * The connection partitions are read from, apart from the UDF's: a streamed read of groups stays open
   * while their UDF runs, and a connection reading a statement can run no other (nor start a write
   * transaction from its old snapshot).
   */
  #inputConnection: ContextConnection | null = null;
  #current: { callId: number; context: ContextMode } | null = null;
  /** The call of the task being run (kept past its Python call, to end its partition on the engine's session). */
  #taskCallId = 0;
  /** Whether the running UDF used the database connection (it is reset after the call). */
  #udfUsedConnection = false;
  /** The one user whose calls this interpreter runs (set by the first). */
  #user: string | null = null;
  /** The one package set (key) whose calls it runs: undefined until its first run, null for none. */
  #env: string | null | undefined = undefined;
  /** The package set it has loaded (null: none). */
  #loaded: string | null = null;
  /** The interrupt word Python sees now: the running call's control words, or the idle buffer. */
  #interruptWord: Int32Array = IDLE_INTERRUPT;

  private constructor(py: PyodideInterface, config: WorkerConfig, openContext: OpenContext | null) {
    this.#py = py;
    this.#config = config;
    this.#openContext = openContext;
    // Files live outside wasm memory, so a restored snapshot needs them written again (tracebacks show them).
    installTree(py, join(config.pythonDir, 'insitu'), `${SITE_DIR}/insitu`);
    // The only JS object Python is given: frozen, with functions that take strings (and blobs) only.
    py.registerJsModule(
      '_insitu_host',
      Object.freeze({
        ds: Object.freeze((op: unknown, argsJson: unknown, blobs: unknown) => (typeof op === 'string' && typeof argsJson === 'string' ? this.#ds(op, argsJson, fromPy(blobs) as unknown[]) : badCall())),
        query: Object.freeze((sql: unknown, paramsJson: unknown) => (typeof sql === 'string' && typeof paramsJson === 'string' ? this.#query(sql, paramsJson) : badCall())),
        execute: Object.freeze((sql: unknown, paramsJson: unknown) => (typeof sql === 'string' && typeof paramsJson === 'string' ? this.#execute(sql, paramsJson) : badCall())),
        // Python's sleeps and timed waits block here, so an interrupt ends them (see interrupt-wait.ts).
        wait: Object.freeze((seconds: unknown) => interruptibleWait(this.#interruptWord, typeof seconds === 'number' ? seconds : 0, () => py.checkInterrupt())),
      }),
    );
    // `random` was seeded when the snapshot was made: without a fresh seed from the OS, every restored
    // interpreter (every worker, every user) would draw the same numbers.
    py.runPython(`import sys, random\nif ${JSON.stringify(SITE_DIR)} not in sys.path: sys.path.insert(0, ${JSON.stringify(SITE_DIR)})\nrandom.seed()\nimport insitu._runner`);
    // Output written to the file descriptors themselves (os.write(1, ...), sys.__stdout__) is dropped
    // as it comes: Pyodide's default handler would gather it into one JavaScript string per line.
    py.setStdout({ write: (buffer: Uint8Array) => buffer.length });
    py.setStderr({ write: (buffer: Uint8Array) => buffer.length });
    const runner = py.pyimport('insitu._runner') as unknown as Record<string, PyCallable>;
    this.#runWire = runner['run_wire']!;
    this.#runGroupsWire = runner['run_groups_wire']!;
    this.#inspect = runner['inspect']!;
  }

  /**
   * Start an interpreter (see `bootPyodide`) with the `insitu` package and, when configured, the
   * database context module.
   */
  static async start(
    config: WorkerConfig = { context: null, snapshot: null, maxMemoryMb: DEFAULT_MAX_MEMORY_MB, limits: checkWorkerLimits({}), pythonDir: PACKAGE_FILES.python, wasmChannel: null },
  ): Promise<PythonHost> {
    return PythonHost.create(await bootPyodide(config), config);
  }

  /** Wrap an interpreter that `bootPyodide` started. */
  static async create(py: PyodideInterface, config: WorkerConfig): Promise<PythonHost> {
    const openContext =
      config.context === null ? null : ((await import(config.context.module)) as { openContextConnection: OpenContext }).openContextConnection;
    return new PythonHost(py, config, openContext);
  }

  /** Size of the interpreter's wasm heap in MiB. */
  heapMb(): number {
    const mod = (this.#py as unknown as { _module?: { HEAPU8?: Uint8Array } })._module;
    return mod?.HEAPU8 === undefined ? 0 : Math.round(mod.HEAPU8.byteLength / 2 ** 20);
  }

  /** Run one UDF call (or one per group). Never throws for user errors: they come back as `{ ok: false }`. */
  run(req: RunRequest): RunResponse | GroupsResponse {
    const res = this.#run(req);
    return this.fatal ? res : { ...res, heapMb: this.heapMb() };
  }

  #run(req: RunRequest): RunResponse | GroupsResponse {
    const thread = { threadId: threadIdOf() };
    if (this.fatal) return { ...thread, ...REFUSED };
    if (!this.#claim(req.user, req.env?.key ?? null)) return { ...thread, ...OTHER_USER };
    if (this.#loaded !== (req.env?.key ?? null)) return { ...thread, ok: false, retry: true, replace: true, error: NOT_LOADED };
    Atomics.store(req.control, 1, 1);
    if (req.input.kind === 'groups' || req.input.kind === 'groupData') return this.#runGroups(req, req.input, thread);
    let columns;
    try {
      columns = this.#inputColumns(req);
    } catch (e) {
      return { ...thread, ...(failure(e) as { ok: false; error: SerializedError }) };
    }
    return this.#runOnce(req, columns, thread);
  }

  /**
   * Read a key range's rows (or take the rows of whole groups the engine read), cut them into groups
   * and run the UDF once per group. Groups go to Python in batches of about {@link GROUP_BATCH_ROWS}
   * rows (one call for many groups), and their table results come back stacked in one table per batch.
   */
  #runGroups(req: RunRequest, input: Extract<RunRequest['input'], { kind: 'groups' | 'groupData' }>, thread: ThreadInfo): GroupsResponse {
    const keys = new GroupKeys(input.by);
    const groups: GroupResult[] = [];
    const stacked: Uint8Array[] = [];
    const cap = this.#config.limits.maxTaskResultBytes;
    let bytes = 0;
    let tooLarge: SerializedError | null = null;
    /** Groups (from the first) whose writes are committed: every group of each batch that succeeded. */
    let committed = 0;
    const done = (ok: boolean, error?: SerializedError): GroupsResponse => {
      if (ok) committed = groups.length;
      // Of a reply over the cap only the error is sent back (naming the last group of the batch that
      // crossed it), and the keys, which name the groups that committed.
      if (tooLarge !== null) return { ...thread, ok: false, keys: keys.toWire(), groups: [], stacked: [], error: tooLarge, committed };
      return { ...thread, ...(this.fatal ? { fatal: true } : {}), ok, keys: keys.toWire(), groups, stacked, committed, ...(error === undefined ? {} : { error }) };
    };
    let batch: Table[] = [];
    let batchRows = 0;
    let batchSchema = '';
    /** Run the groups collected so far; false once one failed. */
    const flush = (): boolean => {
      const todo = batch;
      batch = [];
      batchRows = 0;
      if (todo.length === 0) return true;
      const fromGroup = groups.length;
      let ok = this.#runGroupBatch(req, todo, keys, groups, stacked, (n) => (bytes += n));
      for (const g of groups.slice(fromGroup)) bytes += groupBytes(g);
      if (ok && bytes > cap) {
        // A reply this large could never fit the engine's budget of results in flight: stop here.
        tooLarge = taskResultTooLarge(bytes, cap, keyOf(todo[todo.length - 1]!, input.by));
        ok = false;
      }
      // The groups of one batch run in one Python call: they commit together, or not at all.
      const error = this.#endPartition(ok, req);
      if (error !== null) {
        groups.splice(fromGroup, groups.length - fromGroup, { ok: false, error });
        return false;
      }
      if (ok) committed = groups.length;
      return ok;
    };
    const add = (group: Table): boolean => {
      // One call takes groups of one schema (kinds decided by values may differ between reads).
      const schema = group.schema.fields.map((f) => `${f.name}:${String(f.type)}`).join(',');
      if (schema !== batchSchema && !flush()) return false;
      batchSchema = schema;
      batch.push(group);
      batchRows += group.numRows;
      return batchRows < GROUP_BATCH_ROWS || flush();
    };
    let pending: Table | null = null;
    let pendingKey: Record<string, CellKey> | null = null;
    try {
      let rows: Iterable<Table>;
      if (input.kind === 'groupData') {
        // Whole groups the engine read, each one or more record batches: cut where the key changes.
        rows = tableFromIPC(input.ipc).batches.map((b) => new Table(b));
      } else {
        const conn = this.#inputConnectionFor();
        if (!input.ordered) {
          for (const group of conn.groups(input.sql, input.params, input.by[0]!)) if (!add(group)) return done(false);
          return done(flush());
        }
        rows = conn.scan(input.sql, input.params, 65536, input.by);
      }
      for (const b of rows) {
        const key = keyOf(b, input.by);
        if (pending !== null && pendingKey !== null && sameKey(pendingKey, key)) {
          pending = pending.concat(b);
          continue;
        }
        if (pending !== null && !add(pending)) return done(false);
        pending = b;
        pendingKey = key;
      }
      if (pending !== null && !add(pending)) return done(false);
      return done(flush());
    } catch (e) {
      this.#endPartition(false, req);
      return done(false, (failure(e) as { error: SerializedError }).error);
    }
  }

  /**
   * Run the UDF on each of `batch`'s groups in one Python call; append their keys, results and stacked
   * table. False when a group failed (the results stop there) or the interpreter did.
   */
  #runGroupBatch(req: RunRequest, batch: Table[], keys: GroupKeys, groups: GroupResult[], stacked: Uint8Array[], count: (bytes: number) => void): boolean {
    const rows = new Table(batch.flatMap((g) => g.batches));
    const out = this.#inCall(req, this.#runGroupsWire, toWireColumns(rows), batch.map((g) => g.batches.length)) as
      | { results: PyResult[]; stacked: PyColumn[] | null | undefined }
      | { ok: false; error: SerializedError };
    if (!('results' in out) || !Array.isArray(out.results)) {
      keys.add(batch[0]!);
      groups.push({ ok: false, error: pythonError((out as { error?: unknown }).error, this.#config.limits.maxOutputBytes) });
      return false;
    }
    let part = -1;
    if (out.stacked != null) {
      const table = fromPyColumns(out.stacked);
      const ipc = tableToIPC(table, 'stream');
      count(resultFootprint(table, ipc.byteLength));
      part = stacked.push(ipc) - 1;
    }
    for (const [i, r] of out.results.entries()) {
      keys.add(batch[i]!);
      if (r.ok !== true) {
        groups.push({ ok: false, error: pythonError((r as { error?: unknown }).error, this.#config.limits.maxOutputBytes) });
        return false;
      }
      let value: WireValue | StackedRows;
      try {
        value = r.rows !== undefined ? stackedRows(r.rows, part) : wireValueOf(r, this.#config.limits.maxResultBytes);
      } catch (e) {
        groups.push(failure(e) as { ok: false; error: SerializedError });
        return false;
      }
      let images: WireImage[];
      try {
        images = wireImages(r.images, this.#config.limits.maxResultBytes);
      } catch (e) {
        groups.push(failure(e) as { ok: false; error: SerializedError });
        return false;
      }
      const limit = this.#config.limits.maxOutputBytes;
      groups.push({ ok: true, value, stdout: outputText(r.stdout, limit), stderr: outputText(r.stderr, limit), ...withImages(images) });
    }
    return out.results.length === batch.length;
  }

  /**
   * Call a runner entry point for `req` with the task and `args`: the call is interruptible through the
   * request's control words, and `insitu.ds` requests made meanwhile belong to the request's call.
   */
  #inCall(req: RunRequest, entry: PyCallable, ...args: unknown[]): unknown {
    this.#current = { callId: req.callId, context: req.context };
    this.#taskCallId = req.callId;
    this.#py.setInterruptBuffer(req.control);
    this.#interruptWord = req.control;
    try {
      return this.#call(entry, this.#taskOf(req), ...args);
    } finally {
      this.#current = null;
      this.#interruptWord = IDLE_INTERRUPT;
      if (!this.fatal) this.#py.setInterruptBuffer(IDLE_INTERRUPT);
    }
  }

  /** The task description the Python runner takes. */
  #taskOf(req: RunRequest) {
    return {
      source: req.source,
      name: req.name,
      func: req.func ?? undefined,
      input_kind: req.input.kind === 'query' || req.input.kind === 'groups' || req.input.kind === 'groupData' ? 'data' : req.input.kind,
      input_type: req.input.kind === 'index' || req.input.kind === 'none' ? 'auto' : req.input.inputType,
      index: req.input.kind === 'index' ? req.input.index : undefined,
      args_json: req.argsJson,
      positional_json: req.positionalJson,
      order_json: req.orderJson,
      max_output_bytes: this.#config.limits.maxOutputBytes,
      max_result_bytes: this.#config.limits.maxResultBytes,
      graphics: req.graphics === true,
    };
  }

  /** Run the UDF once on the given input columns. */
  #runOnce(req: RunRequest, columns: WireColumn[] | undefined, thread: ThreadInfo): RunResponse {
    const out = this.#inCall(req, this.#runWire, columns) as PyResult;
    if (out.ok !== true) {
      this.#endPartition(false, req);
      return { ...thread, ...(this.fatal ? { fatal: true } : {}), ok: false, error: pythonError((out as { error?: unknown }).error, this.#config.limits.maxOutputBytes) };
    }
    let res: RunResponse;
    try {
      const limit = this.#config.limits.maxOutputBytes;
      const value = wireValueOf(out, this.#config.limits.maxResultBytes);
      res = { ...thread, ok: true, value, stdout: outputText(out.stdout, limit), stderr: outputText(out.stderr, limit), ...withImages(wireImages(out.images, this.#config.limits.maxResultBytes)) };
    } catch (e) {
      res = { ...thread, ...(failure(e) as { ok: false; error: SerializedError }) };
    }
    const error = this.#endPartition(res.ok, req);
    return error === null ? res : { ...thread, ok: false, error };
  }

  /**
   * End a partition's transaction on the context connection: commit it when the partition succeeded
   * (its UDF returned and its result was accepted), roll it back otherwise. Returns the error of a
   * commit that failed (the partition then failed, and wrote nothing), else null.
   */
  #endPartition(ok: boolean, req: RunRequest): SerializedError | null {
    if (!this.#udfUsedConnection) return null;
    let error: SerializedError | null = null;
    // A UDF may catch the KeyboardInterrupt that stops its call (Pyodide clears the interrupt word when
    // it raises it) and return normally: the call was stopped all the same, so nothing is committed.
    if (ok && Atomics.load(req.control, 2) !== 0) {
      ok = false;
      error = (
        failure(new InsituError(ErrorCode.CANCELLED, 'the call was stopped (timeout or cancellation) before this partition ended; its writes were rolled back')) as {
          error: SerializedError;
        }
      ).error;
    }
    if (ok) {
      try {
        this.#connection?.commit();
      } catch (e) {
        error = (failure(e) as { error: SerializedError }).error;
      }
    }
    this.#resetConnection();
    return error;
  }

  /** The partition's columns: decoded from the Arrow bytes sent, or read here from the database. */
  #inputColumns(req: RunRequest) {
    if (req.input.kind === 'data') return toWireColumns(tableFromIPC(req.input.ipc));
    if (req.input.kind === 'query') return toWireColumns(this.#inputConnectionFor().query(req.input.sql, req.input.params, req.input.byColumn));
    return undefined;
  }

  /** Parse a script and list its top-level functions. */
  inspect(req: InspectRequest): InspectResponse {
    if (this.fatal) return { threadId: threadIdOf(), ...REFUSED };
    if (!this.#claim(req.user)) return { threadId: threadIdOf(), ...OTHER_USER };
    const answer = this.#call(this.#inspect, req.source, req.name) as Record<string, unknown>;
    const threadId = threadIdOf();
    if (this.fatal) return { threadId, fatal: true, ok: false, error: pythonError(answer['error'], this.#config.limits.maxOutputBytes) };
    if (answer['ok'] !== true) return { threadId, ok: false, error: pythonError(answer['error'], this.#config.limits.maxOutputBytes) };
    try {
      return { threadId, ok: true, functions: functionNames(answer['functions']) };
    } catch (e) {
      return { threadId, ...(failure(e) as { ok: false; error: SerializedError }) };
    }
  }

  /**
   * Bind this interpreter to `user` (and, for a run, to its package set `env`) on its first task; false
   * for any other user or package set afterwards. Script inspection only parses, so it binds no set.
   */
  #claim(user: string, env?: string | null): boolean {
    this.#user ??= user;
    if (env !== undefined && this.#env === undefined) this.#env = env;
    return this.#user === user && (env === undefined || this.#env === env);
  }

  /** Whether this interpreter has loaded package set `key`. */
  hasLoaded(key: string): boolean {
    return this.#loaded === key;
  }

  /**
   * Load a run request's package set into this interpreter, once (see package-install.ts). Resolves to
   * null when the task may run, else to the reply that refuses it (the worker is then replaced).
   */
  async loadPackages(req: RunRequest): Promise<RunResponse | null> {
    const thread = { threadId: threadIdOf() };
    const env = req.env!;
    if (this.fatal) return { ...thread, ...REFUSED };
    if (!this.#claim(req.user, env.key)) return { ...thread, ...OTHER_USER };
    if (this.#loaded === env.key) return null;
    if (this.#loaded !== null || env.packages === undefined) return { ...thread, ok: false, retry: true, replace: true, error: NOT_LOADED };
    const error = await installArchives(this.#py, env.packages);
    if (error !== null) {
      this.fatal = !this.#alive();
      return { ...thread, ok: false, replace: true, error };
    }
    this.#loaded = env.key;
    return null;
  }

  /** Close the database connections, if they were opened. */
  close(): void {
    this.#closeContext();
    this.#inputConnection?.close();
    this.#inputConnection = null;
  }

  #closeContext(): void {
    this.#connection?.close();
    this.#connection = null;
  }

  #call(fn: PyCallable, ...args: unknown[]): unknown {
    let result: PyProxyLike | undefined;
    try {
      result = fn(...args);
      return result.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
    } catch (e) {
      this.fatal = !this.#alive();
      const why = e instanceof Error ? e.message : String(e);
      const error: SerializedError = {
        code: ErrorCode.RUNTIME_ERROR,
        message: this.fatal
          ? `the Python interpreter crashed (${why.split('\n')[0]}); its worker is being replaced`
          : `the Python runtime failed outside the UDF: ${why}`,
      };
      return { ok: false, error };
    } finally {
      if (!this.fatal) result?.destroy?.();
    }
  }

  /** Whether the interpreter still runs Python (false after a fatal error such as a wasm stack overflow). */
  #alive(): boolean {
    try {
      this.#py.runPython('0');
      return true;
    } catch {
      return false;
    }
  }

  /** `insitu.ds` requests: Frames go out as Arrow IPC, Arrow objects come back as wire columns. */
  #ds(op: string, argsJson: string, blobs: unknown[]): HostReply | Answer {
    if (this.#current === null) return failure(new InsituError(ErrorCode.RUNTIME_ERROR, 'insitu.ds is only available while a UDF runs'));
    try {
      const bytes = (blobs ?? []).map((b) => {
        if (b instanceof Uint8Array) return b;
        const cols = (b as { columns: PyColumn[] }).columns;
        return tableToIPC(fromPyColumns(cols), 'stream');
      });
      // With a database file, datastores are read and written on the worker's own connection, inside
      // the partition's transaction; otherwise the engine answers over the channel: on PostgreSQL inside
      // the partition's transaction on the task's session, on ':memory:' committed at once.
      let reply: HostReply;
      if (this.#openContext !== null && this.#config.context !== null && this.#user !== null) {
        this.#udfUsedConnection = true;
        reply = answerHostRequest(this.#connectionFor().datastores(this.#user), op, argsJson, bytes);
      } else {
        reply = this.channel.call(this.#current.callId, op, argsJson, bytes);
        // The engine may have run it inside the partition's transaction (on PostgreSQL): the end of the
        // partition must reach the engine, to commit it or roll it back (on ':memory:' that does nothing).
        if (this.#openContext === null && this.#user !== null) {
          this.#udfUsedConnection = true;
          (this.#connectionFor() as EngineContextConnection).joined();
        }
      }
      if (!reply.ok || op !== 'dsLoad' || reply.json === null) return reply;
      const metas = JSON.parse(reply.json) as { format: string; name: string }[];
      const datastore = String((JSON.parse(argsJson) as { name?: unknown }).name);
      const out = reply.blobs.map((b, i) => (metas[i]?.format === 'arrow' ? toWireColumns(tableFromStored(b, metas[i].name, datastore)) : b));
      return { ok: true, json: reply.json, blobs: out };
    } catch (e) {
      return failure(e);
    }
  }

  #connectionFor(): ContextConnection {
    this.#connection ??= this.#open();
    return this.#connection;
  }

  #inputConnectionFor(): ContextConnection {
    this.#inputConnection ??= this.#open();
    return this.#inputConnection;
  }

  #open(): ContextConnection {
    if (this.#user === null) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'insitu.connect() is only available while a UDF runs');
    // Without a database file to open, the engine answers the SQL on a session of the running task (or
    // says that it has none: an engine on ':memory:').
    if (this.#openContext === null || this.#config.context === null) return new EngineContextConnection(this.channel, () => this.#taskCallId);
    // The interpreter serves one user, so its connections act as that user for good.
    const { database, busyTimeoutMs, options } = this.#config.context;
    return this.#openContext(database, {
      ...options,
      busyTimeoutMs,
      user: this.#user,
      // A partition waiting for the write lock stops as soon as its call is interrupted.
      waitForLock: (ms) => {
        Atomics.wait(this.#interruptWord, 0, 0, ms);
        if (Atomics.load(this.#interruptWord, 0) !== 0) {
          throw new InsituError(ErrorCode.RUNTIME_ERROR, 'the call was stopped while its partition waited for the database write lock');
        }
      },
    });
  }

  /** Roll back what the UDF left open on the connection; a connection that cannot be reset is closed. */
  #resetConnection(): void {
    this.#udfUsedConnection = false;
    try {
      this.#connection?.reset();
    } catch {
      this.#closeContext();
    }
  }

  #query(sql: string, paramsJson: string): Answer {
    this.#udfUsedConnection = true;
    try {
      if (this.#current === null) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'insitu.connect() is only available while a UDF runs');
      const table = this.#connectionFor().query(sql, JSON.parse(paramsJson) as SqlParam[]);
      return { ok: true, columns: toWireColumns(table) };
    } catch (e) {
      return failure(e);
    }
  }

  #execute(sql: string, paramsJson: string): Answer {
    this.#udfUsedConnection = true;
    try {
      if (this.#current === null) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'insitu.connect() is only available while a UDF runs');
      const changes = this.#connectionFor().execute(sql, JSON.parse(paramsJson) as SqlParam[], this.#current.context);
      return { ok: true, changes };
    } catch (e) {
      return failure(e);
    }
  }
}

/** Interrupt buffer installed between tasks (never signalled). */
const IDLE_INTERRUPT = new Int32Array(1);

/** The reply of a worker bound to another user: the task did not run; the worker is to be replaced. */
const OTHER_USER = {
  ok: false,
  retry: true,
  replace: true,
  error: { code: ErrorCode.RUNTIME_ERROR, message: 'this worker serves another user; it is being replaced' },
} as const;

/** The reply to a task whose package set this interpreter has not loaded (it never runs it). */
const NOT_LOADED: SerializedError = {
  code: ErrorCode.RUNTIME_ERROR,
  message: 'this worker has not loaded the packages of the call; it is being replaced',
};

/** The reply of a worker whose interpreter is dead: the task did not run and may run elsewhere. */
const REFUSED = {
  ok: false,
  fatal: true,
  retry: true,
  error: { code: ErrorCode.RUNTIME_ERROR, message: 'this worker\'s interpreter crashed earlier; the worker is being replaced' },
} as const;

function threadIdOf(): number {
  return workerThreadId;
}

let workerThreadId = 0;
/** @internal Set by the worker entry. */
export function setThreadId(id: number): void {
  workerThreadId = id;
}
