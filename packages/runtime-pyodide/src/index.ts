/** @insitu/runtime-pyodide: the Python runtime of insitu, Pyodide interpreters in worker threads. */
export { PyodideRuntime } from './pyodide-runtime.js';
export { defaultWorkers } from './task-wire.js';
export type { PyodideRuntimeOptions } from './pyodide-runtime.js';
export { checkWorkerLimits, type WorkerLimitOptions, type WorkerLimits } from './worker-limits.js';
export { SandboxRuntime } from './sandbox-runtime.js';
export { PythonHost } from './python-host.js';
export { PACKAGE_FILES, type RuntimeFiles } from './runtime-files.js';
export { writeRuntimeLogToStderr, type RuntimeLogEntry, type RuntimeLogLevel, type RuntimeLogSink } from './runtime-log.js';
export type * from './protocol.js';
export { prepareSnapshot } from './snapshot-prepare.js';
export { defaultSnapshotDir, type PreparedSnapshot } from './snapshot-cache.js';
export { findBubblewrap, type OsSandbox } from './os-sandbox.js';
export { checkMemoryLimits } from './memory-limits.js';
export { PyodidePackageIndex, normalizePackageName, type PackageIndexOptions } from './package-index.js';
