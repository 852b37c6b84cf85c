import { Engine, type GroupOutcome, type RunOptions, type Runtime, type ScriptInspection, type Task, type TaskOutcome } from '@insitu/core';
import { SqliteStorage } from '@insitu/adapters';
import { createEngine } from '../create-engine.js';

/**
 * The one pool of Pyodide workers the testing helpers of a test process share: started by the first
 * helper that needs it, closed when the process is about to exit (or by {@link closeTestPool}). Its
 * workers run in this process (`isolation: 'thread'`): the code under test is your own.
 */
let pool: Promise<Engine> | null = null;

/** Workers of the shared pool: `INSITU_TEST_WORKERS`, default 1 (test files already run in parallel). */
function workers(): number {
  const n = Number(process.env.INSITU_TEST_WORKERS ?? 1);
  return Number.isSafeInteger(n) && n >= 1 ? n : 1;
}

/** The shared pool's engine, started on first use. */
export function sharedPool(): Promise<Engine> {
  if (pool === null) {
    pool = createEngine({ database: ':memory:', isolation: 'thread', workers: workers() });
    // An idle pool does not keep the process alive; this closes it cleanly when the process is done.
    process.once('beforeExit', () => void closeTestPool());
  }
  return pool;
}

/** Close the shared pool now (a later helper call starts a new one). */
export async function closeTestPool(): Promise<void> {
  const p = pool;
  pool = null;
  if (p !== null) await (await p).close();
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

/** An engine of its own in-memory database, on the shared pool. */
export async function helperEngine(): Promise<Engine> {
  const shared = await sharedPool();
  return new Engine(new SqliteStorage(':memory:'), new SharedRuntime(shared.runtime));
}
