import { Engine, checkResultLimits, type GroupOutcome, type RunOptions, type Runtime, type ScriptInspection, type Task, type TaskOutcome } from '@insitu/core';
import { PACKAGE_FILES, PyodideRuntime, checkMemoryLimits, defaultSnapshotDir, prepareSnapshot } from '@insitu/runtime-pyodide';
import { bundledWorkers } from '../bundled-workers.js';

/**
 * The one pool of Pyodide workers the testing helpers of a test process share: started when
 * `insitu/testing` is imported (see pool-warmup.ts), or by the first helper after {@link closeTestPool},
 * and closed when the process is about to exit. Its workers run in this process (`isolation: 'thread'`):
 * the code under test is your own. Only the runtime is built here, not a whole engine: no database, no
 * session.sql host, no REST server is loaded for it.
 */
let pool: Promise<PyodideRuntime> | null = null;

/** Workers of the shared pool: `INSITU_TEST_WORKERS`, default 1 (test files already run in parallel). */
function workers(): number {
  const n = Number(process.env.INSITU_TEST_WORKERS ?? 1);
  return Number.isSafeInteger(n) && n >= 1 ? n : 1;
}

/** The shared pool's runtime: what createEngine builds for `isolation: 'thread'` on ':memory:', with the engine's default limits. */
async function startRuntime(): Promise<PyodideRuntime> {
  const limits = checkResultLimits({});
  const bundle = bundledWorkers();
  return new PyodideRuntime({
    workers: workers(),
    snapshot: await prepareSnapshot(defaultSnapshotDir(), PACKAGE_FILES.python, checkMemoryLimits({}).maxMemoryMb),
    maxOutputBytes: limits.maxOutputBytes,
    maxResultBytes: limits.maxResultBytes,
    maxTaskResultBytes: limits.maxResultBytesInFlight,
    ...(bundle === null ? {} : { files: { ...PACKAGE_FILES, worker: bundle.worker, sandboxMain: bundle.sandboxMain } }),
  });
}

/** The shared pool's runtime, started on first use; its workers boot in the background. */
export function sharedPool(): Promise<PyodideRuntime> {
  if (pool === null) {
    pool = startRuntime();
    // An idle pool does not keep the process alive; this closes it cleanly when the process is done.
    process.once('beforeExit', () => void closeTestPool());
  }
  return pool;
}

/** Close the shared pool now (a later helper call starts a new one). */
export async function closeTestPool(): Promise<void> {
  const p = pool;
  pool = null;
  if (p !== null) await (await p.catch(() => null))?.close();
}

/** The shared pool's runtime as one engine of many sees it: closing that engine leaves the pool running. */
class SharedRuntime implements Runtime {
  readonly #runtime: Runtime;

  constructor(runtime: Runtime) {
    this.#runtime = runtime;
  }

  get concurrency(): number {
    return this.#runtime.concurrency;
  }

  get readsQueries(): boolean {
    return false;
  }

  run(task: Task, opts?: RunOptions): Promise<TaskOutcome> {
    return this.#runtime.run(task, opts);
  }

  runGroups(task: Task, opts?: RunOptions): Promise<GroupOutcome[]> {
    return this.#runtime.runGroups(task, opts);
  }

  inspect(source: string, name: string, user: string): Promise<ScriptInspection> {
    return this.#runtime.inspect(source, name, user);
  }

  async close(): Promise<void> {}
}

let adapters: Promise<typeof import('@insitu/adapters')> | null = null;

/** The SQLite adapter, loaded on first use (pool-warmup.ts starts loading it while the worker boots). */
export function sqliteAdapter(): Promise<typeof import('@insitu/adapters')> {
  adapters ??= import('@insitu/adapters');
  return adapters;
}

/** An engine of its own in-memory database, on the shared pool. */
export async function helperEngine(): Promise<Engine> {
  const [shared, { SqliteStorage }] = await Promise.all([sharedPool(), sqliteAdapter()]);
  return new Engine(new SqliteStorage(':memory:'), new SharedRuntime(shared));
}
