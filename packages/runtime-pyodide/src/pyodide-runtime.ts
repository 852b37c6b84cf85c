import {
  ErrorCode,
  InsituError,
  Lifecycle,
  abortError,
  deserializeError,
  type GroupOutcome,
  type HostApi,
  type PackageSet,
  type RunOptions,
  type Runtime,
  type ScriptInspection,
  type Task,
  type TaskOutcome,
} from '@insitu/core';
import { Piscina } from 'piscina';
import type { Worker } from 'node:worker_threads';
import { isChannelOffer, serveHostChannel } from './host-dispatch.js';
import { readSharedSnapshot, type PreparedSnapshot } from './snapshot-cache.js';
import type {
  ContextOptions,
  GroupsResponse,
  GroupsWire,
  InspectResponse,
  RunRequest,
  RunResponse,
  ThreadInfo,
  WorkerConfig,
  WorkerRequest,
} from './protocol.js';
import { checkMemoryLimits } from './memory-limits.js';
import { checkWorkers, groupOutcomes, isAborted, wireInput, wireOutcome } from './task-wire.js';
import { moving } from './transfer.js';
import { UserScheduler, routedTo } from './user-affinity.js';
import type { OsSandbox } from './os-sandbox.js';
import { interrupt } from './interrupt-wait.js';
import { isRuntimeLogMessage, writeRuntimeLogToStderr, type RuntimeLogSink } from './runtime-log.js';
import { SharedWasm } from './shared-wasm.js';
import { PACKAGE_FILES, type RuntimeFiles } from './runtime-files.js';
import { checkWorkerLimits, type WorkerLimitOptions } from './worker-limits.js';

/** Users whose latest scheduler key is remembered (a hint only: forgotten all at once past this). */
const MAX_LAST_KEYS = 10_000;

/** At most this many control-word buffers are kept for reuse. */
const MAX_SPARE_CONTROLS = 64;

/** Options for {@link PyodideRuntime}. */
export interface PyodideRuntimeOptions extends WorkerLimitOptions {
  /** Worker threads, each with its own Pyodide interpreter. Default min(available cores, 4). */
  readonly workers?: number;
  /**
   * The database context for `insitu.connect()`: a module exporting `openContextConnection(path,
   * { busyTimeoutMs, user, ...options })` (such as `@insitu/adapters/sqlite-context`) and the database
   * file each worker opens its own connection to, as the one user it serves; `options` are the
   * adapter's own settings, passed through. Absent: `insitu.connect()` reports that no context is available.
   */
  readonly context?: ContextOptions;
  /**
   * Milliseconds a UDF gets to stop after it is interrupted (timeout or abort) before its worker is
   * terminated and replaced. Pure-Python code and waits in `time.sleep`, `select.select` and
   * threading's Event/Condition/queue waits stop within a few ms; long C calls cannot be interrupted.
   * Default 500.
   */
  readonly interruptGraceMs?: number;
  /**
   * The start-up snapshot workers restore (~0.25 s instead of ~2 s a worker), as `prepareSnapshot`
   * made it; absent or null: every worker boots plainly. (Uses Pyodide's private snapshot API, pinned to
   * the exact Pyodide version; a snapshot whose bytes do not match its hash is not used.)
   */
  readonly snapshot?: PreparedSnapshot | null;
  /**
   * Hard cap on each worker interpreter's wasm heap, in MiB (128 to 4095). An allocation past it raises
   * MemoryError in the UDF, which fails that call with PYTHON_ERROR; the worker is then replaced.
   * Default 2048.
   */
  readonly maxMemoryMb?: number;
  /**
   * Replace a worker after a call that left its interpreter's heap at or above this many MiB (wasm
   * memory never shrinks, so one large call would otherwise pin it). Default 1024, or `maxMemoryMb`
   * when that is smaller.
   */
  readonly recycleHeapMb?: number;
  /**
   * The entries to start and the Python package to load. Default: this package's own files. The
   * `insitu` package passes bundled entries, which start faster.
   */
  readonly files?: RuntimeFiles;
  /**
   * Receives what the runtime itself prints (Pyodide's console output in the workers, such as its
   * report of a fatal error), not UDF output. Errors it throws are ignored. Default: each line on
   * `process.stderr`, prefixed `insitu:`.
   */
  readonly onLog?: RuntimeLogSink;
  /** @internal Set by the sandbox process: workers shim `process.binding`, harden their interpreter and freeze their JS realm. */
  readonly sandboxed?: boolean;
  /**
   * For {@link SandboxRuntime}: the OS sandbox around its process. `'bubblewrap'` (default) needs `bwrap`
   * on PATH and fails to start without it; `'none'` is the explicit opt-out to Node's permission model
   * alone. Ignored by PyodideRuntime.
   */
  readonly osSandbox?: OsSandbox;
  /** @internal Called when a terminated worker thread has not exited (it is stuck in native code). */
  readonly onStuckWorker?: () => void;
}

