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
import { ErrorCode, InsituError, badInput, normalizePackageName, type PackageArchive, type PackageSet, type PackageSource, type ResolveOptions } from '@insitu/core';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
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
  /**
   * Bytes of verified archives kept in memory for reuse, least recently used dropped first (a dropped
   * archive is fetched and checked again when a call needs it). It is also the most a call's packages
   * (with those of its environment) may come to together: PACKAGE_TOO_LARGE past it. Archives of
   * environments and preloaded packages are held by them, outside this budget. Default 256 MiB.
   */
  readonly cacheBytes?: number;
  /**
   * The largest archive (or http lock file) fetched or read, in bytes: a download stops as soon as it
   * goes past it (PACKAGE_TOO_LARGE). Default 64 MiB.
   */
  readonly maxArchiveBytes?: number;
}

/** A download or read in progress, shared by every resolution that needs the same archive. */
interface Pending {
  readonly promise: Promise<Uint8Array>;
  readonly controller: AbortController;
  /** Resolutions waiting with a signal, not yet aborted. */
  waiters: number;
  /** Someone waits without a signal (the engine's owner): it is never stopped. */
  pinned: boolean;
}

/** How many archives one resolution fetches at a time. */
const PARALLEL_FETCHES = 4;

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

export { normalizePackageName };

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

function tooLarge(message: string): InsituError {
  return new InsituError(ErrorCode.PACKAGE_TOO_LARGE, message);
}

