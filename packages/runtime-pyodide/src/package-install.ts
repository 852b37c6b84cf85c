/**
 * Installing verified package archives into a worker's interpreter (see package-index.ts for where
 * they come from). Pyodide's internal installer is used — what `loadPackage` itself calls — because it
 * also loads a package's shared libraries, which `pyodide.unpackArchive` does not; the Pyodide version
 * is pinned exactly (as for snapshots), so the internal API does not move under it.
 */
import { ErrorCode, type PackageArchive, type SerializedError } from '@insitu/core';
import { createHash } from 'node:crypto';
import type { PyodideInterface } from 'pyodide';

/** The part of Pyodide's internal API that installs an archive. */
interface PyodideApi {
  install(bytes: Uint8Array, fileName: string, installDir: string, metadata: Map<string, string>): Promise<void>;
  package_loader: { get_install_dir(kind: string): string };
}

/**
 * Install `packages` in order into `py`: each archive's SHA-256 is checked again first (the engine
 * checked it against the index; this catches bytes changed on the way), then it is unpacked into
 * site-packages (or the shared-library directory). Resolves to null, or to the error that stopped it
 * (PACKAGE_INTEGRITY before anything of that archive is written; PACKAGE_MISSING when the installer
 * failed): the interpreter is then in no state to serve calls and is to be replaced.
 */
export async function installArchives(py: PyodideInterface, packages: readonly PackageArchive[]): Promise<SerializedError | null> {
  const api = (py as unknown as { _api: PyodideApi })._api;
  for (const p of packages) {
    const digest = createHash('sha256').update(p.bytes).digest('hex');
    if (digest !== p.sha256) {
      return { code: ErrorCode.PACKAGE_INTEGRITY, message: `package ${p.name} (${p.fileName}) reached the worker with SHA-256 ${digest}, not ${p.sha256}; it was not installed` };
    }
    try {
      await api.install(p.bytes, p.fileName, api.package_loader.get_install_dir(p.installDir), new Map([['INSTALLER', 'insitu']]));
    } catch (e) {
      const why = e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e);
      return { code: ErrorCode.PACKAGE_MISSING, message: `package ${p.name} (${p.fileName}) could not be installed: ${why}` };
    }
  }
  py.runPython('import importlib\nimportlib.invalidate_caches()');
  return null;
}