/** How long after a booting thread's offer it is terminated, when it was asked to be while booting. */
const BOOTED_GRACE_MS = 50;

/** A terminated worker that has not exited after this long is stuck in native code. */
const STUCK_AFTER_MS = 2000;

/** The snapshot settings for workers: its hash, and its bytes, read once in the background and shared by all workers. */
function sharedSnapshot(snap: PreparedSnapshot): NonNullable<WorkerConfig['snapshot']> {
  return { sha256: snap.sha256, shared: readSharedSnapshot(snap.path) };
}

/** A request, what to move with it, and the user (with its package set) it runs for. */
interface Sendable {
  readonly req: WorkerRequest;
  readonly transfer: ArrayBufferLike[];
  /** What the worker is kept for: the user, and the package set's key when there is one. */
  readonly user: string;
  /** The task's package set: its archives go along to a worker that has not loaded it. */
  readonly env?: PackageSet;
}

/** The scheduler's key of a user's tasks with package set `env`: interpreters serve one key only. */
function affinityKey(user: string, env: PackageSet | undefined): string {
  return env === undefined ? user : `${user}\u0000${env.key}`;
}

/**
 * Runs UDFs in a piscina pool of worker threads, one warm Pyodide interpreter per thread. All workers
 * start when the runtime is created and are reused for every task. This library uses worker threads:
 * each costs one Pyodide heap (tens of MB).
 */
export class PyodideRuntime implements Runtime {
  /** Number of workers (tasks that can run at once). */
  readonly concurrency: number;
  /** Whether workers read partitions themselves (they have a database file to open). */
  readonly readsQueries: boolean;
  readonly #pool: Piscina;
  /** Threads being terminated, watched for not exiting. */
  readonly #watched = new Set<Worker>();
  /** The scheduler key of each user's latest task (see {@link inspect}). */
  readonly #lastKey = new Map<string, string>();
  /** The package set (key) each worker thread has loaded. */
  readonly #loaded = new Map<number, string>();
  /** Threads that have booted (offered their channel). */
  readonly #booted = new Set<number>();
  /** Threads to terminate once they have booted (see #terminate). */
  readonly #terminateWhenBooted = new Set<number>();
  readonly #onStuck: (() => void) | undefined;
  /** Which worker runs each task: one user per interpreter. */
  readonly #scheduler: UserScheduler;
  readonly #life = new Lifecycle('Python runtime');
  /** Engine services of the calls running now, by call id (for `insitu.ds` requests from workers). */
  readonly #calls = new Map<number, HostApi>();
  /** The compiled Pyodide binary, handed to workers as they start. */
  readonly #wasm: SharedWasm;
  /** Control words of finished calls, for reuse. */
  readonly #controls: Int32Array[] = [];
  #nextCall = 1;
  readonly #graceMs: number;
  #lastTerminated = 0;
  readonly #recycleHeapMb: number;

