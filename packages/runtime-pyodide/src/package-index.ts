/**
 * Python packages for the engine: names resolved against a Pyodide package index (its
 * `pyodide-lock.json` and the archives it lists), fetched or read by the engine process and checked
 * against the SHA-256 the lock file records before any of it reaches an interpreter. The interpreters
 * (in the default isolation, a sandbox with no network and no host files) get the verified bytes.
 *
 * Indexes: Pyodide's own (the lock file shipped with the installed `pyodide` package, archives from its
 * CDN for that exact version), or a mirror: a directory or an http(s) URL holding a `pyodide-lock.json`
 * and the archives it names. Local pure-Python wheels (`wheels`) are added to whichever index is used.
 */
import { ErrorCode, InsituError, badInput, type PackageArchive, type PackageSet, type PackageSource } from '@insitu/core';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, isAbsolute, relative, resolve } from 'node:path';

/** Options of {@link PyodidePackageIndex}. */
export interface PackageIndexOptions {
  /**
   * A mirror of a Pyodide package index: a directory, or an http(s) URL, holding `pyodide-lock.json`
   * and the archives it names (or the lock file's own path or URL). Default: the lock file of the
   * installed `pyodide` package, with archives from its CDN (`https://cdn.jsdelivr.net/pyodide/v<version>/full/`).
   */
  readonly packageIndex?: string;
  /**
   * Pure-Python wheel files (`*-none-any.whl`), added to the index under the names in their file names
   * (a wheel of a name the index has replaces that entry). Their dependencies are not resolved: list them too.
   */
  readonly wheels?: readonly string[];
  /** Milliseconds one download may take. Default 120 000. */
  readonly fetchTimeoutMs?: number;
}

/** One package as a `pyodide-lock.json` describes it. */
interface LockEntry {
  readonly name: string;
  readonly version: string;
  readonly file_name: string;
  readonly sha256: string;
  readonly depends?: readonly string[];
  readonly install_dir?: string;
}

/** Where an index's archives are: a directory or a base URL. */
type Base = { readonly kind: 'dir'; readonly dir: string } | { readonly kind: 'url'; readonly url: string };

/** A local wheel given with `wheels`: its path and the hash of the bytes read at start. */
interface LocalWheel {
  readonly entry: LockEntry;
  readonly path: string;
}

/** PEP 503 normalised name: lowercase, runs of `-`, `_`, `.` as one `-`. */
export function normalizePackageName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** The version of the installed `pyodide` package (the CDN path and the lock file go with it). */
function pyodideVersion(): string {
  const require = createRequire(import.meta.url);
  return (JSON.parse(readFileSync(require.resolve('pyodide/package.json'), 'utf8')) as { version: string }).version;
}

function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

