import { ErrorCode, InsituError, badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';
import type { Runtime } from './runtime.js';
import { readExport, writeExport, type ExportScriptsOptions, type ImportScriptsOptions, type ImportedScript } from './script-transfer.js';
import type { GrantStorage, ScriptListType, ScriptStorage, StoredScript, StoredScriptGrant } from './storage.js';

/** Options for {@link ScriptRepository.create}. */
export interface CreateScriptOptions {
  /** Replace an existing script of that name in the same scope. Default false. */
  readonly overwrite?: boolean;
  /** Store it as a global script, visible to every user. Default false (private to the creator). */
  readonly global?: boolean;
  /** Free-text description. */
  readonly description?: string;
}

/** Options for {@link ScriptRepository.list}. */
export interface ListScriptsOptions {
  /** SQL LIKE pattern on the name (`%` any run, `_` one character). */
  readonly name?: string;
  /**
   * `user` (default): your private scripts; `global`: global scripts; `all`: everything you can see
   * (yours, global, granted to you or PUBLIC); `grant`: your scripts you granted, one row per grantee;
   * `granted`: other users' scripts granted to you.
   */
  readonly type?: ScriptListType;
}

/** One entry of {@link ScriptRepository.list}. */
export interface ScriptInfo {
  readonly name: string;
  readonly owner: string;
  readonly global: boolean;
  readonly description: string;
  readonly created: Date;
  /** For `grant` listings: who the grant is to (a user or PUBLIC). */
  readonly grantee?: string;
}

/** A script with its source, from {@link ScriptRepository.load}. */
export interface Script extends ScriptInfo {
  readonly source: string;
}

/** The error for a script that does not exist or that `user` cannot see. */
export function scriptNotFound(name: string, user: string, owner?: string): InsituError {
  const whose = owner === undefined || owner === user ? '' : ` owned by ${owner}`;
  return new InsituError(ErrorCode.SCRIPT_NOT_FOUND, `script ${name}${whose} does not exist or is not visible to user ${user}`, {
    script: name,
  });
}

/**
 * Where a script name resolves for a user. Without `owner`: their private script, else the global one.
 * With another user's `owner`: that user's private script if granted to the caller (or PUBLIC), else a
 * global script they created. Anything invisible is SCRIPT_NOT_FOUND, exactly like a missing script.
 */
export async function resolveScript(
  storage: ScriptStorage & GrantStorage,
  user: string,
  name: string,
  owner?: string,
): Promise<StoredScript> {
  checkIdentifier(name, 'script');
  let found: StoredScript | null = null;
  if (owner === undefined || owner === user) {
    found = await storage.getScript(name, { owner: user });
  } else {
    const theirs = await storage.getScript(name, { owner });
    if (theirs !== null && (await storage.hasGrant('script', owner, name, user))) found = theirs;
  }
  if (found === null) {
    const global = await storage.getScript(name, { global: true });
    if (global !== null && (owner === undefined || global.owner === owner)) found = global;
  }
  if (found === null) throw scriptNotFound(name, user, owner);
  return found;
}

/**
 * The script repository as one user sees it: create, list, load and drop named Python functions.
 * Obtained as `session.scripts`.
 */
export class ScriptRepository {
  readonly #storage: ScriptStorage & GrantStorage;
  readonly #runtime: Runtime;
  readonly #user: string;
  readonly #check: () => void;

  /** @internal Use `session.scripts`. */
  constructor(storage: ScriptStorage & GrantStorage, runtime: Runtime, user: string, check: () => void) {
    this.#storage = storage;
    this.#runtime = runtime;
    this.#user = user;
    this.#check = check;
  }

  /**
   * Store a Python function under `name`. The source must parse and define the function to call: a
   * top-level `def` named `name`, or exactly one top-level `def`. Otherwise BAD_INPUT (with the line).
   */
  async create(name: string, source: string, opts: CreateScriptOptions = {}): Promise<ScriptInfo> {
    this.#check();
    checkIdentifier(name, 'script');
    if (typeof source !== 'string' || source.trim() === '') throw badInput(`script ${name} needs Python source text`);
    const description = opts.description ?? '';
    if (typeof description !== 'string') throw badInput('description must be a string');
    await checkSource(this.#runtime, source, name, this.#user);
    const global = opts.global === true;
    if (global) {
      const existing = await this.#storage.getScript(name, { global: true });
      if (existing !== null && existing.owner !== this.#user && opts.overwrite === true) {
        throw new InsituError(ErrorCode.PRIVILEGE, `global script ${name} belongs to ${existing.owner}; user ${this.#user} cannot replace it`, {
          script: name,
        });
      }
    }
    const script: StoredScript = { name, owner: this.#user, global, source, description, created: new Date() };
    await this.#storage.putScript(script, { overwrite: opts.overwrite === true });
    return info(script);
  }

  /** List scripts, ordered by name. */
  async list(opts: ListScriptsOptions = {}): Promise<ScriptInfo[]> {
    this.#check();
    const type = opts.type ?? 'user';
    if (!['user', 'global', 'all', 'grant', 'granted'].includes(type)) {
      throw badInput(`list type must be 'user', 'global', 'all', 'grant' or 'granted', got ${JSON.stringify(type)}`);
    }
    if (opts.name !== undefined && typeof opts.name !== 'string') throw badInput('name pattern must be a string');
    const rows = await this.#storage.listScripts({
      user: this.#user,
      type,
      ...(opts.name === undefined ? {} : { name: opts.name }),
    });
    return rows.map(info);
  }

  /** Load a visible script with its source: yours first, then a global one; another owner's with a grant. */
  async load(name: string, opts: { owner?: string } = {}): Promise<Script> {
    this.#check();
    const s = await resolveScript(this.#storage, this.#user, name, opts.owner);
    return { ...info(s), source: s.source };
  }

  /**
   * Write scripts into `dir`: one `NAME.py` per script and a manifest (`insitu-scripts.json`: name,
   * owner, global, description, file). `names` are found as `load` finds them (yours, global, granted);
   * without `names`, your private scripts. Returns what was written.
   */
  async export(opts: ExportScriptsOptions): Promise<ScriptInfo[]> {
    this.#check();
    if (opts === null || typeof opts !== 'object') throw badInput('scripts.export() needs { dir, names? }');
    let names: readonly string[];
    if (opts.names === undefined) {
      names = (await this.list({ type: 'user' })).map((s) => s.name);
    } else {
      if (!Array.isArray(opts.names)) throw badInput('scripts.export(): names must be an array of script names');
      names = [...new Set(opts.names.map((n) => checkIdentifier(n, 'script')))];
    }
    const scripts = await Promise.all(names.map((n) => resolveScript(this.#storage, this.#user, n)));
    await writeExport(opts.dir, scripts.map((s) => ({ name: s.name, owner: s.owner, global: s.global, description: s.description, file: `${s.name}.py`, source: s.source })));
    return scripts.map(info);
  }

  /**
   * Create the scripts an export directory holds, as this user (their owner), private or global as
   * exported, all or none: every script is checked as `create` checks it (it compiles and defines its
   * function; a global one of another user cannot be replaced: PRIVILEGE; without `overwrite` an
   * existing one is ALREADY_EXISTS) before any is stored, then all are stored in one transaction.
   */
  async import(opts: ImportScriptsOptions): Promise<ScriptInfo[]> {
    this.#check();
    if (opts === null || typeof opts !== 'object') throw badInput('scripts.import() needs { dir, overwrite? }');
    if (opts.overwrite !== undefined && typeof opts.overwrite !== 'boolean') throw badInput('scripts.import(): overwrite must be true or false');
    const putScripts = this.#storage.putScripts?.bind(this.#storage);
    if (putScripts === undefined) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'this storage cannot store several scripts in one transaction, which import needs');
    const overwrite = opts.overwrite === true;
    const entries: ImportedScript[] = await readExport(opts.dir);
    const created = new Date();
    const scripts: StoredScript[] = [];
    for (const e of entries) {
      await checkSource(this.#runtime, e.source, e.name, this.#user);
      const existing = await this.#storage.getScript(e.name, e.global ? { global: true } : { owner: this.#user });
      if (existing !== null && !overwrite) {
        throw new InsituError(ErrorCode.ALREADY_EXISTS, `${e.global ? 'global' : 'private'} script ${e.name} already exists; import with { overwrite: true } to replace it (nothing was imported)`, {
          script: e.name,
        });
      }
      if (existing !== null && e.global && existing.owner !== this.#user) {
        throw new InsituError(ErrorCode.PRIVILEGE, `global script ${e.name} belongs to ${existing.owner}; user ${this.#user} cannot replace it (nothing was imported)`, {
          script: e.name,
        });
      }
      scripts.push({ name: e.name, owner: this.#user, global: e.global, source: e.source, description: e.description, created });
    }
    await putScripts(scripts, { overwrite });
    return scripts.map(info);
  }

  /** Drop your private script (or, with `global: true`, a global script you created). */
  async drop(name: string, opts: { global?: boolean; silent?: boolean } = {}): Promise<boolean> {
    this.#check();
    checkIdentifier(name, 'script');
    const global = opts.global === true;
    if (global) {
      const existing = await this.#storage.getScript(name, { global: true });
      if (existing !== null && existing.owner !== this.#user) {
        throw new InsituError(ErrorCode.PRIVILEGE, `global script ${name} belongs to ${existing.owner}; user ${this.#user} cannot drop it`, {
          script: name,
        });
      }
    }
    const dropped = await this.#storage.deleteScript(name, global ? { global: true } : { owner: this.#user });
    if (!dropped && opts.silent !== true) throw scriptNotFound(name, this.#user);
    return dropped;
  }
}

/** Parse `source` in Python (in an interpreter of `user`) and check it defines the function to call. */
export async function checkSource(runtime: Runtime, source: string, name: string, user: string): Promise<void> {
  const result = await runtime.inspect(source, name, user);
  if (!result.ok) {
    const { message, line } = result.error;
    // The runtime's message already says which script does not compile; say it once.
    const text = message.startsWith(`script ${name} does not compile`) ? message : `script ${name} does not compile: ${message}`;
    throw badInput(text, { script: name, ...(line === undefined ? {} : { line }) });
  }
  if (!result.functions.includes(name) && result.functions.length !== 1) {
    const found = result.functions.length === 0 ? 'no top-level def' : `top-level defs ${result.functions.join(', ')}`;
    throw badInput(`script ${name} must define a top-level function named ${name} or exactly one top-level function; found ${found}`, {
      script: name,
    });
  }
}

function info(s: StoredScriptGrant): ScriptInfo {
  const out = { name: s.name, owner: s.owner, global: s.global, description: s.description, created: s.created };
  return s.grantee === undefined ? out : { ...out, grantee: s.grantee };
}