function checkBytes(v: number | undefined, field: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw badInput(`${field} must be a positive whole number of bytes, got ${JSON.stringify(v)}`);
  return v;
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
 * file's `depends`), fetches each archive (one download however many calls wait for it) and checks
 * its SHA-256 against the lock file: a mismatch is PACKAGE_INTEGRITY and nothing is installed; an
 * unknown name, or an archive that cannot be fetched, is PACKAGE_MISSING; an archive past
 * `maxArchiveBytes` is PACKAGE_TOO_LARGE. Verified archives are kept up to `cacheBytes` (LRU).
 */
export class PyodidePackageIndex implements PackageSource {
  readonly #location: string | undefined;
  readonly #timeoutMs: number;
  readonly #wheels: LocalWheel[] = [];
  #lock: Promise<{ entries: Map<string, LockEntry>; base: Base }> | null = null;
  readonly #cacheBytes: number;
  readonly #maxArchiveBytes: number;
  /** Verified archive bytes by SHA-256, least recently used first. */
  readonly #cache = new Map<string, Uint8Array>();
  #cached = 0;
  /**
   * Archives resolved for the engine's owner (environments, preloaded packages), by SHA-256, for as
   * long as something holds them: a call that needs one again takes those bytes, never a download.
   */
  readonly #held = new Map<string, WeakRef<Uint8Array>>();
  readonly #collected = new FinalizationRegistry<string>((key) => {
    if (this.#held.get(key)?.deref() === undefined) this.#held.delete(key);
  });
  /** Downloads and reads in progress by SHA-256. */
  readonly #pending = new Map<string, Pending>();

  /** Check the options and read the local wheels (BAD_INPUT for a wheel that is not pure Python). */
  constructor(opts: PackageIndexOptions = {}) {
    if (opts.packageIndex !== undefined && (typeof opts.packageIndex !== 'string' || opts.packageIndex === '')) {
      throw badInput('packageIndex must be a directory or an http(s) URL of a Pyodide package index');
    }
    this.#location = opts.packageIndex;
    this.#timeoutMs = opts.fetchTimeoutMs ?? 120_000;
    this.#cacheBytes = checkBytes(opts.cacheBytes, 'packageCacheBytes', 256 * 2 ** 20);
    this.#maxArchiveBytes = checkBytes(opts.maxArchiveBytes, 'maxArchiveBytes', 64 * 2 ** 20);
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
  async resolve(names: readonly string[], opts: ResolveOptions = {}): Promise<PackageSet> {
    opts.signal?.throwIfAborted();
    // The lock file is read once for every caller: a call that gives up stops waiting, not the read.
    const { entries } = await (opts.signal === undefined ? this.#index() : untilAborted(this.#index(), opts.signal));
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
    const bytes = await this.#archives(order, opts);
    const packages: PackageArchive[] = order.map((e, i) => ({
      name: e.name,
      version: e.version,
      fileName: e.file_name,
      // Hex is case-insensitive in a lock file; the worker compares the hash it computes (lowercase).
      sha256: e.sha256.toLowerCase(),
      installDir: e.install_dir === 'dynlib' ? ('dynlib' as const) : ('site' as const),
      bytes: bytes[i]!,
    }));
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

  /**
   * The bytes of `order`'s archives, {@link PARALLEL_FETCHES} at a time. A call's own resolution stops
   * (and lets go of downloads only it waits for) once its archives together pass `cacheBytes`.
   */
  async #archives(order: readonly LockEntry[], opts: ResolveOptions): Promise<Uint8Array[]> {
    const out: Uint8Array[] = new Array<Uint8Array>(order.length);
    const stop = new AbortController();
    const signal = opts.forCall === true ? (opts.signal === undefined ? stop.signal : AbortSignal.any([opts.signal, stop.signal])) : opts.signal;
    let next = 0;
    let total = 0;
    const run = async (): Promise<void> => {
      while (next < order.length) {
        const i = next++;
        const e = order[i]!;
        const bytes = await this.#archive(e, signal, opts.forCall === true);
        out[i] = bytes;
        if (opts.forCall !== true) this.#hold(e.sha256.toLowerCase(), bytes);
        total += bytes.length;
        if (opts.forCall === true && total > this.#cacheBytes) {
          throw tooLarge(
            `the packages of this call come to more than ${this.#cacheBytes} bytes (packageCacheBytes) with ${e.name}: ask the engine's owner for an environment holding them (env)`,
          );
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(PARALLEL_FETCHES, order.length) }, run));
    } catch (e) {
      stop.abort(e);
      if (opts.signal?.aborted === true) throw opts.signal.reason;
      throw e;
    }
    return out;
  }

  /**
   * An archive's bytes, checked against the recorded SHA-256: from the cache, or still held by someone,
   * or from the one download of it in progress, or fetched now (and, for a call's packages, cached). With `signal`, the wait rejects with its reason once it fires,
   * and the download stops when no one else waits for it; without, the download always completes.
   */
  #archive(e: LockEntry, signal: AbortSignal | undefined, cache: boolean): Promise<Uint8Array> {
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    const key = e.sha256.toLowerCase();
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return Promise.resolve(hit);
    }
    const held = this.#held.get(key)?.deref();
    if (held !== undefined) return Promise.resolve(held);
    let p = this.#pending.get(key);
    if (p === undefined) {
      const controller = new AbortController();
      const promise = this.#load(e, controller.signal).then((bytes) => {
        if (cache) this.#remember(key, bytes);
        return bytes;
      });
      const entry: Pending = { promise, controller, waiters: 0, pinned: false };
      p = entry;
      this.#pending.set(key, entry);
      const forget = (): void => {
        if (this.#pending.get(key) === entry) this.#pending.delete(key);
      };
      controller.signal.addEventListener('abort', forget, { once: true });
      promise.then(forget, forget);
    }
    if (signal === undefined) {
      p.pinned = true;
      return p.promise;
    }
    return wait(p, signal);
  }

  /** Find `bytes` under `key` for as long as anything else holds them (outside the cache's budget). */
  #hold(key: string, bytes: Uint8Array): void {
    if (this.#held.get(key)?.deref() === bytes) return;
    this.#held.set(key, new WeakRef(bytes));
    this.#collected.register(bytes, key);
  }

  /** Keep verified `bytes` in the cache, dropping the least recently used past `cacheBytes`. */
  #remember(key: string, bytes: Uint8Array): void {
    if (bytes.length > this.#cacheBytes || this.#cache.has(key)) return;
    this.#cache.set(key, bytes);
    this.#cached += bytes.length;
    for (const [k, b] of this.#cache) {
      if (this.#cached <= this.#cacheBytes) break;
      this.#cache.delete(k);
      this.#cached -= b.length;
    }
  }

  async #load(e: LockEntry, signal: AbortSignal): Promise<Uint8Array> {
    const local = this.#wheels.find((w) => w.entry === e);
    let bytes: Uint8Array;
    if (local !== undefined) {
      bytes = await this.#readFile(local.path, e);
    } else if (isUrl(e.file_name)) {
      bytes = await this.#fetch(e.file_name, `package ${e.name}`, signal);
    } else {
      const { base } = await this.#index();
      if (base.kind === 'url') {
        bytes = await this.#fetch(new URL(e.file_name, base.url).href, `package ${e.name}`, signal);
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
    const max = this.#maxArchiveBytes;
    const over = (): InsituError => tooLarge(`package ${e.name}: ${e.file_name} is larger than ${max} bytes (maxArchiveBytes): it was not read`);
    try {
      if ((await stat(path)).size > max) throw over();
      const bytes = new Uint8Array(await readFile(path));
      if (bytes.length > max) throw over();
      return bytes;
    } catch (err) {
      if (err instanceof InsituError) throw err;
      throw missing(`package ${e.name}: ${e.file_name} cannot be read from the package index (${err instanceof Error ? err.message : String(err)})`, err);
    }
  }

  /**
   * `url`'s body, read as it streams: stopped as soon as it passes `maxArchiveBytes` (or its
   * Content-Length says it will), when `signal` fires, or after `fetchTimeoutMs`.
   */
  async #fetch(url: string, what: string, signal?: AbortSignal): Promise<Uint8Array> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const both = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    const max = this.#maxArchiveBytes;
    const over = (): InsituError => tooLarge(`${what} from ${url} is larger than ${max} bytes (maxArchiveBytes): its download was stopped`);
    const failed = (e: unknown): InsituError => {
      if (e instanceof InsituError) return e;
      const why = timeout.aborted ? `no answer within ${this.#timeoutMs} ms` : e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
      return missing(`${what} cannot be fetched from ${url} (${why}); without network access, point packageIndex at a local mirror`, e);
    };
    let res: Response;
    try {
      res = await fetch(url, { signal: both });
    } catch (e) {
      throw failed(e);
    }
    const body = res.body;
    try {
      if (!res.ok) throw missing(`${what} cannot be fetched from ${url} (HTTP ${res.status})`);
      const length = Number(res.headers.get('content-length') ?? NaN);
      if (length > max) throw over();
      if (body === null) return new Uint8Array(0);
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of body) {
        size += chunk.length;
        if (size > max) throw over();
        chunks.push(chunk);
      }
      return new Uint8Array(Buffer.concat(chunks, size));
    } catch (e) {
      // Cancelling the body closes the connection: the server stops sending.
      await body?.cancel().catch(() => {});
      throw failed(e);
    }
  }
}

/**
 * Wait for `p` until `signal` fires: then reject with its reason and, when no one else waits for the
 * download (and no owner needs it), stop it.
 */
function wait(p: Pending, signal: AbortSignal): Promise<Uint8Array> {
  p.waiters++;
  return new Promise<Uint8Array>((resolveWait, rejectWait) => {
    let done = false;
    const leave = (): boolean => {
      if (done) return false;
      done = true;
      p.waiters--;
      signal.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (!leave()) return;
      if (p.waiters === 0 && !p.pinned) p.controller.abort(signal.reason);
      rejectWait(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.promise.then(
      (bytes) => {
        if (leave()) resolveWait(bytes);
      },
      (err: unknown) => {
        if (leave()) rejectWait(err as Error);
      },
    );
  });
}

/** `p`, or the rejection with `signal`'s reason once it fires first. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolveIt, rejectIt) => {
    const onAbort = (): void => rejectIt(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolveIt(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        rejectIt(e as Error);
      },
    );
  });
}
