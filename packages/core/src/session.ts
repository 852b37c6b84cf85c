import type { Table } from 'apache-arrow';
import type { FuncRef, GroupApplyOptions, IndexApplyOptions, RowApplyOptions, DataApplyOptions, ApplyOptions } from './apply-options.js';
import { callOf, splitOptions, type ApplyCall, type ApplyKind, type CallControls } from './apply-call.js';
import { ApplyRunner, type ApplyDefaults } from './apply-runner.js';
import type { Int64Mode } from './int64-values.js';
import { DatastoreService } from './datastore-service.js';
import { GrantService, type GrantTarget } from './grant-service.js';
import { badInput } from './errors.js';
import { guardedService, withBoundary } from './error-boundary.js';
import { checkIdentifier } from './identifiers.js';
import type { ApplyResult } from './result-assembly.js';
import type { Runtime } from './runtime.js';
import { ScriptRepository } from './script-repository.js';
import type { SessionJobs } from './session-jobs.js';
import type { SessionScheduler } from './session-scheduler.js';
import { NO_SQL, type SessionSql } from './session-sql.js';
import type { CreateTableOptions, Storage } from './storage.js';
import { checkQuerySql } from './data-plan.js';
import { TableProxy } from './table-proxy.js';
import type { UserDirectory } from './user-directory.js';
import type { RowObject, SqlParam } from './values.js';

/**
 * Everything a user does goes through a session: it carries the user's identity, which owns the scripts
 * they create and decides what they can see. Obtain one with `engine.session({ user })`.
 */
export class Session {
  /** The user every call of this session runs as. */
  readonly user: string;
  /** The script repository as this user sees it. */
  readonly scripts: ScriptRepository;
  /** Datastores as this user sees them. */
  readonly datastores: DatastoreService;
  /** Async jobs of this user: submit, status, result, wait, cancel, list, delete. */
  readonly jobs: SessionJobs;
  /** Schedules of this user: create, enable, disable, runNow, drop, list, get, runs. */
  readonly scheduler: SessionScheduler;
  /** The pyq*Eval table functions and catalog functions on a SQLite connection, as this user (README "From SQL"). */
  readonly sql: SessionSql;
  readonly #storage: Storage;
  readonly #apply: ApplyRunner;
  /** How this session's proxies pull Int64 columns by default (the engine's `int64`). */
  readonly #int64: Int64Mode;
  readonly #grants: GrantService;
  readonly #check: () => void;

  /** @internal Use `engine.session()`. */
  constructor(storage: Storage, runtime: Runtime, user: string, check: () => void, defaults: ApplyDefaults, users: UserDirectory, jobs: SessionJobs, scheduler: SessionScheduler, sql: SessionSql = NO_SQL) {
    this.user = user;
    this.#storage = storage;
    this.#check = check;
    this.scripts = guardedService(new ScriptRepository(storage, runtime, user, check), 'scripts', () => {});
    this.#apply = new ApplyRunner(storage, runtime, user, defaults);
    this.#int64 = defaults.int64 ?? 'number';
    this.#grants = new GrantService(storage, user, users);
    this.datastores = guardedService(new DatastoreService(storage, user), 'datastores', check);
    this.jobs = guardedService(jobs, 'jobs', check);
    this.scheduler = guardedService(scheduler, 'scheduler', check);
    this.sql = guardedService(sql, 'sql', check);
  }

  /**
   * Let another user (or `'PUBLIC'`, everyone) read and run one of your private scripts, or read one of
   * your datastores saved with `grantable: true`. Only the owner grants.
   */
  grant(target: GrantTarget): Promise<void> {
    return withBoundary('grant', () => {
      this.#check();
      return this.#grants.grant(target);
    });
  }

  /** Take back a grant; resolves to whether there was one. */
  revoke(target: GrantTarget): Promise<boolean> {
    return withBoundary('revoke', () => {
      this.#check();
      return this.#grants.revoke(target);
    });
  }

