/**
 * What a worker in the sandbox process does to itself before and after Pyodide starts. The real
 * boundaries are the process's Node permission model and `--disallow-code-generation-from-strings`;
 * this removes the JS bridges from Python's reach so a UDF cannot even start to use them.
 */
import { constants as fsConstants } from 'node:fs';
import type { PyodideInterface } from 'pyodide';

/** Pyodide reads `process.binding('constants').fs`, which the permission model blocks: answer just that. */
export function shimProcessBinding(): void {
  const constants = { fs: fsConstants };
  Object.defineProperty(process, 'binding', {
    configurable: true,
    value: (name: string) => {
      if (name === 'constants') return constants;
      throw new Error(`process.binding(${JSON.stringify(name)}) is not available in the insitu sandbox`);
    },
  });
}

/**
 * Remove Python's routes to JavaScript and the shell: the `js` and `pyodide_js` modules (and the
 * `pyodide` helpers built on them), `os.system` and `posix.system`.
 */
export function hardenInterpreter(py: PyodideInterface): void {
  for (const name of ['js', 'pyodide_js']) {
    try {
      py.unregisterJsModule(name);
    } catch {
      // not registered
    }
  }
  py.runPython(`
import sys, os, posix
for _name in [m for m in list(sys.modules) if m in ("js", "pyodide_js") or m.startswith(("pyodide.http", "pyodide.code", "pyodide_js."))]:
    del sys.modules[_name]
for _mod in (os, posix):
    if hasattr(_mod, "system"):
        delattr(_mod, "system")
del _name, _mod
`);
}
