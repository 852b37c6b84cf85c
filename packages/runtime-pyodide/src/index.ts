/** @insitu/runtime-pyodide: the Python runtime of insitu, Pyodide interpreters in worker threads. */
export { PyodideRuntime, defaultWorkers } from './pyodide-runtime.js';
export type { PyodideRuntimeOptions } from './pyodide-runtime.js';
export { PythonHost, PYTHON_DIR } from './python-host.js';
export type * from './protocol.js';
