/** @insitu/runtime-pyodide: the Python runtime of insitu, Pyodide interpreters in worker threads. */
export { PyodideRuntime } from './pyodide-runtime.js';
export { defaultWorkers } from './task-wire.js';
export type { PyodideRuntimeOptions } from './pyodide-runtime.js';
export { checkWorkerLimits, type WorkerLimitOptions, type WorkerLimits } from './worker-limits.js';
export { SandboxRuntime } from './sandbox-runtime.js';
export { PythonHost } from './python-host.js';
export { PACKAGE_FILES, type RuntimeFiles } from './runtime-files.js';
export type * from './protocol.js';
