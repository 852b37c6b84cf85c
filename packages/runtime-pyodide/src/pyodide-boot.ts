/**
 * Booting a worker's Pyodide interpreter, with as few imports as possible so a thread gets to Python
 * fast: only `pyodide` and Node built-ins. A memory snapshot of a prepared interpreter, made by the
 * engine, is restored when one is available (read once by the pool into memory its workers share, and
 * checked against its SHA-256 by each worker); otherwise Pyodide boots plainly and the `insitu` package
 * is imported. Workers never write snapshots.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadPyodide, type PyodideInterface } from 'pyodide';
import type { WorkerConfig } from './protocol.js';
import { cappedModuleFactory } from './heap-cap.js';
import { requestSharedWasm } from './shared-wasm.js';
import { snapshotBytes } from './snapshot-cache.js';

/** Where the `insitu` package is written inside the interpreter's file system. */
export const SITE_DIR = '/home/pyodide/insitu-site';

/** Modules imported before a snapshot is taken, so a restored interpreter has them ready. */
const PRELOAD = [
  'insitu',
  'insitu._runner',
  'insitu._capture',
  'insitu._convert',
  'insitu._host',
  'insitu._images',
  'insitu._limits',
  'insitu._pickling',
  'insitu._safe_unpickle',
  'insitu._unpickle_allowlist',
  'insitu.context',
  'insitu.ds',
  'insitu.errors',
  'insitu.frame',
  'insitu._interruptible_waits',
];

/** Copy the Python package at `dir` into the interpreter's file system under `target`. */
export function installTree(py: PyodideInterface, dir: string, target: string): void {
  py.FS.mkdirTree(target);
  for (const entry of readdirSync(dir)) {
    const from = join(dir, entry);
    if (statSync(from).isDirectory()) {
      if (entry !== '__pycache__') installTree(py, from, `${target}/${entry}`);
    } else if (entry.endsWith('.py')) {
      // Bytes, not a string: Emscripten would encode a string one character at a time.
      py.FS.writeFile(`${target}/${entry}`, readFileSync(from));
    }
  }
}

/** Load the `insitu` package into a plainly booted interpreter. */
function loadInsitu(py: PyodideInterface, pythonDir: string): void {
  installTree(py, join(pythonDir, 'insitu'), `${SITE_DIR}/insitu`);
  // Sleeps and timed waits become interruptible before the snapshot, so restored interpreters have them too.
  py.runPython(`import sys\nsys.path.insert(0, ${JSON.stringify(SITE_DIR)})\nimport ${PRELOAD.join(', ')}\ninsitu._interruptible_waits.install()`);
}

/**
 * Start an interpreter for a worker: restore the engine's snapshot when there is one and its bytes
 * are the ones the engine made, else boot plainly (about 2 s).
 */
export async function bootPyodide(config: WorkerConfig): Promise<PyodideInterface> {
  const compiled = config.wasmChannel === null ? undefined : requestSharedWasm(config.wasmChannel);
  const snap = config.snapshot;
  // Pyodide's module script loads while the pool is still reading the snapshot file.
  const [createPyodideModule, saved] = await Promise.all([
    cappedModuleFactory(config.maxMemoryMb, compiled),
    snap?.shared == null ? null : snapshotBytes(snap.shared, snap.sha256),
  ]);
  const base = { stdout: () => {}, stderr: () => {}, createPyodideModule };
  if (saved !== null) {
    try {
      return await loadPyodide({ ...base, _loadSnapshot: saved });
    } catch {
      // From another build: boot plainly.
    }
  }
  const py = await loadPyodide(base);
  loadInsitu(py, config.pythonDir);
  return py;
}

/**
 * Boot an interpreter plainly, load the `insitu` package and return a memory snapshot of it (the
 * engine's snapshot maker; see snapshot-prepare.ts). Pyodide gets no environment variables of the
 * process, so none can end up in the snapshot.
 */
export async function makeSnapshotBytes(pythonDir: string, maxMemoryMb: number): Promise<Uint8Array> {
  const createPyodideModule = await cappedModuleFactory(maxMemoryMb, undefined);
  const py = await loadPyodide({ stdout: () => {}, stderr: () => {}, createPyodideModule, env: {}, _makeSnapshot: true });
  loadInsitu(py, pythonDir);
  return py.makeMemorySnapshot();
}