  /**
   * Create table `name` from row objects or an Arrow table and return a proxy of it. Column types come
   * from the Arrow schema, or are inferred from the values. An existing table is ALREADY_EXISTS unless
   * `overwrite` is set; the write is one transaction either way.
   */
  create(name: string, data: Table | readonly RowObject[], opts: CreateTableOptions = {}): Promise<TableProxy> {
    return withBoundary('create', async () => {
      this.#check();
      checkIdentifier(name, 'table');
      await this.#storage.createTable(name, data, { overwrite: opts.overwrite === true, owner: this.user });
      return new TableProxy(this.#storage, this.user, { kind: 'table', name }, this.#int64);
    });
  }

  /** A proxy of an existing table or view. Nothing is read until it is pulled or applied. */
  table(name: string): TableProxy {
    this.#check();
    return new TableProxy(this.#storage, this.user, { kind: 'table', name: checkIdentifier(name, 'table') }, this.#int64);
  }

  /**
   * A proxy of a read-only SQL query with `?` parameters. It must be a single SELECT (or read-only WITH)
   * statement; anything else is BAD_INPUT when the proxy is first read, and nothing is executed.
   */
  query(sql: string, params: readonly SqlParam[] = []): TableProxy {
    this.#check();
    checkQuerySql(sql, 'query()');
    if (!Array.isArray(params)) throw badInput('query() params must be an array');
    return new TableProxy(this.#storage, this.user, { kind: 'query', sql, params: [...params] }, this.#int64);
  }

  /**
   * Run an apply call given as a value ({@link ApplyCall}: what the five methods below build), with
   * optional controls (`signal`, `onProgress`). The call is validated first: BAD_INPUT names the field,
   * as `call.options.rows must be a positive integer`.
   */
  run(call: ApplyCall, controls: CallControls = {}): Promise<ApplyResult> {
    return withBoundary('run', () => {
      this.#check();
      return (async () => this.#apply.run(call, splitOptions(controls).controls))();
    });
  }

  /** One of the five methods: its arguments as a call value, run on the one path (failures reject). */
  async #method(kind: ApplyKind, parts: Parameters<typeof callOf>[1], opts: unknown): Promise<ApplyResult> {
    const { call, controls } = callOf(kind, parts, opts);
    return this.#apply.run(call, controls);
  }

  /** Run `func(**args)` once, with no input data. */
  doEval(func: FuncRef, opts?: ApplyOptions): Promise<ApplyResult> {
    return withBoundary('doEval', () => {
      this.#check();
      return this.#method('doEval', { func }, opts);
    });
  }

  /** Run `func(data, **args)` once on all rows of `data`. */
  tableApply(data: TableProxy, func: FuncRef, opts?: DataApplyOptions): Promise<ApplyResult> {
    return withBoundary('tableApply', () => {
      this.#check();
      return this.#method('tableApply', { data, func }, opts);
    });
  }

  /** Run `func(chunk, **args)` on successive chunks of `rows` rows, streamed. */
  rowApply(data: TableProxy, func: FuncRef, opts?: RowApplyOptions): Promise<ApplyResult> {
    return withBoundary('rowApply', () => {
      this.#check();
      return this.#method('rowApply', { data, func }, opts);
    });
  }

  /** Run `func(group, **args)` once per distinct combination of the `by` columns, in ascending key order. */
  groupApply(data: TableProxy, by: readonly string[] | string, func: FuncRef, opts?: GroupApplyOptions): Promise<ApplyResult> {
    return withBoundary('groupApply', () => {
      this.#check();
      return this.#method('groupApply', { data, by, func }, opts);
    });
  }

  /** Run `func(i, **args)` for i = 1..times. */
  indexApply(times: number, func: FuncRef, opts?: IndexApplyOptions): Promise<ApplyResult> {
    return withBoundary('indexApply', () => {
      this.#check();
      return this.#method('indexApply', { times, func }, opts);
    });
  }
}
