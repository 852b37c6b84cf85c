import {
  ErrorCode,
  InsituError,
  Lifecycle,
  abortError,
  deserializeError,
  type GroupOutcome,
  type HostApi,
  type RunOptions,
  type Runtime,
  type ScriptInspection,
  type Task,
  type TaskOutcome,
} from '@insitu/core';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_FILES, type RuntimeFiles } from './runtime-files.js';
import type { PyodideRuntimeOptions } from './pyodide-runtime.js';
import { checkMemoryLimits } from './memory-limits.js';
import { checkWorkerLimits } from './worker-limits.js';
import { checkWorkers, groupOutcomes, isAborted, tableValue, wireInput } from './task-wire.js';
import type { FromSandbox, SandboxConfig, SandboxOutcome, SandboxTask, ToSandbox } from './sandbox-protocol.js';
import { defaultSnapshotDir } from './snapshot-cache.js';

/** The deepest directory containing every path. */
function commonDir(paths: readonly string[]): string {
  const parts = paths.map((p) => p.split(sep));
  const out: string[] = [];
  for (let i = 0; ; i++) {
    const seg = parts[0]![i];
    if (seg === undefined || parts.some((p) => p[i] !== seg)) break;
    out.push(seg);
  }
  return out.join(sep) || sep;
}

/**
 * The directory holding all the code the sandbox process loads: this package and its dependencies,
 * the entries it starts (and the dependencies they resolve) and the context module.
 */
function codeRoot(files: RuntimeFiles, contextModule: string | undefined): string {
  const here = fileURLToPath(new URL('..', import.meta.url));
  const require = createRequire(import.meta.url);
  const fromHere = ['pyodide', 'apache-arrow', 'piscina', '@insitu/core'].map((d) => dirname(require.resolve(d)));
  const fromEntries = [files.worker, files.sandboxMain].flatMap((f) => ['pyodide', 'piscina'].map((d) => dirname(createRequire(f).resolve(d))));
  const entries = [files.worker, files.sandboxMain, ...(contextModule === undefined ? [] : [fileURLToPath(contextModule)])].map((f) => dirname(f));
  return commonDir([here, files.python, ...fromHere, ...fromEntries, ...entries].map((p) => realpathSync(p)));
}

