/**
 * Booting a worker's Pyodide interpreter, with as few imports as possible so a thread gets to Python
 * fast: only `pyodide` and Node built-ins. A memory snapshot of a prepared interpreter is restored when
 * one is available (shared by the pool as a SharedArrayBuffer, or read from disk); otherwise Pyodide
 * boots plainly, the `insitu` package is imported, and a snapshot is left on disk for the next start.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadPyodide, type PyodideInterface } from 'pyodide';
import type { WorkerConfig } from './protocol.js';
import { cappedModuleFactory } from './heap-cap.js';
import { requestSharedWasm } from './shared-wasm.js';
import { readSnapshot, sharedSnapshotBytes, writeSnapshot } from './snapshot-cache.js';

/** Where the `insitu` package is written inside the interpreter's file system. */
export const SITE_DIR = '/home/pyodide/insitu-site';

/** Modules imported before a snapshot is taken, so a restored interpreter has them ready. */
const PRELOAD = [
  'insitu',
  'insitu._runner',
  'insitu._capture',
  'insitu._convert',
  'insitu._host',
  'insitu._limits',
  'insitu._pickling',
  'insitu.context',
  'insitu.ds',
  'insitu.errors',
  'insitu.frame',
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

/** Start an interpreter for a worker (see the module comment). */
export async function bootPyodide(config: WorkerConfig): Promise<PyodideInterface> {
  const compiled = config.wasmChannel === null ? undefined : requestSharedWasm(config.wasmChannel);
  const createPyodideModule = await cappedModuleFactory(config.maxMemoryMb, compiled);
  const base = { stdout: () => {}, stderr: () => {}, createPyodideModule };
  const snap = config.snapshot;
  const shared = snap?.shared == null ? null : await sharedSnapshotBytes(snap.shared);
  const saved = snap === null ? null : (shared ?? readSnapshot(snap.path));
  if (saved !== null) {
    try {
      return await loadPyodide({ ...base, _loadSnapshot: saved });
    } catch {
      // Unreadable or from another build: boot plainly and replace it.
    }
  }
  const py = await loadPyodide({ ...base, ...(snap === null ? {} : { _makeSnapshot: true }) });
  installTree(py, join(config.pythonDir, 'insitu'), `${SITE_DIR}/insitu`);
  py.runPython(`import sys\nsys.path.insert(0, ${JSON.stringify(SITE_DIR)})\nimport ${PRELOAD.join(', ')}`);
  if (snap !== null) writeSnapshot(snap.path, snap.dir, py.makeMemorySnapshot());
  return py;
}
