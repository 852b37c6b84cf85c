import {
  ErrorCode,
  InsituError,
  type ContextMode,
  type ContextSession,
  type CreateTableRequest,
  type DatastoreInfo,
  type DatastoreListType,
  type Grant,
  type GrantKind,
  type IntoTarget,
  type JobOutcome,
  type JobState,
  type NewJob,
  type NewRun,
  type NewSchedule,
  type ObjectInfo,
  type QuerySpec,
  type QueryPlan,
  type RowObject,
  type RunOutcome,
  type SaveMode,
  type ScanOptions,
  type ScheduleAdvance,
  type ScriptFilter,
  type SerializedError,
  type Storage,
  type StoredCredentials,
  type StoredJob,
  type StoredJobProgress,
  type StoredObject,
  type StoredRun,
  type StoredSchedule,
  type StoredScript,
  type StoredScriptGrant,
  type StoredUser,
  type TableAccessLevel,
  type TableGrant,
  type TableOwnership,
  type TableSink,
  type TableStorage,
  type UnownedTables,
  type UserDeletion,
} from '@insitu/core';
import type { Schema, Table } from 'apache-arrow';
import { PgAuthStore } from './pg-auth-store.js';
import { PgContextSession } from './pg-context-session.js';
import { PgTablePrivileges } from './pg-table-privileges.js';
import { PgTaskStore } from './pg-task-store.js';
import { PgDatabase, maskedUrl, isPostgresUrl } from './pg-database.js';
import { PgDatastoreStore } from './pg-datastore-store.js';
import { PgGrantStore } from './pg-grant-store.js';
import { PgJobStore } from './pg-job-store.js';
import { migrate } from './pg-migrations.js';
import { PgScheduleStore } from './pg-schedule-store.js';
import { PgScriptStore } from './pg-script-store.js';
import { PgTableStore } from './pg-table-store.js';
import { PgUserSlots } from './pg-user-slots.js';
import { PgUserStore } from './pg-user-store.js';

/** Options for {@link PostgresStorage.open}. */
export interface PostgresStorageOptions {
  /** What every user may do with tables that have no insitu owner. Default `read`. */
  readonly unownedTables?: UnownedTables;
  /**
   * Connections this engine's pool keeps at most. Default 10. One user's queries and `insitu.connect()`
   * sessions hold at most half of them (at least 1) at once; more wait for one of theirs to be given back.
   */
  readonly maxConnections?: number;
  /** How long a user statement (`insitu.connect()`, a query proxy's) waits for a lock another transaction holds, in ms. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** Milliseconds one user query (describe, count, a whole scan; a UDF's statement) may run before it is cancelled (TIMEOUT). Default 300000. */
  readonly statementTimeoutMs?: number;
}

/**
 * insitu storage in a PostgreSQL database, shared by every engine connected to it: engine state in
 * `insitu_engine_*` tables made by versioned migrations (run under an advisory lock, so engines may start
 * at once), user tables beside them. One connection pool per engine; parameters are always bound.
 * Jobs are claimed with `FOR UPDATE SKIP LOCKED` under leases, and schedules fire by compare-and-set, so
 * several engines on one database run each job and each scheduled run once.
 */
export class PostgresStorage implements Storage {
  /** The connection string with its password masked. */
  readonly location: string;
  /** What every user may do with tables that have no insitu owner. */
  readonly unownedTables: UnownedTables;
  readonly #db: PgDatabase;
  readonly #tables: PgTableStore;
  readonly #scripts: PgScriptStore;
  readonly #grants: PgGrantStore;
  readonly #datastores: PgDatastoreStore;
  readonly #users: PgUserStore;
  readonly #auth: PgAuthStore;
  readonly #jobs: PgJobStore;
  readonly #schedules: PgScheduleStore;
  /** @inheritdoc */
  readonly tasks: PgTaskStore;
  /** The table privileges UDF statements are checked against (see {@link openContextSession}). */
  readonly #udfPrivileges: PgTablePrivileges;
  readonly #busyTimeoutMs: number;
  /** The connections each user's queries and context sessions hold at once (see PgUserSlots). */
  readonly #slots: PgUserSlots;
  /** Context sessions not released yet (see {@link close}). */
  readonly #sessions = new Set<PgContextSession>();
  readonly #statementTimeoutMs: number | undefined;
  /** {@link TableStorage.splitScan}, present when the table store has it. */
  readonly splitScan?: TableStorage['splitScan'];
  /** {@link TableStorage.splitGroups}, present when the table store has it. */
  readonly splitGroups?: TableStorage['splitGroups'];

