import { ErrorCode, InsituError, badInput } from './errors.js';
import {
  DEFAULT_ENVIRONMENT,
  checkEnvironmentName,
  checkPackageNames,
  noPackageSource,
  normalizePackageName,
  type PackageInfo,
  type PackagePolicy,
  type PackageSet,
  type PackageSource,
  type ResolveOptions,
} from './packages.js';

/** A named Python environment as `environments.list()` reports it. */
export interface EnvironmentInfo {
  readonly name: string;
  /** The packages asked for when it was created. */
  readonly requested: readonly string[];
  /** Every package it loads (the requested ones and their dependencies), in install order. */
  readonly packages: readonly PackageInfo[];
  readonly description: string | null;
}

/** Options of {@link EnvironmentService.create}. */
export interface CreateEnvironmentOptions {
  /** Package names, resolved (with their dependencies) from the engine's package index. */
  readonly packages: readonly string[];
  readonly description?: string;
  /** Replace an environment of that name. Default false (ALREADY_EXISTS). */
  readonly overwrite?: boolean;
}

interface Entry {
  readonly requested: readonly string[];
  readonly set: PackageSet;
  readonly description: string | null;
}

/**
 * Named Python environments (OML4Py's `envName`, Snowflake's PACKAGES) of one engine: each is a set
 * of packages resolved and verified once, when it is created. A call with `env: name` runs in
 * interpreters that loaded exactly that set (plus the call's own `packages`). Environments live in
 * the engine, not in the database: create them when the engine starts. An administration API, like
 * `engine.users`: whoever holds the engine may use it.
 */
export class EnvironmentService {
  readonly #source: PackageSource | null;
  /** Normalised names a call may ask for in its own `packages`; null: any package of the index. */
  readonly #allowed: ReadonlySet<string> | null;
  readonly #envs = new Map<string, Entry>();
  /** The packages every call loads unless it names an environment (`createEngine({ packages })`). */
  #preload: PackageSet | null = null;

  /** @internal */
  constructor(source: PackageSource | null, allow: PackagePolicy = 'index') {
    this.#source = source;
    this.#allowed = allow === 'index' ? null : new Set(allow.map(normalizePackageName));
  }

  /** @internal Resolve the engine's preloaded packages (once, at start). */
  async preload(names: readonly string[]): Promise<void> {
    const checked = checkPackageNames(names, 'packages');
    if (checked.length > 0) this.#preload = await this.#resolve(checked);
  }

  /**
   * Create environment `name` with `packages` (and their dependencies). They are fetched (or read from
   * the local mirror) and checked now: an unknown package is PACKAGE_MISSING, an archive whose SHA-256
   * does not match its index PACKAGE_INTEGRITY, and nothing is created.
   */
  async create(name: string, opts: CreateEnvironmentOptions): Promise<EnvironmentInfo> {
    checkEnvironmentName(name, 'environment name');
    if (name === DEFAULT_ENVIRONMENT) throw badInput(`the environment name ${JSON.stringify(DEFAULT_ENVIRONMENT)} is reserved for the engine's default environment`);
    if (opts === null || typeof opts !== 'object') throw badInput('environments.create() options must be an object { packages }');
    const requested = checkPackageNames(opts.packages, 'packages');
    if (requested.length === 0) throw badInput('packages must name at least one package');
    if (opts.description !== undefined && typeof opts.description !== 'string') throw badInput('description must be a string');
    if (this.#envs.has(name) && opts.overwrite !== true) throw new InsituError(ErrorCode.ALREADY_EXISTS, `environment ${name} already exists (pass overwrite: true to replace it)`);
    const set = await this.#resolve(requested);
    // Checked again: another create of the same name may have finished while the packages were fetched.
    if (this.#envs.has(name) && opts.overwrite !== true) throw new InsituError(ErrorCode.ALREADY_EXISTS, `environment ${name} already exists (pass overwrite: true to replace it)`);
    const entry: Entry = { requested, set, description: opts.description ?? null };
    this.#envs.set(name, entry);
    return infoOf(name, entry);
  }

  /** The environments, by name. */
  async list(): Promise<EnvironmentInfo[]> {
    return [...this.#envs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, e]) => infoOf(n, e));
  }

  /** Drop an environment; resolves to whether it existed. Calls already running in it go on. */
  async drop(name: string): Promise<boolean> {
    checkEnvironmentName(name, 'environment name');
    return this.#envs.delete(name);
  }

  /**
   * @internal The package set a call runs with: its environment's (or the engine's preloaded packages)
   * plus its own `packages`; undefined for a clean interpreter. Unknown environment: BAD_INPUT; a
   * package the engine's `allowPackages` does not list: PRIVILEGE, before anything is fetched. The
   * fetching follows `signal` (the call's timeout and cancellation).
   */
  async forCall(env: string | undefined, packages: readonly string[] | undefined, signal?: AbortSignal): Promise<PackageSet | undefined> {
    if (packages !== undefined && this.#allowed !== null) {
      const refused = packages.filter((p) => !this.#allowed!.has(normalizePackageName(p)));
      if (refused.length > 0) {
        const allowed = [...this.#allowed];
        throw new InsituError(
          ErrorCode.PRIVILEGE,
          `package${refused.length === 1 ? '' : 's'} ${refused.join(', ')} may not be named in a call's packages on this engine (allowPackages: ${allowed.length === 0 ? 'none' : allowed.join(', ')}); use an environment the engine's owner created (env)`,
        );
      }
    }
    let base: Entry | null = null;
    if (env !== undefined && env !== DEFAULT_ENVIRONMENT) {
      base = this.#envs.get(env) ?? null;
      if (base === null) {
        const known = [...this.#envs.keys()];
        throw badInput(`environment ${env} does not exist (environments: ${known.length === 0 ? 'none but default' : known.join(', ')})`);
      }
    }
    const baseSet = base?.set ?? this.#preload;
    if (packages === undefined || packages.length === 0) return baseSet ?? undefined;
    const names = [...(base?.requested ?? []), ...(base === null && this.#preload !== null ? this.#preload.packages.map((p) => p.name) : []), ...packages];
    return this.#resolve(names, { forCall: true, ...(signal === undefined ? {} : { signal }) });
  }

  async #resolve(names: readonly string[], opts: ResolveOptions = {}): Promise<PackageSet> {
    if (this.#source === null) throw noPackageSource();
    return this.#source.resolve([...new Set(names)], opts);
  }
}

function infoOf(name: string, e: Entry): EnvironmentInfo {
  return {
    name,
    requested: [...e.requested],
    packages: e.set.packages.map((p) => ({ name: p.name, version: p.version, fileName: p.fileName, sha256: p.sha256 })),
    description: e.description,
  };
}
