/**
 * The OS-level sandbox around the sandbox process: bubblewrap (`bwrap`, Debian package `bubblewrap`)
 * puts it in new user, PID, network, IPC, UTS and cgroup namespaces, as an unprivileged user with no
 * capabilities, in an empty root where exactly the files it needs are mounted: read-only the Node
 * binary and its shared libraries, the code it loads and the start-up snapshot; writable only the
 * database file and its WAL files (no directory), so nothing can be created there, let alone loaded.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { defaultSnapshotDir } from './snapshot-cache.js';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { ErrorCode, InsituError } from '@insitu/core';

/**
 * How the sandbox process is confined by the OS: `'bubblewrap'` (default) or `'none'` — only Node's
 * permission model, which does not cover signals, network, or SQLite's own file I/O (an explicit opt-out).
 */
export type OsSandbox = 'bubblewrap' | 'none';

/** The `bwrap` executable on PATH, or null. */
export function findBubblewrap(path = process.env['PATH'] ?? '/usr/bin:/bin'): string | null {
  return which('bwrap', path.split(delimiter));
}

/** The error of an engine that wants bubblewrap where there is none. */
export function bubblewrapMissing(): InsituError {
  const how =
    process.platform === 'linux'
      ? 'install it (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`)'
      : `it exists only on Linux (this is ${process.platform})`;
  return new InsituError(
    ErrorCode.RUNTIME_ERROR,
    `isolation 'process' runs UDFs inside an OS sandbox made by bubblewrap (bwrap), which was not found on PATH: ${how}, ` +
      "or create the engine with osSandbox: 'none' to accept the weaker Node-permission-model-only sandbox",
  );
}

/**
 * Paths to mount, with every symbolic link on the way recreated inside, so a path resolves in the
 * sandbox exactly as it does outside.
 */
class MountPlan {
  readonly #links = new Map<string, string>();
  readonly #binds = new Map<string, boolean>();

  /** Mount `path` (a file or directory, read-only unless `write`) at the same place. */
  expose(path: string, write = false): this {
    const real = this.#walk(resolve(path), 0);
    this.#binds.set(real, write || (this.#binds.get(real) ?? false));
    return this;
  }