  private constructor(db: PgDatabase, unownedTables: UnownedTables, slots: PgUserSlots, busyTimeoutMs: number, statementTimeoutMs?: number) {
    this.#db = db;
    this.#slots = slots;
    this.#udfPrivileges = new PgTablePrivileges(unownedTables);
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#statementTimeoutMs = statementTimeoutMs;
    this.location = maskedUrl(db.url);
    this.unownedTables = unownedTables;
    this.#tables = new PgTableStore(
      db,
      statementTimeoutMs === undefined ? { unownedTables, slots, lockTimeoutMs: busyTimeoutMs } : { unownedTables, slots, statementTimeoutMs, lockTimeoutMs: busyTimeoutMs },
    );
    this.#scripts = new PgScriptStore(db);
    this.#grants = new PgGrantStore(db);
    this.#datastores = new PgDatastoreStore(db);
    this.#users = new PgUserStore(db, this.#tables);
    this.#auth = new PgAuthStore(db);
    this.#jobs = new PgJobStore(db);
    this.#schedules = new PgScheduleStore(db);
    this.tasks = new PgTaskStore(db);
    const tables = this.#tables as TableStorage;
    if (tables.splitScan !== undefined) this.splitScan = tables.splitScan.bind(tables);
    if (tables.splitGroups !== undefined) this.splitGroups = tables.splitGroups.bind(tables);
  }

  /**
   * Connect to the database at `url` (`postgres://` or `postgresql://`) and bring its engine tables up
   * to date. An unreachable server or a refused login is STORAGE_ERROR naming the (masked) URL.
   */
  static async open(url: string, opts: PostgresStorageOptions = {}): Promise<PostgresStorage> {
    if (typeof url !== 'string' || !isPostgresUrl(url)) {
      throw new InsituError(ErrorCode.BAD_INPUT, 'a PostgreSQL database is a URL starting with postgres:// or postgresql://');
    }
    const db = new PgDatabase(url, opts.maxConnections === undefined ? {} : { maxConnections: opts.maxConnections });
    try {
      await migrate(db);
    } catch (e) {
      await db.close().catch(() => {});
      // The driver's own words (pgError's wrapping would name the URL a second time).
      const cause = e instanceof InsituError && e.cause instanceof Error ? e.cause : e;
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new InsituError(ErrorCode.STORAGE_ERROR, `cannot open PostgreSQL database ${maskedUrl(url)}: ${why}`, { cause: e });
    }
    // Half the pool per user: one user's statements (heavy, or waiting on a lock) leave the rest to others.
    const slots = new PgUserSlots(Math.max(1, Math.floor((opts.maxConnections ?? 10) / 2)));
    return new PostgresStorage(db, opts.unownedTables ?? 'read', slots, opts.busyTimeoutMs ?? 5000, opts.statementTimeoutMs);
  }

  // ---- tables and their privileges: the table store's -----------------------------------------------

  /** @inheritdoc */
  compileQuery(plan: QueryPlan): QuerySpec {
    return this.#tables.compileQuery(plan);
  }

  /** @inheritdoc */
  createTable(name: string, data: Table | readonly RowObject[], req: CreateTableRequest): Promise<void> {
    return this.#tables.createTable(name, data, req);
  }

  /** @inheritdoc */
  hasTable(name: string): Promise<boolean> {
    return this.#tables.hasTable(name);
  }

  /** @inheritdoc */
  describe(query: QuerySpec, user: string): Promise<Schema> {
    return this.#tables.describe(query, user);
  }

  /** @inheritdoc */
  count(query: QuerySpec, user: string): Promise<number> {
    return this.#tables.count(query, user);
  }

  /** @inheritdoc */
  scan(query: QuerySpec, opts: ScanOptions): AsyncIterable<Table> {
    return this.#tables.scan(query, opts);
  }

  /** @inheritdoc */
  async openTableSink(target: Required<IntoTarget>, user: string): Promise<TableSink> {
    const tables = this.#tables as TableStorage;
    if (tables.openTableSink === undefined) throw new InsituError(ErrorCode.NOT_SUPPORTED, 'writing results into tables (into) is not supported on PostgreSQL yet');
    return tables.openTableSink(target, user);
  }

  /** @inheritdoc */
  getTableOwnership(name: string): Promise<TableOwnership | null> {
    return this.#tables.getTableOwnership(name);
  }

  /** @inheritdoc */
  tableAccess(name: string, user: string): Promise<TableAccessLevel> {
    return this.#tables.tableAccess(name, user);
  }

  /** @inheritdoc */
  setTableOwner(name: string, owner: string | null): Promise<void> {
    return this.#tables.setTableOwner(name, owner);
  }

  /** @inheritdoc */
  putTableGrant(grant: TableGrant): Promise<void> {
    return this.#tables.putTableGrant(grant);
  }

  /** @inheritdoc */
  deleteTableGrant(table: string, grantee: string): Promise<boolean> {
    return this.#tables.deleteTableGrant(table, grantee);
  }

  // ---- scripts ------------------------------------------------------------------------------------

  /** @inheritdoc */
  putScript(script: StoredScript, opts: { overwrite: boolean }): Promise<void> {
    return this.#scripts.putScript(script, opts);
  }

  /** @inheritdoc */
  putScripts(scripts: readonly StoredScript[], opts: { overwrite: boolean }): Promise<void> {
    return this.#scripts.putScripts(scripts, opts);
  }

  /** @inheritdoc */
  getScript(name: string, scope: { owner: string } | { global: true }): Promise<StoredScript | null> {
    return this.#scripts.getScript(name, scope);
  }

  /** @inheritdoc */
  listScripts(filter: ScriptFilter): Promise<StoredScriptGrant[]> {
    return this.#scripts.listScripts(filter);
  }

  /** @inheritdoc */
  deleteScript(name: string, scope: { owner: string } | { global: true }): Promise<boolean> {
    return this.#scripts.deleteScript(name, scope);
  }

  // ---- grants -------------------------------------------------------------------------------------

  /** @inheritdoc */
  putGrant(grant: Grant): Promise<void> {
    return this.#grants.putGrant(grant);
  }

  /** @inheritdoc */
  deleteGrant(grant: Grant): Promise<boolean> {
    return this.#grants.deleteGrant(grant);
  }

  /** @inheritdoc */
  hasGrant(kind: GrantKind, owner: string, name: string, user: string): Promise<boolean> {
    return this.#grants.hasGrant(kind, owner, name, user);
  }

  // ---- datastores ---------------------------------------------------------------------------------

  /** @inheritdoc */
  saveDatastore(
    owner: string,
    name: string,
    objects: readonly StoredObject[],
    opts: { mode: SaveMode; description: string; grantable: boolean },
  ): Promise<void> {
    return this.#datastores.saveDatastore(owner, name, objects, opts);
  }

  /** @inheritdoc */
  getDatastore(owner: string, name: string): Promise<DatastoreInfo | null> {
    return this.#datastores.getDatastore(owner, name);
  }

  /** @inheritdoc */
  loadObjects(owner: string, name: string, objects?: readonly string[]): Promise<StoredObject[]> {
    return this.#datastores.loadObjects(owner, name, objects);
  }

  /** @inheritdoc */
  describeObjects(owner: string, name: string): Promise<ObjectInfo[]> {
    return this.#datastores.describeObjects(owner, name);
  }

  /** @inheritdoc */
  listDatastores(filter: { user: string; type: DatastoreListType; name?: string }): Promise<DatastoreInfo[]> {
    return this.#datastores.listDatastores(filter);
  }

  /** @inheritdoc */
  deleteDatastore(owner: string, name: string, objects?: readonly string[]): Promise<number> {
    return this.#datastores.deleteDatastore(owner, name, objects);
  }

  // ---- users --------------------------------------------------------------------------------------

  /** @inheritdoc */
  putUser(user: StoredUser & { readonly passwordHash?: string }, opts: { ifMissing: boolean }): Promise<boolean> {
    return this.#users.putUser(user, opts);
  }

  /** @inheritdoc */
  setPasswordHash(name: string, hash: string | null): Promise<boolean> {
    return this.#users.setPasswordHash(name, hash);
  }

  /** @inheritdoc */
  getCredentials(name: string): Promise<StoredCredentials | null> {
    return this.#users.getCredentials(name);
  }

  /** @inheritdoc */
  getUser(name: string): Promise<StoredUser | null> {
    return this.#users.getUser(name);
  }

  /** @inheritdoc */
  listUsers(): Promise<StoredUser[]> {
    return this.#users.listUsers();
  }

  /** @inheritdoc */
  deleteUser(name: string, opts: { cascade: boolean }): Promise<UserDeletion | null> {
    return this.#users.deleteUser(name, opts);
  }

  // ---- sign-in state ------------------------------------------------------------------------------

  /** @inheritdoc */
  settingOrInit(key: string, value: string): Promise<string> {
    return this.#auth.settingOrInit(key, value);
  }

  /** @inheritdoc */
  revokeLogin(id: string, until: Date): Promise<void> {
    return this.#auth.revokeLogin(id, until);
  }

  /** @inheritdoc */
  loginRevoked(id: string): Promise<boolean> {
    return this.#auth.loginRevoked(id);
  }

  // ---- jobs ---------------------------------------------------------------------------------------

  /** @inheritdoc */
  insertJob(job: NewJob): Promise<void> {
    return this.#jobs.insertJob(job);
  }

  /** @inheritdoc */
  getJob(id: string, owner: string): Promise<StoredJob | null> {
    return this.#jobs.getJob(id, owner);
  }

  /** @inheritdoc */
  listJobs(filter: { owner: string; state?: JobState; limit: number }): Promise<StoredJob[]> {
    return this.#jobs.listJobs(filter);
  }

  /** @inheritdoc */
  getJobResult(id: string, owner: string): Promise<Uint8Array | null> {
    return this.#jobs.getJobResult(id, owner);
  }

  /** @inheritdoc */
  claimJob(claim: { engine: string; now: Date; leaseUntil: Date; maxRunning: number }): Promise<StoredJob | null> {
    return this.#jobs.claimJob(claim);
  }

  /** @inheritdoc */
  renewLeases(engine: string, ids: readonly string[], until: Date): Promise<string[]> {
    return this.#jobs.renewLeases(engine, ids, until);
  }

  /** @inheritdoc */
  updateJobProgress(id: string, engine: string, progress: StoredJobProgress): Promise<void> {
    return this.#jobs.updateJobProgress(id, engine, progress);
  }

  /** @inheritdoc */
  finishJob(id: string, engine: string, outcome: JobOutcome): Promise<boolean> {
    return this.#jobs.finishJob(id, engine, outcome);
  }

  /** @inheritdoc */
  requeueJob(id: string, engine: string): Promise<boolean> {
    return this.#jobs.requeueJob(id, engine);
  }

  /** @inheritdoc */
  cancelJob(id: string, owner: string, error: SerializedError, now: Date): Promise<StoredJob | null> {
    return this.#jobs.cancelJob(id, owner, error, now);
  }

  /** @inheritdoc */
  recoverJobs(opts: { now: Date; isDead: (engine: string) => boolean; error: SerializedError }): Promise<string[]> {
    return this.#jobs.recoverJobs(opts);
  }

  /** @inheritdoc */
  deleteJob(id: string, owner: string): Promise<boolean> {
    return this.#jobs.deleteJob(id, owner);
  }

  /** @inheritdoc */
  purgeJobs(before: Date): Promise<number> {
    return this.#jobs.purgeJobs(before);
  }

  // ---- schedules ----------------------------------------------------------------------------------

  /** @inheritdoc */
  insertSchedule(s: NewSchedule): Promise<boolean> {
    return this.#schedules.insertSchedule(s);
  }

  /** @inheritdoc */
  getSchedule(owner: string, name: string): Promise<StoredSchedule | null> {
    return this.#schedules.getSchedule(owner, name);
  }

  /** @inheritdoc */
  listSchedules(owner: string): Promise<StoredSchedule[]> {
    return this.#schedules.listSchedules(owner);
  }

  /** @inheritdoc */
  setScheduleEnabled(owner: string, name: string, enabled: boolean, nextRun: Date | null): Promise<boolean> {
    return this.#schedules.setScheduleEnabled(owner, name, enabled, nextRun);
  }

  /** @inheritdoc */
  deleteSchedule(owner: string, name: string): Promise<boolean> {
    return this.#schedules.deleteSchedule(owner, name);
  }

  /** @inheritdoc */
  dueSchedules(now: Date, limit: number): Promise<StoredSchedule[]> {
    return this.#schedules.dueSchedules(now, limit);
  }

  /** @inheritdoc */
  claimRun(advance: ScheduleAdvance, run: NewRun): Promise<number | null> {
    return this.#schedules.claimRun(advance, run);
  }

  /** @inheritdoc */
  insertRun(run: NewRun): Promise<number | null> {
    return this.#schedules.insertRun(run);
  }

  /** @inheritdoc */
  setRunJob(id: number, jobId: string): Promise<void> {
    return this.#schedules.setRunJob(id, jobId);
  }

  /** @inheritdoc */
  finishRun(id: number, outcome: RunOutcome): Promise<void> {
    return this.#schedules.finishRun(id, outcome);
  }

  /** @inheritdoc */
  openRuns(limit: number): Promise<StoredRun[]> {
    return this.#schedules.openRuns(limit);
  }

  /** @inheritdoc */
  listRuns(filter: { owner: string; schedule?: string; limit: number }): Promise<StoredRun[]> {
    return this.#schedules.listRuns(filter);
  }

  /** @inheritdoc */
  lastRuns(owner: string, schedules: readonly string[]): Promise<Map<string, StoredRun>> {
    return this.#schedules.lastRuns(owner, schedules);
  }

  /** @inheritdoc */
  purgeRuns(before: Date): Promise<number> {
    return this.#schedules.purgeRuns(before);
  }

  /**
   * A session for `insitu.connect()` in one task, answered here: the sandbox has no network, so UDFs
   * never connect to PostgreSQL themselves (see pg-context-session.ts).
   */
  openContextSession(user: string, mode: ContextMode): ContextSession {
    const session = new PgContextSession(this.#db, user, mode, this.#udfPrivileges, {
      lockTimeoutMs: this.#busyTimeoutMs,
      slots: this.#slots,
      ...(this.#statementTimeoutMs === undefined ? {} : { statementTimeoutMs: this.#statementTimeoutMs }),
      onRelease: () => this.#sessions.delete(session),
    });
    this.#sessions.add(session);
    return session;
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    // A session whose task never ended (its runtime closed under it) would hold its connection, and the
    // pool waits for every connection before it ends: roll them back first.
    await Promise.allSettled([...this.#sessions].map((s) => s.release()));
    return this.#db.close();
  }
}