  /** Start the pool; workers load Pyodide in the background. */
  constructor(opts: PyodideRuntimeOptions = {}) {
    const workers = checkWorkers(opts.workers);
    this.concurrency = workers;
    this.readsQueries = opts.context !== undefined;
    this.#graceMs = opts.interruptGraceMs ?? 500;
    this.#onStuck = opts.onStuckWorker;
    const limits = checkMemoryLimits(opts);
    const workerLimits = checkWorkerLimits(opts);
    this.#recycleHeapMb = limits.recycleHeapMb;
    const c = opts.context;
    const files = opts.files ?? PACKAGE_FILES;
    // Started only once the options are known to be valid.
    this.#wasm = new SharedWasm();
    const workerData: WorkerConfig = {
      context:
        c === undefined
          ? null
          : { module: c.module, database: c.database, busyTimeoutMs: c.busyTimeoutMs ?? 5000, ...(c.options === undefined ? {} : { options: c.options }) },
      snapshot: opts.snapshot == null ? null : sharedSnapshot(opts.snapshot),
      pythonDir: files.python,
      wasmChannel: this.#wasm.channel,
      maxMemoryMb: limits.maxMemoryMb,
      limits: workerLimits,
      sandboxed: opts.sandboxed === true,
    };
    const scheduler = new UserScheduler(
      () => this.#pool.threads.map((w) => w.threadId).filter((id) => id >= 0),
      (threadId) => this.#terminate(threadId),
    );
    this.#scheduler = scheduler;
    this.#pool = new Piscina({
      filename: files.worker,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      workerData,
      loadBalancer: scheduler.balancer,
    });
    this.#pool.on('workerCreate', () => scheduler.sync());
    this.#pool.on('workerDestroy', () =>
      queueMicrotask(() => {
        const live = new Set(this.#pool.threads.map((w) => w.threadId));
        for (const id of this.#booted) if (!live.has(id)) this.#booted.delete(id);
        for (const id of this.#loaded.keys()) if (!live.has(id)) this.#loaded.delete(id);
        scheduler.sync();
      }),
    );
    const onLog = opts.onLog ?? writeRuntimeLogToStderr;
    // Each worker posts its end of a channel to the engine once, at start (see worker.ts), and its console output.
    this.#pool.on('message', (m: unknown) => {
      if (isRuntimeLogMessage(m)) {
        try {
          onLog(m.insituLog);
        } catch {
          // A failing log sink loses the line, not the pool.
        }
        return;
      }
      if (!isChannelOffer(m)) return;
      this.#booted.add(m.threadId);
      if (this.#terminateWhenBooted.delete(m.threadId)) {
        // piscina counts the thread as ready just after its offer: give that message time to arrive.
        setTimeout(() => this.#terminate(m.threadId), BOOTED_GRACE_MS).unref();
      }
      const port = m.insituChannel;
      serveHostChannel(port, (id) => this.#calls.get(id));
      port.once('close', () => port.removeAllListeners());
    });
  }

  /** @inheritdoc */
  async run(task: Task, opts: RunOptions = {}): Promise<TaskOutcome> {
    const res = (await this.#execute(task, opts.signal)) as RunResponse;
    if (!res.ok) throw deserializeError(res.error);
    return wireOutcome(res);
  }

  /** @inheritdoc */
  async runGroups(task: Task, opts: RunOptions = {}): Promise<GroupOutcome[]> {
    return groupOutcomes(await this.runGroupsWire(task, opts));
  }

  /** Like {@link runGroups}, but the reply as the worker sent it (the sandbox forwards it as is). */
  async runGroupsWire(task: Task, opts: RunOptions = {}): Promise<GroupsWire> {
    const res = (await this.#execute(task, opts.signal)) as GroupsResponse;
    return {
      keys: res.keys,
      groups: res.groups,
      stacked: res.stacked,
      ...(res.error === undefined ? {} : { error: res.error }),
      ...(res.committed === undefined ? {} : { committed: res.committed }),
    };
  }

  /**
   * Send one task and wait for its reply, handling abort: a queued task is dropped at once; a running
   * one is interrupted (KeyboardInterrupt) and its worker terminated if Python has not stopped within
   * the grace period.
   */
  async #execute(task: Task, signal: AbortSignal | undefined): Promise<ThreadInfo> {
    this.#life.check();
    if (signal?.aborted === true) throw abortError(signal);
    const callId = this.#nextCall++;
    const control = this.#controls.pop() ?? new Int32Array(new SharedArrayBuffer(12));
    // Built afresh for each attempt: the Arrow bytes are moved, not copied.
    const build = (): Sendable => {
      const transfer: ArrayBufferLike[] = [];
      const input = wireInput(task.input, transfer);
      const req: RunRequest = {
        type: 'run',
        source: task.source,
        name: task.name,
        func: task.func ?? null,
        input,
        argsJson: JSON.stringify(task.args),
        positionalJson: JSON.stringify(task.positional ?? []),
        orderJson: JSON.stringify((task.orderWithin ?? []).map((k) => [k.column, k.descending])),
        callId,
        context: task.context ?? 'read',
        control,
        user: task.user,
        ...(task.env === undefined ? {} : { env: { key: task.env.key } }),
        ...(task.graphics === true ? { graphics: true } : {}),
      };
      return { req, transfer, user: affinityKey(task.user, task.env), ...(task.env === undefined ? {} : { env: task.env }) };
    };
    if (task.host !== undefined) this.#calls.set(callId, task.host);
    if (this.#lastKey.size >= MAX_LAST_KEYS) this.#lastKey.clear();
    this.#lastKey.set(task.user, affinityKey(task.user, task.env));
    // Only a call with a signal can be aborted: the others skip the abort plumbing (and piscina's).
    const kill = signal === undefined ? undefined : new AbortController();
    let grace: NodeJS.Timeout | undefined;
    const onAbort = () => {
      if (Atomics.load(control, 1) === 0) return kill?.abort();
      // Sticky: the worker commits no partition of a stopped call, even one whose UDF caught the interrupt.
      Atomics.store(control, 2, 1);
      interrupt(control);
      grace = setTimeout(() => kill?.abort(), this.#graceMs);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let res: ThreadInfo;
    try {
      res = await this.#submit(build, kill?.signal, signal);
    } finally {
      this.#calls.delete(callId);
      clearTimeout(grace);
      signal?.removeEventListener('abort', onAbort);
    }
    // A partition that finished (and committed) before the abort took effect is reported as it ended,
    // and so are groups (they say which committed): the apply call still fails with the abort's error.
    const finished = (res as { ok?: unknown }).ok === true || 'groups' in res;
    if (signal !== undefined && isAborted(signal) && !finished) throw abortError(signal);
    this.#recycle(control);
    return res;
  }

  /**
   * Keep a call's control words for a later call once its worker has replied (the worker switches to
   * its own idle buffer before replying). Allocating a SharedArrayBuffer per call cost ~50 µs.
   */
  #recycle(control: Int32Array): void {
    if (this.#controls.length >= MAX_SPARE_CONTROLS) return;
    control.fill(0);
    this.#controls.push(control);
  }

  /** @inheritdoc */
  async inspect(source: string, name: string, user: string): Promise<ScriptInspection> {
    this.#life.check();
    // Parsing loads no package: it goes to a worker of the user's latest package set, so creating a
    // script does not make a worker switch sets (and be replaced) when every call loads packages.
    const key = this.#lastKey.get(user) ?? user;
    const res = (await this.#submit(() => ({ req: { type: 'inspect', source, name, user }, transfer: [], user: key }))) as InspectResponse;
    return res.ok ? { ok: true, functions: res.functions } : { ok: false, error: res.error };
  }

  #noteThread(info: ThreadInfo): void {
    if (info.threadId < 0) return;
    if (info.fatal === true || info.replace === true || (info.heapMb ?? 0) >= this.#recycleHeapMb) {
      // Its interpreter is dead, its heap grew too large to keep, or it serves another user: terminate
      // the thread; piscina starts a replacement (minThreads), and tasks that reached it meanwhile are sent again.
      this.#terminate(info.threadId);
      return;
    }
  }

  /**
   * Terminate a worker thread; the pool starts a clean one in its place. A thread that has not exited
   * {@link STUCK_AFTER_MS} later is inside native code no termination reaches (a long SQLite
   * statement): `onStuckWorker` is told (the sandbox process then has itself replaced).
   */
  #terminate(threadId: number, known?: Worker): void {
    this.#lastTerminated = Date.now();
    this.#scheduler.retire(threadId);
    // piscina replaces a thread that exits before it is ready only once: it then takes every later
    // such exit for a worker that cannot boot and stops replacing threads at all, and the pool
    // dwindles to none. So a thread still booting is terminated as soon as it has booted.
    if (!this.#booted.has(threadId) && this.#pool.threads.some((w) => w.threadId === threadId)) {
      this.#terminateWhenBooted.add(threadId);
      return;
    }
    // piscina may have dropped a thread it terminated itself (an aborted task) from its list already.
    const worker = known ?? this.#pool.threads.find((w) => w.threadId === threadId);
    if (worker === undefined) return;
    if (!this.#watched.has(worker)) {
      this.#watched.add(worker);
      // An exited Worker's threadId is -1.
      setTimeout(() => {
        this.#watched.delete(worker);
        if (worker.threadId >= 0) this.#onStuck?.();
      }, STUCK_AFTER_MS).unref();
    }
    void worker.terminate();
  }

  /**
   * Send a request to the pool. A worker whose interpreter died refuses tasks without running them,
   * and a task handed to a thread being terminated for that reason fails without running: both are
   * sent again (rebuilt, since their buffers were moved), up to a few times.
   */
  async #submit(build: () => Sendable, kill?: AbortSignal, outer?: AbortSignal): Promise<ThreadInfo> {
    try {
      for (let attempt = 0; ; attempt++) {
        const { req, transfer, user, env } = build();
        const threadId = await this.#scheduler.acquire(user, outer);
        const worker = this.#pool.threads.find((w) => w.threadId === threadId);
        // The archives go (copied) only to a worker that has not loaded the set: it loads them before the task.
        if (env !== undefined && this.#loaded.get(threadId) !== env.key && req.type === 'run') {
          Object.assign(req, { env: { key: env.key, packages: env.packages } });
        }
        let res: ThreadInfo;
        try {
          res = (await this.#pool.run(moving(routedTo(req, threadId), transfer), kill === undefined ? {} : { signal: kill })) as ThreadInfo;
        } catch (e) {
          // Aborted (piscina terminates the thread) or failed in the pool: the worker is not reused.
          this.#terminate(threadId, worker);
          if (kill?.aborted === true || attempt >= 5 || Date.now() - this.#lastTerminated > 5000) throw e;
          res = { threadId: -1, retry: true };
        }
        if (env !== undefined && res.retry !== true && res.replace !== true && res.fatal !== true) this.#loaded.set(threadId, env.key);
        this.#noteThread(res);
        this.#scheduler.release(threadId);
        if (res.retry !== true || attempt >= 5) return res;
        await new Promise((r) => setTimeout(r, 25));
      }
    } catch (e) {
      if (outer?.aborted === true) throw abortError(outer);
      if (this.#life.closed) throw new InsituError(ErrorCode.CLOSED, 'the Python runtime was closed while the call ran', { cause: e });
      throw new InsituError(ErrorCode.RUNTIME_ERROR, `a Python worker failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  /** Stop every worker and wait until their threads have exited. Idempotent. */
  close(): Promise<void> {
    return this.#life.close(async () => {
      const exited = this.#pool.threads.map((w) =>
        w.threadId < 0 ? Promise.resolve() : new Promise<void>((resolve) => w.once('exit', () => resolve())),
      );
      await this.#pool.destroy();
      this.#wasm.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(exited), new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)))]);
      clearTimeout(timer);
    });
  }
}


