import {
  ErrorCode,
  InsituError,
  Lifecycle,
  deserializeError,
  type RunOptions,
  type Runtime,
  type ScriptInspection,
  type Task,
  type TaskOutcome,
  type TaskValue,
} from '@insitu/core';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { InspectResponse, RunRequest, RunResponse, WireInput, WorkerRequest } from './protocol.js';
import { moving } from './transfer.js';

/** Options for {@link PyodideRuntime}. */
export interface PyodideRuntimeOptions {
  /** Worker threads, each with its own Pyodide interpreter. Default min(available cores, 4). */
  readonly workers?: number;
}

/** Default worker count: one per core, at most 4. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(availableParallelism(), 4));
}

const WORKER_FILE = fileURLToPath(new URL('./worker.js', import.meta.url));

/**
 * Runs UDFs in a piscina pool of worker threads, one warm Pyodide interpreter per thread. All workers
 * start when the runtime is created and are reused for every task. This library uses worker threads:
 * each costs one Pyodide heap (tens of MB).
 */
export class PyodideRuntime implements Runtime {
  /** Number of workers (tasks that can run at once). */
  readonly concurrency: number;
  readonly #pool: Piscina;
  readonly #life = new Lifecycle('Python runtime');

  /** Start the pool; workers load Pyodide in the background. */
  constructor(opts: PyodideRuntimeOptions = {}) {
    const workers = opts.workers ?? defaultWorkers();
    if (!Number.isSafeInteger(workers) || workers < 1 || workers > 64) {
      throw new InsituError(ErrorCode.BAD_INPUT, `workers must be an integer from 1 to 64, got ${String(workers)}`);
    }
    this.concurrency = workers;
    this.#pool = new Piscina({
      filename: WORKER_FILE,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
    });
  }

  /** @inheritdoc */
  async run(task: Task, opts: RunOptions = {}): Promise<TaskOutcome> {
    this.#life.check();
    let input: WireInput;
    const buffers: ArrayBufferLike[] = [];
    if (task.input.kind === 'data') {
      const ipc = tableToIPC(task.input.data, 'stream');
      buffers.push(ipc.buffer);
      input = { kind: 'data', ipc, inputType: task.input.inputType };
    } else {
      input = task.input;
    }
    const req: RunRequest = {
      type: 'run',
      source: task.source,
      name: task.name,
      func: task.func ?? null,
      input,
      argsJson: JSON.stringify(task.args),
    };
    const res = (await this.#submit(req, buffers, opts.signal)) as RunResponse;
    if (!res.ok) throw deserializeError(res.error);
    let value: TaskValue;
    if (res.value.kind === 'table') value = { kind: 'table', table: tableFromIPC(res.value.ipc) };
    else if (res.value.kind === 'json') value = { kind: 'json', value: JSON.parse(res.value.json) };
    else value = { kind: 'bytes', value: res.value.value };
    return { value, stdout: res.stdout, stderr: res.stderr, images: [] };
  }

  /** @inheritdoc */
  async inspect(source: string, name: string): Promise<ScriptInspection> {
    this.#life.check();
    const res = (await this.#submit({ type: 'inspect', source, name }, [])) as InspectResponse;
    return res.ok ? { ok: true, functions: res.functions } : { ok: false, error: res.error };
  }

  async #submit(req: WorkerRequest, buffers: ArrayBufferLike[], signal?: AbortSignal): Promise<unknown> {
    try {
      return await this.#pool.run(moving(req, buffers), signal === undefined ? {} : { signal });
    } catch (e) {
      if (signal?.aborted === true) throw new InsituError(ErrorCode.CANCELLED, 'the call was cancelled; its worker was replaced', { cause: e });
      if (this.#life.closed) throw new InsituError(ErrorCode.CLOSED, 'the Python runtime was closed while the call ran', { cause: e });
      throw new InsituError(ErrorCode.RUNTIME_ERROR, `a Python worker failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  /** Stop every worker. Idempotent. */
  close(): Promise<void> {
    return this.#life.close(() => this.#pool.destroy());
  }
}
