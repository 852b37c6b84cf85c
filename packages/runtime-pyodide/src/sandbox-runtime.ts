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
import { fork, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { PACKAGE_FILES } from './runtime-files.js';
import type { PyodideRuntimeOptions } from './pyodide-runtime.js';
import { checkMemoryLimits } from './memory-limits.js';
import { checkWorkerLimits } from './worker-limits.js';
import { checkWorkers, groupOutcomes, imagesOf, isAborted, tableValue, wireInput } from './task-wire.js';
import type { FromSandbox, SandboxConfig, SandboxOutcome, SandboxTask, ToSandbox } from './sandbox-protocol.js';
import { HOST_OPS, noSqlSession } from './host-dispatch.js';
import { ensureDatabaseFiles, sandboxLaunch, type SandboxLaunch } from './sandbox-launch.js';
import { lineSplitter, writeRuntimeLogToStderr, type RuntimeLogEntry, type RuntimeLogSink } from './runtime-log.js';

/** Package sets a sandbox process keeps (each holds its archives' bytes). */
const MAX_SENT_ENVS = 16;

/** How long a retired sandbox process may go on serving the calls it has before it is killed. */
const DRAIN_MS = 5_000;

function outcomeOf(o: SandboxOutcome): TaskOutcome {
  const v = o.value;
  const value =
    v.kind === 'table' ? tableValue(v.ipc) : v.kind === 'json' ? { kind: 'json' as const, value: v.value as never } : v;
  return { value, stdout: o.stdout, stderr: o.stderr, images: imagesOf(o.images) };
}

interface Pending {
  resolve: (m: Extract<FromSandbox, { type: 'result' }>) => void;
  reject: (e: unknown) => void;
}

/**
 * The default runtime: the Pyodide worker pool runs in a separate Node process started with the
 * permission model (file reads limited to the code it loads, the database file and the snapshot
 * directory; writes to the database and snapshot directories; no child processes), code generation
 * from strings disallowed, and none of the engine's environment. Workers also lose Python's routes to JavaScript.
 * Calls and results cross the process boundary over Node IPC; UDFs' engine requests come back here.
 * If the sandbox process dies, its calls fail and the next call starts a new one.
 */
export class SandboxRuntime implements Runtime {
  /** Number of workers in the sandbox. */
  readonly concurrency: number;
  /** Whether workers read partitions themselves (database file given). */
  readonly readsQueries: boolean;
  readonly #life = new Lifecycle('Python runtime');
  readonly #config: SandboxConfig;
  readonly #execArgv: readonly string[];
  /** bubblewrap and its arguments, or null without the OS sandbox. */
  readonly #bwrap: SandboxLaunch['bwrap'];
  /** The database file and its WAL files, mounted writable in the OS sandbox. */
  readonly #databaseFiles: readonly string[];
  #child: ChildProcess | null = null;
  /** Older sandbox processes that take no new calls and end once their calls are done (see #retire). */
  readonly #draining = new Set<ChildProcess>();
  readonly #pending = new Map<number, Pending & { readonly child: ChildProcess }>();
  readonly #hosts = new Map<number, HostApi>();
  readonly #onLog: RuntimeLogSink;
  /** The package sets each sandbox process has been sent (by key). */
  readonly #sentEnvs = new WeakMap<ChildProcess, Set<string>>();
  #nextId = 1;

  /** Start the sandbox process (its workers boot in the background). */
  constructor(opts: PyodideRuntimeOptions = {}) {
    const workers = checkWorkers(opts.workers);
    this.concurrency = workers;
    this.readsQueries = opts.context !== undefined;
    const files = opts.files ?? PACKAGE_FILES;
    const snapshot = opts.snapshot ?? null;
    this.#onLog = opts.onLog ?? writeRuntimeLogToStderr;
    this.#config = {
      workers,
      snapshot,
      ...(opts.interruptGraceMs === undefined ? {} : { interruptGraceMs: opts.interruptGraceMs }),
      ...checkMemoryLimits(opts),
      limits: checkWorkerLimits(opts),
      ...(opts.context === undefined ? {} : { context: opts.context }),
      files,
    };
    const launch = sandboxLaunch(opts, files, snapshot);
    this.#execArgv = launch.execArgv;
    this.#bwrap = launch.bwrap;
    this.#databaseFiles = launch.databaseFiles;
    this.#spawn();
  }

  #spawn(): ChildProcess {
    // Nothing from the engine's environment. MALLOC_ARENA_MAX: glibc would otherwise keep a malloc arena
    // per worker thread, fragmented by the Arrow buffers that pass through (~60 MB less peak RSS).
    const env = { MALLOC_ARENA_MAX: '2' };
    const stdio: StdioOptions = ['ignore', 'ignore', 'pipe', 'ipc'];
    const entry = [this.#config.files.sandboxMain, JSON.stringify(this.#config)];
    let child: ChildProcess;
    if (this.#bwrap === null) {
      child = fork(entry[0]!, entry.slice(1), { execArgv: [...this.#execArgv], env, serialization: 'advanced', stdio });
    } else {
      ensureDatabaseFiles(this.#databaseFiles);
      child = spawn(this.#bwrap.path, [...this.#bwrap.args, process.execPath, ...this.#execArgv, ...entry], { env, serialization: 'advanced', stdio });
    }
    // Whatever reaches the process's stderr outside the console (a crash report, say) is logged line by line.
    const lines = lineSplitter((message) => this.#log({ level: 'error', source: 'sandbox', message }));
    child.stderr?.setEncoding('utf8').on('data', lines.push).on('end', lines.end);
    child.on('message', (m: FromSandbox) => this.#onMessage(child, m));
    this.#keepAlive(child, false);
    // A send to a process that was just killed fails with an 'error' event: its calls fail on 'exit' anyway.
    child.on('error', (e) => this.#log({ level: 'error', source: 'sandbox', message: `sandbox process: ${e.message}` }));
    child.on('exit', (code, signal) => {
      if (this.#child === child) this.#child = null;
      this.#draining.delete(child);
      const error = new InsituError(ErrorCode.RUNTIME_ERROR, `the sandbox process exited (${signal ?? code}); its calls failed, the next call starts a new one`);
      for (const [id, p] of this.#pending) {
        if (p.child !== child) continue;
        this.#pending.delete(id);
        p.reject(error);
      }
    });
    this.#child = child;
    return child;
  }

  #onMessage(child: ChildProcess, m: FromSandbox): void {
    if (m.type === 'result') {
      const p = this.#pending.get(m.id);
      if (p?.child !== child) return;
      this.#pending.delete(m.id);
      p.resolve(m);
      if (!this.#busy(child)) this.#keepAlive(child, false);
      if (this.#draining.has(child) && !this.#busy(child)) child.kill('SIGKILL');
    } else if (m.type === 'host') {
      void this.#serveHost(child, m);
    } else if (m.type === 'log') {
      this.#log(m.entry);
    } else if (m.type === 'stuck') {
      this.#retire(child);
    }
  }

  /**
   * Whether the sandbox process keeps the engine's process alive: only while it has calls to answer. An
   * idle sandbox (its process, IPC channel and stderr pipe) is unreferenced, as idle connection pools
   * are, so a script that forgets `engine.close()` still exits when its work is done (the sandbox
   * process then ends as its channel disconnects).
   */
  #keepAlive(child: ChildProcess, on: boolean): void {
    const handles: ({ ref(): unknown; unref(): unknown } | null | undefined)[] = [child, child.channel, child.stderr as unknown as { ref(): unknown; unref(): unknown } | null];
    for (const h of handles) {
      if (h === null || h === undefined || typeof h.unref !== 'function') continue;
      if (on) h.ref();
      else h.unref();
    }
  }

  #busy(child: ChildProcess): boolean {
    for (const p of this.#pending.values()) if (p.child === child) return true;
    return false;
  }

  /**
   * A worker of `child` did not stop when it was terminated: it is inside native code (a long SQLite
   * statement, say) that no interrupt reaches, still using a core and maybe holding the database's write
   * lock. The only sure stop is the process: new calls go to a new sandbox process at once, and this one
   * is killed as soon as its other calls are done, or after {@link DRAIN_MS}.
   */
  #retire(child: ChildProcess): void {
    if (this.#child !== child || this.#draining.has(child)) return;
    this.#child = null;
    this.#draining.add(child);
    this.#log({
      level: 'warn',
      source: 'sandbox',
      message: 'a UDF stayed in native code after its call was stopped; new calls go to a new sandbox process and this one is ended when its calls finish',
    });
    if (!this.#busy(child)) child.kill('SIGKILL');
    else setTimeout(() => child.kill('SIGKILL'), DRAIN_MS).unref();
  }

  #log(entry: RuntimeLogEntry): void {
    try {
      this.#onLog(entry);
    } catch {
      // A failing log sink loses the line, not the sandbox.
    }
  }

  async #serveHost(child: ChildProcess, m: Extract<FromSandbox, { type: 'host' }>): Promise<void> {
    const api = this.#hosts.get(m.id);
    let reply: ToSandbox;
    try {
      if (api === undefined) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'engine services were asked for by a call that is not running');
      if (!HOST_OPS.has(m.op)) throw new InsituError(ErrorCode.BAD_INPUT, `unknown engine service ${m.op}`);
      const fn = api[m.op as 'dsSave'] as ((...a: unknown[]) => Promise<unknown>) | undefined;
      // An engine whose storage gives UDFs no SQL session has no sql* services: ending nothing is done,
      // a statement is refused as the threads' channel refuses it (see host-dispatch.ts).
      if (fn === undefined && m.op === 'sqlEnd') reply = { type: 'host-reply', rid: m.rid, ok: true, value: undefined };
      else if (typeof fn !== 'function') throw noSqlSession();
      else reply = { type: 'host-reply', rid: m.rid, ok: true, value: await fn.apply(api, [...m.args]) };
    } catch (e) {
      const error = e instanceof InsituError ? e.toJSON() : { code: ErrorCode.RUNTIME_ERROR, message: e instanceof Error ? e.message : String(e) };
      reply = { type: 'host-reply', rid: m.rid, ok: false, error };
    }
    if (child.connected) child.send(reply);
  }

  async #request(build: (id: number) => ToSandbox, host: HostApi | undefined, signal?: AbortSignal, env?: PackageSet): Promise<Extract<FromSandbox, { type: 'result' }>> {
    this.#life.check();
    if (signal?.aborted === true) throw abortError(signal);
    const child = this.#child ?? this.#spawn();
    if (env !== undefined) this.#sendEnv(child, env);
    const id = this.#nextId++;
    if (host !== undefined) this.#hosts.set(id, host);
    const onAbort = () => {
      if (child.connected) child.send({ type: 'abort', id, reason: abortError(signal!).toJSON() } satisfies ToSandbox);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await new Promise<Extract<FromSandbox, { type: 'result' }>>((resolvePromise, reject) => {
        this.#pending.set(id, { resolve: resolvePromise, reject, child });
        this.#keepAlive(child, true);
        child.send(build(id));
      });
      // A task that finished before the abort took effect comes back as it ended (see PyodideRuntime).
      if (!res.ok) throw deserializeError(res.error);
      return res;
    } catch (e) {
      if (signal !== undefined && isAborted(signal)) throw abortError(signal);
      throw e;
    } finally {
      this.#hosts.delete(id);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Send a package set's archives to `child` once (IPC keeps order: before the first task naming it).
   * The child keeps the {@link MAX_SENT_ENVS} most recently used sets; an older one is forgotten on
   * both sides and sent again when a task needs it (a task already in the child holds its set).
   */
  #sendEnv(child: ChildProcess, env: PackageSet): void {
    let sent = this.#sentEnvs.get(child);
    if (sent === undefined) this.#sentEnvs.set(child, (sent = new Set()));
    if (!child.connected) return;
    if (sent.delete(env.key)) {
      sent.add(env.key);
      return;
    }
    child.send({ type: 'env', set: env } satisfies ToSandbox);
    sent.add(env.key);
    for (const old of sent) {
      if (sent.size <= MAX_SENT_ENVS) break;
      sent.delete(old);
      child.send({ type: 'env-forget', key: old } satisfies ToSandbox);
    }
  }

  #sandboxTask(task: Task): SandboxTask {
    return {
      source: task.source,
      name: task.name,
      ...(task.func === undefined ? {} : { func: task.func }),
      input: wireInput(task.input),
      args: task.args,
      ...(task.positional === undefined || task.positional.length === 0 ? {} : { positional: task.positional }),
      ...(task.context === undefined ? {} : { context: task.context }),
      ...(task.orderWithin === undefined || task.orderWithin.length === 0 ? {} : { orderWithin: task.orderWithin }),
      user: task.user,
      host: task.host !== undefined,
      ...(task.env === undefined ? {} : { env: task.env.key }),
      ...(task.graphics === true ? { graphics: true } : {}),
    };
  }

  /** Process id of the sandbox process (for monitoring its memory), if it is running. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** @inheritdoc */
  async run(task: Task, opts: RunOptions = {}): Promise<TaskOutcome> {
    const res = await this.#request((id) => ({ type: 'run', id, groups: false, abortable: opts.signal !== undefined, task: this.#sandboxTask(task) }), task.host, opts.signal, task.env);
    return outcomeOf(res.ok ? res.outcome! : (undefined as never));
  }

  /** @inheritdoc */
  async runGroups(task: Task, opts: RunOptions = {}): Promise<GroupOutcome[]> {
    const res = await this.#request((id) => ({ type: 'run', id, groups: true, abortable: opts.signal !== undefined, task: this.#sandboxTask(task) }), task.host, opts.signal, task.env);
    return groupOutcomes(res.ok ? res.groups! : { keys: null, groups: [], stacked: [] });
  }

  /** @inheritdoc */
  async inspect(source: string, name: string, user: string): Promise<ScriptInspection> {
    const res = await this.#request((id) => ({ type: 'inspect', id, source, name, user }), undefined);
    return (res.ok ? res.inspection : undefined) as ScriptInspection;
  }

  /** Stop the sandbox process (and its workers). Idempotent. */
  close(): Promise<void> {
    return this.#life.close(async () => {
      for (const old of this.#draining) old.kill('SIGKILL');
      const child = this.#child;
      if (child === null || child.exitCode !== null) return;
      // 'close': the process has exited and its stdio pipes are closed (no descriptor left behind).
      const exited = new Promise<void>((r) => child.once('close', () => r()));
      child.send({ type: 'close' } satisfies ToSandbox);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    });
  }
}