  /** Resolve `path` component by component, noting each symbolic link met; the real path. */
  #walk(path: string, depth: number): string {
    if (depth > 40) throw new Error(`too many symbolic links under ${path}`);
    let cur = '/';
    for (const part of path.split('/')) {
      if (part === '') continue;
      const next = cur === '/' ? `/${part}` : `${cur}/${part}`;
      if (lstatSync(next).isSymbolicLink()) {
        const target = readlinkSync(next);
        this.#links.set(next, target);
        cur = this.#walk(isAbsolute(target) ? target : resolve(cur, target), depth + 1);
      } else {
        cur = next;
      }
    }
    return cur;
  }

  /**
   * bwrap arguments for the plan: links first, then binds, parents before children; last, the root
   * and /dev (tmpfs that bwrap builds, writable and not noexec) are made read-only, so the only
   * writable paths left are the files bound writable.
   */
  args(): string[] {
    const out: string[] = [];
    for (const [link, target] of this.#links) out.push('--symlink', target, link);
    for (const [path, write] of [...this.#binds].sort(([a], [b]) => a.length - b.length)) {
      out.push(write ? '--bind' : '--ro-bind', path, path);
    }
    out.push('--remount-ro', '/dev', '--remount-ro', '/');
    return out;
  }
}

/** Libraries found per binary (null: ldd could not run), kept for the life of the process. */
const librariesOf = new Map<string, string[] | null>();

/**
 * Find the shared libraries of `binaries` with one `ldd` run (it takes several files and prints a
 * section per file): a statically linked one needs none; null for all when ldd itself cannot run.
 */
function findLibraries(binaries: readonly string[]): void {
  const cache = readLibraryCache();
  const todo = [...new Set(binaries)].filter((b) => {
    if (librariesOf.has(b)) return false;
    const hit = cache.get(b);
    if (hit !== undefined && hit.stamp === stampOf(b)) librariesOf.set(b, hit.libs);
    return !librariesOf.has(b);
  });
  if (todo.length === 0) return;
  try {
    runLdd(todo);
  } finally {
    writeLibraryCache(cache, todo);
  }
}

/** Where the libraries found are kept between processes (ldd takes ~20 ms a binary). */
function libraryCachePath(): string {
  return join(defaultSnapshotDir(), 'libraries.json');
}

/** A file's identity for the cache: size and mtime. */
function stampOf(path: string): string {
  try {
    const st = statSync(path);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}

function readLibraryCache(): Map<string, { stamp: string; libs: string[] }> {
  try {
    const raw = JSON.parse(readFileSync(libraryCachePath(), 'utf8')) as Record<string, { stamp: string; libs: string[] }>;
    return new Map(Object.entries(raw).filter(([, v]) => typeof v?.stamp === 'string' && Array.isArray(v.libs)));
  } catch {
    return new Map();
  }
}

function writeLibraryCache(cache: Map<string, { stamp: string; libs: string[] }>, found: readonly string[]): void {
  let changed = false;
  for (const b of found) {
    const libs = librariesOf.get(b);
    if (libs == null) continue;
    cache.set(b, { stamp: stampOf(b), libs });
    changed = true;
  }
  if (!changed) return;
  try {
    mkdirSync(dirname(libraryCachePath()), { recursive: true });
    const tmp = `${libraryCachePath()}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(cache)));
    renameSync(tmp, libraryCachePath());
  } catch {
    // An unwritable cache only costs the next start its ldd run.
  }
}

function runLdd(todo: readonly string[]): void {
  let out: string;
  try {
    out = execFileSync('ldd', todo, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  } catch (e) {
    const err = e as { code?: unknown; stdout?: unknown };
    if (err.code === 'ENOENT' || typeof err.stdout !== 'string') {
      for (const b of todo) librariesOf.set(b, null);
      return;
    }
    // ldd exits non-zero when one of the files is static ("not a dynamic executable"): still parsed.
    out = err.stdout;
  }
  const sections = new Map<string, string[]>(todo.map((b) => [b, []]));
  let current: string[] | undefined = todo.length === 1 ? sections.get(todo[0]!) : undefined;
  for (const line of out.split('\n')) {
    const header = /^(\S.*):$/.exec(line);
    if (header !== null && sections.has(header[1]!)) {
      current = sections.get(header[1]!);
      continue;
    }
    for (const m of line.matchAll(/(\/\S+)/g)) if (existsSync(m[1]!)) current?.push(m[1]!);
  }
  for (const [b, libs] of sections) librariesOf.set(b, libs);
}

/** Expose binaries and their shared libraries (or, without ldd, the system library directories). */
function exposeBinaries(plan: MountPlan, binaries: readonly string[]): void {
  findLibraries(binaries);
  for (const binary of binaries) {
    plan.expose(binary);
    const libs = librariesOf.get(binary) ?? null;
    if (libs === null) {
      for (const dir of ['/lib', '/lib64', '/usr/lib', '/usr/lib64']) if (existsSync(dir)) plan.expose(dir);
      continue;
    }
    for (const lib of libs) plan.expose(lib);
  }
}

/** The nearest directory at or above `file` with a package.json. */
function packageRoot(file: string): string | null {
  for (let dir = statSync(file).isDirectory() ? file : dirname(file); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/** Where Node finds package `name` from a module in `from`: the first `node_modules/name` upward. */
function locate(name: string, from: string): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    try {
      lstatSync(candidate);
      return candidate;
    } catch {
      // not here
    }
    if (dirname(dir) === dir) return null;
  }
}

/**
 * Expose the packages holding `entries` and every package they depend on (dependencies and optional
 * dependencies, transitively), at the paths Node's resolver will look for them; the native addons
 * found in them.
 */
function exposePackages(plan: MountPlan, entries: readonly string[]): string[] {
  const addons: string[] = [];
  const seen = new Set<string>();
  const todo = entries.map((e) => packageRoot(e)).filter((r): r is string => r !== null);
  while (todo.length > 0) {
    const found = todo.pop()!;
    // Node resolves a package's own imports from its real path.
    const root = realpathSync(found);
    plan.expose(found);
    if (seen.has(root)) continue;
    seen.add(root);
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const deps = Object.keys({ ...manifest['dependencies'], ...manifest['optionalDependencies'] });
    for (const dep of deps) {
      const at = locate(dep, root);
      if (at !== null) todo.push(at);
    }
    // Native addons link against shared libraries of their own.
    const release = join(root, 'build', 'Release');
    if (existsSync(release)) for (const f of readdirSync(release)) if (f.endsWith('.node')) addons.push(join(release, f));
  }
  return addons;
}

/** What the sandbox process gets. */
export interface BubblewrapSpec {
  /** The Node binary to run. */
  readonly execPath: string;
  /** Module files it loads (entries, the context module); their packages and dependencies are mounted. */
  readonly modules: readonly string[];
  /** Other files or directories to mount read-only. */
  readonly reads: readonly string[];
  /** Files to mount writable (never directories). */
  readonly writes: readonly string[];
}

/** The first executable `name` in `dirs` (default: PATH, then the usual system directories), or null. */
function which(name: string, dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/bin', '/bin', '/usr/sbin', '/sbin']): string | null {
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Run before the sandboxed program when files are mounted writable: remount each of them `noexec`
 * (bubblewrap cannot), then drop every capability for good and exec the program. Arguments: the number
 * of files, the files, then the program and its arguments.
 */
const NOEXEC_THEN_DROP = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do mount -o remount,bind,noexec,nosuid,nodev "$1" || exit 97; shift; n=$((n - 1)); done',
  'exec setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all --no-new-privs -- "$@"',
].join('\n');

/**
 * The bwrap arguments for running `spec.execPath` in the sandbox; append the program's own arguments
 * (starting with `spec.execPath`).
 *
 * Without writable files, the program runs as uid 65534 of the new user namespace with no
 * capabilities. With writable files, a shell first remounts them `noexec` — so nothing written there
 * can ever be mapped as code, even by a native addon's `dlopen` — using CAP_SYS_ADMIN of the new user
 * namespace only, then `setpriv` drops every capability (bounding set included, no_new_privs) before
 * the program starts.
 */
export function bubblewrapArgs(spec: BubblewrapSpec): string[] {
  const plan = new MountPlan();
  const binaries = [spec.execPath, ...exposePackages(plan, spec.modules)];
  for (const p of spec.modules) plan.expose(p);
  for (const p of spec.reads) if (existsSync(p)) plan.expose(p);
  for (const p of spec.writes) {
    if (statSync(p).isDirectory()) throw new Error(`only files are mounted writable in the sandbox, not ${p}`);
    plan.expose(p, true);
  }
  const tools = spec.writes.length === 0 ? [] : ['sh', 'mount', 'setpriv'].map((t) => which(t));
  if (tools.some((t) => t === null)) {
    throw new InsituError(ErrorCode.RUNTIME_ERROR, 'the OS sandbox needs sh, mount and setpriv (Debian: the util-linux and mount packages) to mount the database files noexec');
  }
  // One ldd run for every binary that will be loaded (a run per binary cost ~90 ms of start-up).
  exposeBinaries(plan, [...binaries, ...(tools as string[])]);
  const common = ['--unshare-all', '--unshare-user', '--hostname', 'insitu-sandbox', '--die-with-parent', '--new-session', '--proc', '/proc', '--dev', '/dev'];
  if (spec.writes.length === 0) return [...common, '--uid', '65534', '--gid', '65534', ...plan.args(), '--'];
  const writable = spec.writes.map((p) => realpathSync(p));
  return [
    ...common,
    '--uid', '0',
    '--gid', '0',
    '--cap-add', 'CAP_SYS_ADMIN',
    ...plan.args(),
    '--',
    tools[0]!, '-c', NOEXEC_THEN_DROP, 'insitu-sandbox', String(writable.length), ...writable,
  ];
}
