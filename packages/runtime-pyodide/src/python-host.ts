import { ErrorCode, type SerializedError } from '@insitu/core';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPyodide, type PyodideInterface } from 'pyodide';
import { fromPyColumns, toWireColumns, type PyColumn } from './arrow-columns.js';
import type { InspectRequest, InspectResponse, RunRequest, RunResponse, WireValue } from './protocol.js';

/** Directory of the Python package `insitu` shipped beside the compiled code. */
export const PYTHON_DIR = fileURLToPath(new URL('../python/', import.meta.url));

/** Where the `insitu` package is written inside the interpreter's file system. */
const SITE_DIR = '/home/pyodide/insitu-site';

interface PyCallable {
  (...args: unknown[]): PyResult;
}
interface PyResult {
  toJs(opts: { dict_converter: typeof Object.fromEntries; create_pyproxies: boolean }): unknown;
  destroy(): void;
}

/** Copy the Python package at `dir` into the interpreter's file system under `target`. */
function installTree(py: PyodideInterface, dir: string, target: string): void {
  py.FS.mkdirTree(target);
  for (const entry of readdirSync(dir)) {
    const from = join(dir, entry);
    if (statSync(from).isDirectory()) {
      if (entry !== '__pycache__') installTree(py, from, `${target}/${entry}`);
    } else if (entry.endsWith('.py')) {
      py.FS.writeFile(`${target}/${entry}`, readFileSync(from, 'utf8'));
    }
  }
}

/**
 * One Pyodide interpreter with the `insitu` package loaded: the logic of a worker thread, usable
 * without threads too. Start it once and reuse it for every task.
 */
export class PythonHost {
  readonly #runWire: PyCallable;
  readonly #inspect: PyCallable;

  private constructor(py: PyodideInterface) {
    installTree(py, join(PYTHON_DIR, 'insitu'), `${SITE_DIR}/insitu`);
    py.runPython(`import sys\nsys.path.insert(0, ${JSON.stringify(SITE_DIR)})\nimport insitu._runner`);
    const runner = py.pyimport('insitu._runner') as unknown as Record<string, PyCallable>;
    this.#runWire = runner['run_wire']!;
    this.#inspect = runner['inspect']!;
  }

  /** Load Pyodide (1.5–2.5 s) and the `insitu` package. */
  static async start(): Promise<PythonHost> {
    const py = await loadPyodide({ stdout: () => {}, stderr: () => {} });
    return new PythonHost(py);
  }

  /** Run one UDF call. Never throws for user errors: they come back as `{ ok: false }`. */
  run(req: RunRequest): RunResponse {
    const columns = req.input.kind === 'data' ? toWireColumns(tableFromIPC(req.input.ipc)) : undefined;
    const task = {
      source: req.source,
      name: req.name,
      func: req.func ?? undefined,
      input_kind: req.input.kind,
      input_type: req.input.kind === 'data' ? req.input.inputType : 'auto',
      index: req.input.kind === 'index' ? req.input.index : undefined,
      args_json: req.argsJson,
    };
    const out = this.#call(this.#runWire, task, columns) as
      | { ok: true; kind: 'table'; columns: PyColumn[]; stdout: string; stderr: string }
      | { ok: true; kind: 'json'; json: string; stdout: string; stderr: string }
      | { ok: true; kind: 'bytes'; value: Uint8Array; stdout: string; stderr: string }
      | { ok: false; error: SerializedError };
    if (!out.ok) return { ok: false, error: out.error };
    let value: WireValue;
    if (out.kind === 'table') {
      const normalized = out.columns.map((c) => ({ ...c, offsets: c.offsets ?? undefined, validity: c.validity ?? undefined }));
      value = { kind: 'table', ipc: tableToIPC(fromPyColumns(normalized), 'stream') };
    } else if (out.kind === 'json') {
      value = { kind: 'json', json: out.json };
    } else {
      value = { kind: 'bytes', value: out.value };
    }
    return { ok: true, value, stdout: out.stdout, stderr: out.stderr };
  }

  /** Parse a script and list its top-level functions. */
  inspect(req: InspectRequest): InspectResponse {
    return this.#call(this.#inspect, req.source, req.name) as InspectResponse;
  }

  #call(fn: PyCallable, ...args: unknown[]): unknown {
    let result: PyResult | undefined;
    try {
      result = fn(...args);
      return result.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
    } catch (e) {
      const error: SerializedError = {
        code: ErrorCode.RUNTIME_ERROR,
        message: `the Python runtime failed outside the UDF: ${e instanceof Error ? e.message : String(e)}`,
      };
      return { ok: false, error };
    } finally {
      result?.destroy?.();
    }
  }
}
