/**
 * How the sandbox process is started: Node's flags (the permission model) and, by default, the
 * bubblewrap command around it (see os-sandbox.ts).
 */
import { badInput } from '@insitu/core';
import { closeSync, openSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bubblewrapArgs, bubblewrapMissing, findBubblewrap } from './os-sandbox.js';
import type { PyodideRuntimeOptions } from './pyodide-runtime.js';
import type { RuntimeFiles } from './runtime-files.js';
import type { PreparedSnapshot } from './snapshot-cache.js';

/** The deepest directory containing every path. */
function commonDir(paths: readonly string[]): string {
  const parts = paths.map((p) => p.split(sep));
  const out: string[] = [];
  for (let i = 0; ; i++) {
    const seg = parts[0]![i];
    if (seg === undefined || parts.some((p) => p[i] !== seg)) break;
    out.push(seg);
  }
  return out.join(sep) || sep;
}

/** A module given as a file URL or a path, as a path. */
function modulePath(module: string): string {
  return module.startsWith('file:') ? fileURLToPath(module) : module;
}

/**
 * The directory holding all the code the sandbox process loads: this package and its dependencies,
 * the entries it starts (and the dependencies they resolve) and the context module.
 */
function codeRoot(files: RuntimeFiles, contextModule: string | undefined): string {
  const here = fileURLToPath(new URL('..', import.meta.url));
  const require = createRequire(import.meta.url);
  const fromHere = ['pyodide', 'apache-arrow', 'piscina', '@insitu/core'].map((d) => dirname(require.resolve(d)));
  const fromEntries = [files.worker, files.sandboxMain].flatMap((f) => ['pyodide', 'piscina'].map((d) => dirname(createRequire(f).resolve(d))));
  const entries = [files.worker, files.sandboxMain, ...(contextModule === undefined ? [] : [contextModule])].map((f) => dirname(f));
  return commonDir([here, files.python, ...fromHere, ...fromEntries, ...entries].map((p) => realpathSync(p)));
}

/**
 * The directories of `dirs` that are not inside another of them. Node 20's permission model loses the
 * grant of a directory itself when a directory inside it is granted too (`--allow-fs-read=/app/*` and
 * `--allow-fs-read=/app/node_modules/*` deny `existsSync('/app')`, which better-sqlite3 calls for a
 * database in /app: the layout of an npm-installed project whose database sits beside node_modules).
 */
export function outermost(dirs: readonly string[]): string[] {
  const inside = (a: string, b: string) => a !== b && (a + sep).startsWith(b.endsWith(sep) ? b : b + sep);
  return [...new Set(dirs)].filter((d) => !dirs.some((o) => inside(d, o)));
}

/** What starting the sandbox process takes. */
export interface SandboxLaunch {
  /** Node's flags for the sandbox process. */
  readonly execArgv: readonly string[];
  /** bubblewrap and its arguments (the Node binary and its arguments follow), or null without the OS sandbox. */
  readonly bwrap: { readonly path: string; readonly args: readonly string[] } | null;
  /** The database file and its WAL files: the only files mounted writable in the OS sandbox. */
  readonly databaseFiles: readonly string[];
}

/**
 * The database's WAL files exist while the engine holds it open in WAL mode; create any missing one
 * (empty is valid), since the sandbox can create no file of its own.
 */
export function ensureDatabaseFiles(files: readonly string[]): void {
  for (const f of files.slice(1)) closeSync(openSync(f, 'a'));
}

/** The flags and command for a sandbox process with these options. */
export function sandboxLaunch(opts: PyodideRuntimeOptions, files: RuntimeFiles, snapshot: PreparedSnapshot | null): SandboxLaunch {
  const contextModule = opts.context === undefined ? undefined : modulePath(opts.context.module);
  const database = opts.context === undefined ? undefined : resolve(opts.context.database);
  const osSandbox = opts.osSandbox ?? 'bubblewrap';
  if (osSandbox !== 'bubblewrap' && osSandbox !== 'none') throw badInput(`osSandbox must be 'bubblewrap' or 'none', got ${JSON.stringify(osSandbox)}`);
  // Node's permission model, inside the OS sandbox too: reads of the code, the snapshot and the
  // database directory (better-sqlite3 checks that it exists); no writes from JavaScript. Without the
  // OS sandbox, SQLite's journal needs the database directory writable.
  const reads = outermost([
    codeRoot(files, contextModule),
    ...(snapshot === null ? [] : [dirname(snapshot.path)]),
    ...(database === undefined ? [] : [dirname(database)]),
  ]);
  const writes = osSandbox === 'none' && database !== undefined ? [dirname(database)] : [];
  const execArgv = [
    '--experimental-permission',
    ...reads.map((p) => `--allow-fs-read=${p}${sep}*`),
    ...writes.map((p) => `--allow-fs-write=${p}${sep}*`),
    '--allow-worker',
    // The workers' own SQLite connections are a native addon. Inside the OS sandbox the only writable
    // files are the database's, mounted noexec, and no directory is writable: nothing can be loaded.
    ...(opts.context === undefined ? [] : ['--allow-addons']),
    '--disallow-code-generation-from-strings',
    '--no-warnings',
  ];
  if (osSandbox === 'none') return { execArgv, bwrap: null, databaseFiles: [] };
  const bwrap = findBubblewrap();
  if (bwrap === null) throw bubblewrapMissing();
  const databaseFiles = database === undefined ? [] : [database, `${database}-wal`, `${database}-shm`];
  ensureDatabaseFiles(databaseFiles);
  const args = bubblewrapArgs({
    execPath: process.execPath,
    modules: [files.worker, files.sandboxMain, ...(contextModule === undefined ? [] : [contextModule])],
    reads: [files.python, ...(snapshot === null ? [] : [snapshot.path])],
    writes: databaseFiles,
  });
  return { execArgv, bwrap: { path: bwrap, args }, databaseFiles };
}