function missing(message: string, cause?: unknown): InsituError {
  return new InsituError(ErrorCode.PACKAGE_MISSING, message, cause === undefined ? {} : { cause });
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A local wheel's index entry, from its file name (`name-version(-build)?-py-abi-platform.whl`). */
function wheelEntry(path: string, bytes: Uint8Array): LockEntry {
  const file = basename(path);
  const parts = file.endsWith('.whl') ? file.slice(0, -4).split('-') : [];
  if (parts.length < 5 || parts.length > 6) throw badInput(`wheels: ${file} is not a wheel file name (name-version-python-abi-platform.whl)`);
  const [name, version] = parts as [string, string];
  const abi = parts[parts.length - 2];
  const platform = parts[parts.length - 1];
  if (abi !== 'none' || platform !== 'any') {
    throw badInput(`wheels: ${file} is not a pure-Python wheel (its tags say ${abi}-${platform}; only none-any wheels can be given as files, others come from a package index)`);
  }
  return { name, version, file_name: file, sha256: sha256Hex(bytes), depends: [], install_dir: 'site' };
}

/**
 * A Pyodide package index ({@link PackageSource}): resolves names with their dependencies (the lock
 * file's `depends`), fetches each archive once (kept in memory) and checks its SHA-256 against the
 * lock file: a mismatch is PACKAGE_INTEGRITY and nothing is installed; an unknown name, or an archive
 * that cannot be fetched, is PACKAGE_MISSING.
 */
export class PyodidePackageIndex implements PackageSource {
  readonly #location: string | undefined;
  readonly #timeoutMs: number;
  readonly #wheels: LocalWheel[] = [];
  #lock: Promise<{ entries: Map<string, LockEntry>; base: Base }> | null = null;
  /** Verified archive bytes by SHA-256. */
  readonly #bytes = new Map<string, Promise<Uint8Array>>();

  /** Check the options and read the local wheels (BAD_INPUT for a wheel that is not pure Python). */
  constructor(opts: PackageIndexOptions = {}) {
    if (opts.packageIndex !== undefined && (typeof opts.packageIndex !== 'string' || opts.packageIndex === '')) {
      throw badInput('packageIndex must be a directory or an http(s) URL of a Pyodide package index');
    }
    this.#location = opts.packageIndex;
    this.#timeoutMs = opts.fetchTimeoutMs ?? 120_000;
    if (opts.wheels !== undefined && !Array.isArray(opts.wheels)) throw badInput('wheels must be an array of wheel file paths');
    for (const w of opts.wheels ?? []) {
      if (typeof w !== 'string') throw badInput('wheels must be an array of wheel file paths');
      const path = resolve(w);
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(path);
      } catch (e) {
        throw badInput(`wheels: ${w} cannot be read (${e instanceof Error ? e.message : String(e)})`);
      }
      this.#wheels.push({ entry: wheelEntry(path, bytes), path });
    }
  }

  /** Where archives come from when no `packageIndex` is given: the CDN of the installed Pyodide version. */
  static defaultCdn(): string {
    return `https://cdn.jsdelivr.net/pyodide/v${pyodideVersion()}/full/`;
  }

  /** @inheritdoc */
  async resolve(names: readonly string[]): Promise<PackageSet> {
    const { entries } = await this.#index();
    const order: LockEntry[] = [];
    const seen = new Set<string>();
    const visit = (name: string, from: string | null): void => {
      const key = normalizePackageName(name);
      if (seen.has(key)) return;
      const entry = entries.get(key);
      if (entry === undefined) {
        const where = this.#location === undefined ? "Pyodide's package index" : `the package index ${this.#location}`;
        throw missing(from === null ? `package ${name} is not in ${where}` : `package ${name} (a dependency of ${from}) is not in ${where}`);
      }
      seen.add(key);
      for (const d of entry.depends ?? []) visit(d, entry.name);
      order.push(entry);
    };
    for (const n of names) visit(n, null);
    const packages: PackageArchive[] = await Promise.all(
      order.map(async (e) => ({
        name: e.name,
        version: e.version,
        fileName: e.file_name,
        // Hex is case-insensitive in a lock file; the worker compares the hash it computes (lowercase).
        sha256: e.sha256.toLowerCase(),
        installDir: e.install_dir === 'dynlib' ? ('dynlib' as const) : ('site' as const),
        bytes: await this.#archive(e),
      })),
    );
    const key = sha256Hex(new TextEncoder().encode(JSON.stringify(packages.map((p) => [p.name, p.sha256]))));
    return { key, packages };
  }

  /** The lock file's entries by normalised name (local wheels on top), read once. */
  #index(): Promise<{ entries: Map<string, LockEntry>; base: Base }> {
    this.#lock ??= this.#readLock().catch((e: unknown) => {
      this.#lock = null;
      throw e;
    });
    return this.#lock;
  }

  async #readLock(): Promise<{ entries: Map<string, LockEntry>; base: Base }> {
    let text: string;
    let base: Base;
    const loc = this.#location;
    if (loc === undefined) {
      text = readFileSync(createRequire(import.meta.url).resolve('pyodide/pyodide-lock.json'), 'utf8');
      base = { kind: 'url', url: PyodidePackageIndex.defaultCdn() };
    } else if (isUrl(loc)) {
      const lockUrl = loc.endsWith('.json') ? loc : `${loc.replace(/\/?$/, '/')}pyodide-lock.json`;
      text = new TextDecoder().decode(await this.#fetch(lockUrl, 'the lock file'));
      base = { kind: 'url', url: new URL('.', lockUrl).href };
    } else {
      const lockPath = loc.endsWith('.json') ? resolve(loc) : resolve(loc, 'pyodide-lock.json');
      try {
        text = await readFile(lockPath, 'utf8');
      } catch (e) {
        throw missing(`the package index ${loc} has no readable pyodide-lock.json (${e instanceof Error ? e.message : String(e)})`, e);
      }
      base = { kind: 'dir', dir: resolve(lockPath, '..') };
    }
    let packages: Record<string, LockEntry>;
    try {
      packages = (JSON.parse(text) as { packages: Record<string, LockEntry> }).packages;
      if (packages === null || typeof packages !== 'object') throw new Error('it has no "packages" object');
    } catch (e) {
      throw missing(`the lock file of package index ${loc ?? 'pyodide'} cannot be read: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    const entries = new Map<string, LockEntry>();
    for (const [k, e] of Object.entries(packages)) {
      if (typeof e?.file_name !== 'string' || typeof e.sha256 !== 'string' || typeof e.name !== 'string') continue;
      entries.set(normalizePackageName(k), e);
      entries.set(normalizePackageName(e.name), e);
    }
    for (const w of this.#wheels) entries.set(normalizePackageName(w.entry.name), w.entry);
    return { entries, base };
  }

  /** An archive's bytes, fetched or read once, checked against the recorded SHA-256. */
  #archive(e: LockEntry): Promise<Uint8Array> {
    let p = this.#bytes.get(e.sha256);
    if (p === undefined) {
      p = this.#load(e).catch((err: unknown) => {
        this.#bytes.delete(e.sha256);
        throw err;
      });
      this.#bytes.set(e.sha256, p);
    }
    return p;
  }

  async #load(e: LockEntry): Promise<Uint8Array> {
    const local = this.#wheels.find((w) => w.entry === e);
    let bytes: Uint8Array;
    if (local !== undefined) {
      bytes = await this.#readFile(local.path, e);
    } else if (isUrl(e.file_name)) {
      bytes = await this.#fetch(e.file_name, `package ${e.name}`);
    } else {
      const { base } = await this.#index();
      if (base.kind === 'url') {
        bytes = await this.#fetch(new URL(e.file_name, base.url).href, `package ${e.name}`);
      } else {
        const path = resolve(base.dir, e.file_name);
        const rel = relative(base.dir, path);
        if (rel.startsWith('..') || isAbsolute(rel)) throw missing(`package ${e.name}: its file name ${e.file_name} points outside the package index directory`);
        bytes = await this.#readFile(path, e);
      }
    }
    const digest = sha256Hex(bytes);
    if (digest !== e.sha256.toLowerCase()) {
      throw new InsituError(
        ErrorCode.PACKAGE_INTEGRITY,
        `package ${e.name} (${e.file_name}) has SHA-256 ${digest}, but its index records ${e.sha256}: it was not installed and nothing ran`,
      );
    }
    return bytes;
  }

  async #readFile(path: string, e: LockEntry): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(path));
    } catch (err) {
      throw missing(`package ${e.name}: ${e.file_name} cannot be read from the package index (${err instanceof Error ? err.message : String(err)})`, err);
    }
  }

  async #fetch(url: string, what: string): Promise<Uint8Array> {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (e) {
      const why = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
      throw missing(`${what} cannot be fetched from ${url} (${why}); without network access, point packageIndex at a local mirror`, e);
    }
    if (!res.ok) throw missing(`${what} cannot be fetched from ${url} (HTTP ${res.status})`);
    return new Uint8Array(await res.arrayBuffer());
  }
}