function outcomeOf(o: SandboxOutcome): TaskOutcome {
  const v = o.value;
  const value =
    v.kind === 'table' ? tableValue(v.ipc) : v.kind === 'json' ? { kind: 'json' as const, value: v.value as never } : v;
  return { value, stdout: o.stdout, stderr: o.stderr, images: [] };
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
  readonly #execArgv: string[];
  #child: ChildProcess | null = null;
  readonly #pending = new Map<number, Pending>();
  readonly #hosts = new Map<number, HostApi>();
  #nextId = 1;

  /** Start the sandbox process (its workers boot in the background). */
  constructor(opts: PyodideRuntimeOptions = {}) {
    const workers = checkWorkers(opts.workers);
    this.concurrency = workers;
    this.readsQueries = opts.context !== undefined;
    const snapshotDir = opts.snapshotDir === false ? false : resolve(opts.snapshotDir ?? defaultSnapshotDir());
    if (snapshotDir !== false) mkdirSync(snapshotDir, { recursive: true });
    const files = opts.files ?? PACKAGE_FILES;
    this.#config = {
      workers,
      snapshotDir,
      ...(opts.interruptGraceMs === undefined ? {} : { interruptGraceMs: opts.interruptGraceMs }),
      ...checkMemoryLimits(opts),
      limits: checkWorkerLimits(opts),
      ...(opts.context === undefined ? {} : { context: opts.context }),
      files,
    };
    const reads = [codeRoot(files, opts.context?.module)];
    const writes: string[] = [];
    if (snapshotDir !== false) {
      reads.push(snapshotDir);
      writes.push(snapshotDir);
    }
    if (opts.context !== undefined) {
      const dbDir = dirname(resolve(opts.context.database));
      reads.push(dbDir);
      writes.push(dbDir);
    }
    this.#execArgv = [
      '--experimental-permission',
      ...reads.map((p) => `--allow-fs-read=${p}${sep}*`),
      ...writes.map((p) => `--allow-fs-write=${p}${sep}*`),
      '--allow-worker',
      ...(opts.context === undefined ? [] : ['--allow-addons']),
      '--disallow-code-generation-from-strings',
      '--no-warnings',
    ];
    this.#spawn();
  }

  #spawn(): ChildProcess {
    const child = fork(this.#config.files.sandboxMain, [JSON.stringify(this.#config)], {
      execArgv: this.#execArgv,
      // Nothing from the engine's environment. MALLOC_ARENA_MAX: glibc would otherwise keep a malloc arena
      // per worker thread, fragmented by the Arrow buffers that pass through (~60 MB less peak RSS).
      env: { MALLOC_ARENA_MAX: '2' },
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.on('message', (m: FromSandbox) => this.#onMessage(m));
    child.on('exit', (code, signal) => {
      if (this.#child === child) this.#child = null;
      const error = new InsituError(ErrorCode.RUNTIME_ERROR, `the sandbox process exited (${signal ?? code}); its calls failed, the next call starts a new one`);
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    });
    this.#child = child;
    return child;
  }

  #onMessage(m: FromSandbox): void {
    if (m.type === 'result') {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      p?.resolve(m);
    } else if (m.type === 'host') {
      void this.#serveHost(m);
    }
  }

  async #serveHost(m: Extract<FromSandbox, { type: 'host' }>): Promise<void> {
    const api = this.#hosts.get(m.id);
    let reply: ToSandbox;
    try {
      if (api === undefined) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'engine services were asked for by a call that is not running');
      const fn = api[m.op as 'dsSave'] as ((...a: unknown[]) => Promise<unknown>) | undefined;
      if (typeof fn !== 'function' || !m.op.startsWith('ds')) throw new InsituError(ErrorCode.BAD_INPUT, `unknown engine service ${m.op}`);
      reply = { type: 'host-reply', rid: m.rid, ok: true, value: await fn.apply(api, [...m.args]) };
    } catch (e) {
      const error = e instanceof InsituError ? e.toJSON() : { code: ErrorCode.RUNTIME_ERROR, message: e instanceof Error ? e.message : String(e) };
      reply = { type: 'host-reply', rid: m.rid, ok: false, error };
    }
    this.#child?.send(reply);
  }

  async #request(build: (id: number) => ToSandbox, host: HostApi | undefined, signal?: AbortSignal): Promise<Extract<FromSandbox, { type: 'result' }>> {
    this.#life.check();
    if (signal?.aborted === true) throw abortError(signal);
    const child = this.#child ?? this.#spawn();
    const id = this.#nextId++;
    if (host !== undefined) this.#hosts.set(id, host);
    const onAbort = () => child.send({ type: 'abort', id, reason: abortError(signal!).toJSON() } satisfies ToSandbox);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await new Promise<Extract<FromSandbox, { type: 'result' }>>((resolvePromise, reject) => {
        this.#pending.set(id, { resolve: resolvePromise, reject });
        child.send(build(id));
      });
      if (signal !== undefined && isAborted(signal)) throw abortError(signal);
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

  #sandboxTask(task: Task): SandboxTask {
    return {
      source: task.source,
      name: task.name,
      ...(task.func === undefined ? {} : { func: task.func }),
      input: wireInput(task.input),
      args: task.args,
      ...(task.context === undefined ? {} : { context: task.context }),
      ...(task.host === undefined ? {} : { user: task.host.user }),
    };
  }

  /** Process id of the sandbox process (for monitoring its memory), if it is running. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** @inheritdoc */
  async run(task: Task, opts: RunOptions = {}): Promise<TaskOutcome> {
    const res = await this.#request((id) => ({ type: 'run', id, groups: false, abortable: opts.signal !== undefined, task: this.#sandboxTask(task) }), task.host, opts.signal);
    return outcomeOf(res.ok ? res.outcome! : (undefined as never));
  }

  /** @inheritdoc */
  async runGroups(task: Task, opts: RunOptions = {}): Promise<GroupOutcome[]> {
    const res = await this.#request((id) => ({ type: 'run', id, groups: true, abortable: opts.signal !== undefined, task: this.#sandboxTask(task) }), task.host, opts.signal);
    return groupOutcomes(res.ok ? res.groups! : { keys: null, groups: [], stacked: [] });
  }

  /** @inheritdoc */
  async inspect(source: string, name: string): Promise<ScriptInspection> {
    const res = await this.#request((id) => ({ type: 'inspect', id, source, name }), undefined);
    return (res.ok ? res.inspection : undefined) as ScriptInspection;
  }

  /** Stop the sandbox process (and its workers). Idempotent. */
  close(): Promise<void> {
    return this.#life.close(async () => {
      const child = this.#child;
      if (child === null || child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.send({ type: 'close' } satisfies ToSandbox);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    });
  }
}
