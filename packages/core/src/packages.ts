import { InsituError, ErrorCode, badInput } from './errors.js';

/**
 * Third-party Python packages as core sees them: archives (wheels) whose bytes were fetched or read by
 * the engine process and checked against the SHA-256 their index records, grouped into the set one
 * interpreter loads. Resolving names to archives is the runtime's business ({@link PackageSource}).
 */

/** One package archive, verified, ready to hand to an interpreter. */
export interface PackageArchive {
  /** The package's name as its index spells it. */
  readonly name: string;
  readonly version: string;
  /** The archive's file name (a wheel's tags are in it). */
  readonly fileName: string;
  /** Lowercase hex SHA-256 of `bytes`, as the index records it. */
  readonly sha256: string;
  /** Where it unpacks: Python's site-packages, or the shared-library directory. */
  readonly installDir: 'site' | 'dynlib';
  readonly bytes: Uint8Array;
}

/** The packages one interpreter loads: dependencies before their dependants. */
export interface PackageSet {
  /**
   * Identifies exactly these archives (a digest of their names and hashes): interpreters that loaded
   * a set serve only calls of the same key.
   */
  readonly key: string;
  readonly packages: readonly PackageArchive[];
}

/** A package as `environments.list()` reports it. */
export interface PackageInfo {
  readonly name: string;
  readonly version: string;
  readonly fileName: string;
  readonly sha256: string;
}

/**
 * Where packages come from: a Pyodide package index (its lock file and wheels). Implemented by the
 * runtime; `resolve` throws PACKAGE_MISSING for a name the index does not have and PACKAGE_INTEGRITY
 * for an archive whose bytes do not match its recorded hash.
 */
export interface PackageSource {
  /** The archives of `names` and everything they depend on, in install order. */
  resolve(names: readonly string[], opts?: ResolveOptions): Promise<PackageSet>;
}

/** Options of {@link PackageSource.resolve}. */
export interface ResolveOptions {
  /**
   * The call's signal (its timeout or cancellation): the resolution rejects with the abort's reason
   * at once, and a download nobody else waits for is stopped. Absent: it runs to the end.
   */
  readonly signal?: AbortSignal;
  /**
   * A call's own packages (not an environment's or the engine's preloaded ones): held to the source's
   * budget for what one call may make it fetch and hold (PACKAGE_TOO_LARGE past it).
   */
  readonly forCall?: boolean;
}

/**
 * Which packages a call may name in its own `packages`: `'index'` (any package of the engine's index)
 * or a list of names (PEP 503 normalised when compared; an empty list allows none). Environments and
 * the engine's preloaded packages are the engine owner's choice and always allowed.
 */
export type PackagePolicy = 'index' | readonly string[];

/** PEP 503 normalised name: lowercase, runs of `-`, `_`, `.` as one `-`. */
export function normalizePackageName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** Validate `allowPackages` (BAD_INPUT): `'index'` or an array of package names. Default `'index'`. */
export function checkPackagePolicy(v: unknown): PackagePolicy {
  if (v === undefined || v === 'index') return 'index';
  if (!Array.isArray(v)) throw badInput(`allowPackages must be 'index' or an array of package names, got ${JSON.stringify(v)}`);
  return checkPackageNames(v, 'allowPackages');
}

/** Validate a list of package names (`packages` options). */
export function checkPackageNames(v: unknown, field = 'packages'): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw badInput(`${field} must be an array of package names`);
  return v.map((n, i) => {
    if (typeof n !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(n)) {
      throw badInput(`${field}[${i}] must be a package name (letters, digits, '.', '_', '-'), got ${JSON.stringify(n)}`);
    }
    return n;
  });
}

/** The environment name that stands for "no named environment". */
export const DEFAULT_ENVIRONMENT = 'default';

/** Validate an environment name. */
export function checkEnvironmentName(v: unknown, field = 'env'): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(v)) {
    throw badInput(`${field} must be an environment name (1 to 64 letters, digits, '_', '.', '-'), got ${JSON.stringify(v)}`);
  }
  return v;
}

/** The error of a call that asks for packages on an engine without a package index. */
export function noPackageSource(): InsituError {
  return new InsituError(ErrorCode.PACKAGE_MISSING, 'this engine has no Python package index: packages cannot be loaded');
}
