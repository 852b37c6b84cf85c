import {
  ErrorCode,
  InsituError,
  badInput,
  type CreateTableRequest,
  type TableAccessLevel,
  type TableGrant,
  type TableOwnership,
  type UnownedTables,
  tableOwnerOnly,
  type DatastoreInfo,
  type DatastoreListType,
  type Grant,
  type GrantKind,
  type ObjectInfo,
  type SaveMode,
  type GroupRange,
  type ScanChunk,
  type SqlParam,
  type TableScan,
  type TableSink,
  type IntoTarget,
  quoteIdentifier,
  type StoredObject,
  type StoredScriptGrant,
  type QuerySpec,
  type QueryPlan,
  type RowObject,
  type ScanOptions,
  type ScriptFilter,
  type Storage,
  type StoredScript,
  type StoredCredentials,
  type StoredUser,
  type UserDeletion,
  type JobOutcome,
  type JobState,
  type NewJob,
  type SerializedError,
  type StoredJob,
  type StoredJobProgress,
  type NewRun,
  type NewSchedule,
  type RunOutcome,
  type ScheduleAdvance,
  type StoredRun,
  type StoredSchedule,
} from '@insitu/core';
import type { Schema, Table } from 'apache-arrow';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { kindOfValues } from './sqlite-column-kind.js';
import { migrate } from './sqlite-migrations.js';
import { declaredKinds, scanBatches, schemaOf } from './sqlite-scanner.js';
import { compileSqliteQuery, sqliteFilters } from './sqlite-query-compiler.js';
import { bindable, prepareGuarded, sqlError, type StatementUser } from './sqlite-statement-guard.js';
import { SqliteTableAccess } from './sqlite-table-access.js';
import { SqliteTablePrivileges } from './sqlite-table-privileges.js';
import { SqliteAuthStore } from './sqlite-auth-store.js';
import { SqliteDatastoreStore } from './sqlite-datastore-store.js';
import { SqliteGrantStore } from './sqlite-grant-store.js';
import { SqliteScriptStore } from './sqlite-script-store.js';
import { SqliteJobStore } from './sqlite-job-store.js';
import { SqliteTaskStore } from './sqlite-task-store.js';
import { SqliteScheduleStore } from './sqlite-schedule-store.js';
import { SqliteUserStore } from './sqlite-user-store.js';
import { writeTable } from './sqlite-table-writer.js';
import { SqliteTableSink, dropStaleStaging } from './sqlite-table-sink.js';
import { writeWhenUnlocked } from './sqlite-write-wait.js';

/** Options for {@link SqliteStorage}. */
export interface SqliteStorageOptions {
  /** Milliseconds a connection waits for a lock before failing. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** What every user may do with tables that have no insitu owner. Default `read`. */
  readonly unownedTables?: UnownedTables;
}

/**
 * insitu storage on one SQLite database file (WAL mode) or `:memory:`. User tables are plain tables;
 * engine state lives in `insitu_*` tables created by versioned migrations.
 */
export class SqliteStorage implements Storage {
  /** The database path or `:memory:`. */
  readonly location: string;
  readonly #db: BetterSqlite3.Database;
  readonly #scripts: SqliteScriptStore;
  readonly #grants: SqliteGrantStore;
  readonly #datastores: SqliteDatastoreStore;
  readonly #users: SqliteUserStore;
  readonly #jobs: SqliteJobStore;
  /** @inheritdoc */
  readonly tasks: SqliteTaskStore;
  readonly #auth: SqliteAuthStore;
  readonly #schedules: SqliteScheduleStore;
  readonly #busyTimeoutMs: number;
  readonly #readers = new Set<BetterSqlite3.Database>();
  readonly #access: SqliteTableAccess;
  /** What every user may do with tables that have no insitu owner. */
  readonly unownedTables: UnownedTables;

  /** Open (creating if needed) and migrate the database at `location`. */
  constructor(location: string, opts: SqliteStorageOptions = {}) {
    if (typeof location !== 'string' || location === '') throw badInput('database must be a file path or ":memory:"');
    this.location = location;
    this.#busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    this.unownedTables = opts.unownedTables ?? 'read';
    try {
      this.#db = new Database(location, { timeout: this.#busyTimeoutMs });
      if (!this.inMemory) this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma('foreign_keys = ON');
      migrate(this.#db);
      dropStaleStaging(this.#db);
    } catch (e) {
      throw new InsituError(ErrorCode.STORAGE_ERROR, `cannot open database ${location}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    this.#scripts = new SqliteScriptStore(this.#db);
    this.#grants = new SqliteGrantStore(this.#db);
    this.#datastores = new SqliteDatastoreStore(this.#db);
    this.#users = new SqliteUserStore(this.#db);
    this.#access = new SqliteTableAccess(this.#db, new SqliteTablePrivileges(this.#db, this.unownedTables));
    this.#jobs = new SqliteJobStore(this.#db);
    this.#auth = new SqliteAuthStore(this.#db);
    this.#schedules = new SqliteScheduleStore(this.#db);
    this.tasks = new SqliteTaskStore(this.#db, (w) => this.#write(w));
  }

  /** Whether the database lives only in this connection's memory. */
  get inMemory(): boolean {
    return this.location === ':memory:' || this.location === '';
  }

  // ---- tables -------------------------------------------------------------------------------------

  /** @inheritdoc */
  compileQuery(plan: QueryPlan): QuerySpec {
    return compileSqliteQuery(plan);
  }

  /** @inheritdoc */
  async createTable(name: string, data: Table | readonly RowObject[], req: CreateTableRequest): Promise<void> {
    const privileges = this.#access.privileges;
    const existing = privileges.ownership(name);
    if (existing !== null && req.overwrite !== true) {
      throw new InsituError(ErrorCode.ALREADY_EXISTS, `table ${name} already exists; pass { overwrite: true } to replace it`);
    }
    // Replacing drops the table: only its owner may, whether or not others can see it.
    if (existing !== null && privileges.access(existing.name, req.owner) !== 'owner') throw tableOwnerOnly(existing.name, req.owner, 'replace');
    try {
      // A replaced table keeps its grants; a new one starts with none (a dropped table's are gone).
      await this.#write(() =>
        writeTable(this.#db, name, data, req.overwrite === true, existing !== null, () =>
          existing === null ? privileges.created(name, req.owner) : privileges.setOwner(existing.name, req.owner),
        ),
      );
    } catch (e) {
      throw sqlError(e, `CREATE TABLE ${name}`);
    }
  }

  /** @inheritdoc */
  async openTableSink(target: Required<IntoTarget>, user: string): Promise<TableSink> {
    return new SqliteTableSink(this.#db, this.#access.privileges, (w) => this.#write(w), target, user);
  }

  /** @inheritdoc */
  async hasTable(name: string): Promise<boolean> {
    return (
      this.#db.prepare(`SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE`).get(name) !== undefined
    );
  }

  /** @inheritdoc */
  async describe(query: QuerySpec, user: string): Promise<Schema> {
    const stmt = this.#prepareRead(this.#db, query, this.#as(user));
    const params = bindable(query.params);
    const { names, kinds } = declaredKinds(stmt);
    let first: unknown[] | undefined;
    if (kinds.includes(null)) first = stmt.raw(true).get(...params) as unknown[] | undefined;
    return schemaOf(
      names,
      kinds.map((k, c) => k ?? (first === undefined ? 'null' : kindOfValues([first], c, 1))),
    );
  }

  /** @inheritdoc */
  async count(query: QuerySpec, user: string): Promise<number> {
    this.#prepareRead(this.#db, query, this.#as(user));
    const sql = `SELECT count(*) FROM (${query.sql}\n)`;
    try {
      return this.#db.prepare(sql).pluck().get(...bindable(query.params)) as number;
    } catch (e) {
      throw asWritten(sqlError(e, query.sql), query);
    }
  }

  /**
   * @inheritdoc
   * File databases are read on a connection of the scan's own, so a long streamed scan never blocks
   * other calls (WAL gives it a consistent snapshot). `:memory:` databases are read up front.
   */
  async *scan(query: QuerySpec, opts: ScanOptions): AsyncGenerator<Table> {
    const params = bindable(query.params);
    const as = this.#as(opts.user);
    if (this.inMemory) {
      const stmt = this.#prepareRead(this.#db, query, as);
      const batches = [...scanBatches(stmt, params, opts.batchRows, opts.breakOn, opts.signal)];
      yield* batches;
      return;
    }
    // Checked against the user's privileges here, on the engine's connection (same schema), then run there.
    this.#prepareRead(this.#db, query, as);
    const reader = new Database(this.location, { readonly: true, fileMustExist: true, timeout: this.#busyTimeoutMs });
    this.#readers.add(reader);
    try {
      const stmt = this.#prepareRead(reader, query);
      for (const batch of scanBatches(stmt, params, opts.batchRows, opts.breakOn, opts.signal)) yield batch;
    } catch (e) {
      throw asWritten(sqlError(e, query.sql), query);
    } finally {
      this.#readers.delete(reader);
      reader.close();
    }
  }

  #prepareRead(db: BetterSqlite3.Database, query: QuerySpec, as?: StatementUser): BetterSqlite3.Statement {
    try {
      return prepareGuarded(db, query.sql, query.params, 'query', as);
    } catch (e) {
      throw asWritten(e, query);
    }
  }

  /** Statements run for `user` are checked against their table privileges. */
  #as(user: string): StatementUser {
    return { access: this.#access, user };
  }

  /**
   * @inheritdoc
   * Chunks are rowid ranges found by stepping `rows` rows at a time through the rowid b-tree (a few ms
   * per chunk), so planning streams alongside the work. Each chunk query reads `rowid >= start AND
   * rowid < next` in rowid order. Views, WITHOUT ROWID tables and `:memory:` databases are not split.
   * Chunks are separate statements, so rows written while the scan runs may or may not be seen.
   */
  async splitScan(scan: TableScan, rows: number, user: string): Promise<AsyncIterable<ScanChunk> | null> {
    if (!this.#splittable(scan.table)) return null;
    const table = quoteIdentifier(scan.table);
    const cols = scan.columns === null ? '*' : scan.columns.map(quoteIdentifier).join(', ');
    const where = sqliteFilters(scan).map((f) => ` AND (${f}\n)`).join('');
    const fparams = scan.filters.flatMap((f) => f.params);
    // Validate the chunk query shape once (read-only, no engine tables) before planning.
    const names = prepareGuarded(this.#db, `SELECT ${cols} FROM ${table} AS "t" WHERE 1${where}`, fparams, 'query', this.#as(user))
      .columns()
      .map((c) => c.name);
    const first = this.#db.prepare(`SELECT "t".rowid FROM ${table} AS "t" WHERE 1${where} ORDER BY "t".rowid LIMIT 1`).pluck();
    const next = this.#db.prepare(`SELECT "t".rowid FROM ${table} AS "t" WHERE "t".rowid >= ?${where} ORDER BY "t".rowid LIMIT 1 OFFSET ?`).pluck();
    const countFrom = this.#db.prepare(`SELECT count(*) FROM ${table} AS "t" WHERE "t".rowid >= ?${where}`).pluck();
    const rangedOf = (c: string) => `SELECT ${c} FROM ${table} AS "t" WHERE "t".rowid >= ? AND "t".rowid < ?${where} ORDER BY "t".rowid`;
    const tailOf = (c: string) => `SELECT ${c} FROM ${table} AS "t" WHERE "t".rowid >= ?${where} ORDER BY "t".rowid`;
    // Ordered by rowid, each column's statement returns the same rows in the same order as the whole.
    const byColumn = (of: (c: string) => string) => (new Set(names).size === names.length ? { byColumn: names.map((n) => of(quoteIdentifier(n))) } : {});
    const ranged = { sql: rangedOf(cols), ...byColumn(rangedOf) };
    const tail = { sql: tailOf(cols), ...byColumn(tailOf) };
    const fp = bindable(fparams);
    async function* chunks(): AsyncGenerator<ScanChunk> {
      let start = first.get(...fp) as number | undefined;
      while (start !== undefined) {
        const after = next.get(start, ...fp, rows) as number | undefined;
        if (after === undefined) {
          const n = countFrom.get(start, ...fp) as number;
          yield { query: { ...tail, params: [start, ...fparams] }, rows: n };
          return;
        }
        yield { query: { ...ranged, params: [start, after, ...fparams] }, rows };
        start = after;
      }
    }
    return chunks();
  }

  /**
   * @inheritdoc
   * One `GROUP BY` pass counts the rows of every key; contiguous key ranges are then cut so each holds
   * about 1/parts of the rows. Each range query selects `key >= lo AND key <= hi` (row values for several
   * key columns) ordered by the keys, which SQLite sorts in its own temp store.
   */
  async splitGroups(scan: TableScan, by: readonly string[], parts: number, user: string): Promise<GroupRange[] | null> {
    if (!this.#splittable(scan.table)) return null;
    const as = this.#as(user);
    const table = quoteIdentifier(scan.table);
    const cols = scan.columns === null ? '*' : scan.columns.map(quoteIdentifier).join(', ');
    const where = sqliteFilters(scan).map((f) => ` AND (${f}\n)`).join('');
    const fparams = scan.filters.flatMap((f) => f.params);
    const fp = bindable(fparams);
    const keys = by.map(quoteIdentifier).join(', ');
    if (by.length === 1) {
      const numeric = this.#numericRanges(table, keys, where, fparams, parts, as);
      if (numeric === null) return null;
      if (numeric !== undefined) {
        // Numeric keys sort the same in JS as in SQLite, so workers can group in memory without ORDER BY
        // (when every column's type is declared, so the column writers know their kinds up front).
        const plainSql = `SELECT ${cols} FROM ${table} AS "t" WHERE 1${where}`;
        const ordered = declaredKinds(prepareGuarded(this.#db, plainSql, fparams, 'query', as)).kinds.includes(null);
        const sqlOf = (last: boolean) =>
          `${plainSql} AND ${keys} >= ?${last ? '' : ` AND ${keys} < ?`}${ordered ? ` ORDER BY ${keys}` : ''}`;
        return numeric.map(([lo, hi], i) => ({
          query: i === numeric.length - 1 ? { sql: sqlOf(true), params: [...fparams, lo] } : { sql: sqlOf(false), params: [...fparams, lo, hi] },
          ordered,
        }));
      }
    }
    const countSql = `SELECT ${keys}, count(*) FROM ${table} AS "t" WHERE 1${where} GROUP BY ${keys} ORDER BY ${keys}`;
    const counts = prepareGuarded(this.#db, countSql, fparams, 'query', as).raw(true).all(...fp) as unknown[][];
    if (counts.some((row) => row.slice(0, by.length).some((v) => v === null))) return null;
    const total = counts.reduce((a, row) => a + (row[by.length] as number), 0);
    const ranges: [unknown[], unknown[]][] = [];
    let acc = 0;
    let lo: unknown[] | null = null;
    for (const row of counts) {
      const key = row.slice(0, by.length);
      lo ??= key;
      acc += row[by.length] as number;
      if (acc >= (total * (ranges.length + 1)) / parts) {
        ranges.push([lo, key]);
        lo = null;
      }
    }
    if (lo !== null) ranges.push([lo, counts[counts.length - 1]!.slice(0, by.length)]);
    const tuple = (n: number) => (n === 1 ? '?' : `(${Array(n).fill('?').join(', ')})`);
    const lhs = by.length === 1 ? keys : `(${keys})`;
    const sql = `SELECT ${cols} FROM ${table} AS "t" WHERE 1${where} AND ${lhs} >= ${tuple(by.length)} AND ${lhs} <= ${tuple(by.length)} ORDER BY ${keys}`;
    prepareGuarded(this.#db, sql, [...fparams, ...(ranges[0]?.[0] ?? []), ...(ranges[0]?.[1] ?? [])] as SqlParam[], 'query', as);
    return ranges.map(([a, b]) => ({ query: { sql, params: [...fparams, ...(a as SqlParam[]), ...(b as SqlParam[])] }, ordered: true }));
  }

  /**
   * Key ranges for one numeric key, from a single min/max pass (no sort): `parts` equal slices of the
   * value range. Null when the key has NULLs (those groups need the general path); undefined when the
   * key is not numeric.
   */
  #numericRanges(
    table: string,
    key: string,
    where: string,
    fparams: readonly SqlParam[],
    parts: number,
    as: StatementUser,
  ): [number, number][] | null | undefined {
    const sql = `SELECT min(${key}), max(${key}), count(*) - count(${key}) FROM ${table} AS "t" WHERE 1${where}`;
    const [lo, hi, nulls] = prepareGuarded(this.#db, sql, fparams, 'query', as).raw(true).get(...bindable(fparams)) as [unknown, unknown, number];
    if (nulls > 0) return null;
    if (typeof lo !== 'number' || typeof hi !== 'number') return lo === null ? [] : undefined;
    const cuts = [lo];
    for (let k = 1; k < parts; k++) {
      const c = lo + ((hi - lo) * k) / parts;
      const cut = Number.isInteger(lo) && Number.isInteger(hi) ? Math.ceil(c) : c;
      if (cut > cuts[cuts.length - 1]! && cut <= hi) cuts.push(cut);
    }
    return cuts.map((c, i) => [c, cuts[i + 1] ?? hi] as [number, number]);
  }

  /** Whether `name` is a rowid table in a file database (so it can be split for worker reads). */
  #splittable(name: string): boolean {
    if (this.inMemory) return false;
    const def = this.#db.prepare(`SELECT type, sql FROM sqlite_schema WHERE name = ? COLLATE NOCASE`).get(name) as
      | { type: string; sql: string }
      | undefined;
    return def !== undefined && def.type === 'table' && !/WITHOUT\s+ROWID/i.test(def.sql);
  }

  // ---- table owners and grants --------------------------------------------------------------------

  /** @inheritdoc */
  async getTableOwnership(name: string): Promise<TableOwnership | null> {
    return this.#access.privileges.ownership(name);
  }

  /** @inheritdoc */
  async tableAccess(name: string, user: string): Promise<TableAccessLevel> {
    const t = this.#access.privileges.ownership(name);
    return t === null ? 'none' : this.#access.privileges.access(t.name, user);
  }

  /** @inheritdoc */
  setTableOwner(name: string, owner: string | null): Promise<void> {
    return this.#write(() => this.#access.privileges.setOwner(name, owner));
  }

  /** @inheritdoc */
  putTableGrant(grant: TableGrant): Promise<void> {
    return this.#write(() => this.#access.privileges.putGrant(grant.table, grant.grantee, grant.privilege));
  }

  /** @inheritdoc */
  deleteTableGrant(table: string, grantee: string): Promise<boolean> {
    return this.#write(() => this.#access.privileges.deleteGrant(table, grantee));
  }

  // ---- scripts ------------------------------------------------------------------------------------

  /** @inheritdoc */
  async putScript(script: StoredScript, opts: { overwrite: boolean }): Promise<void> {
    return this.#write(() => this.#scripts.putScript(script, opts));
  }

  /** @inheritdoc */
  async putScripts(scripts: readonly StoredScript[], opts: { overwrite: boolean }): Promise<void> {
    return this.#write(() => this.#scripts.putScripts(scripts, opts));
  }

  /** @inheritdoc */
  async getScript(name: string, scope: { owner: string } | { global: true }): Promise<StoredScript | null> {
    return this.#scripts.getScript(name, scope);
  }

  /** @inheritdoc */
  async listScripts(filter: ScriptFilter): Promise<StoredScriptGrant[]> {
    return this.#scripts.listScripts(filter);
  }

  /** @inheritdoc */
  async deleteScript(name: string, scope: { owner: string } | { global: true }): Promise<boolean> {
    return this.#write(() => this.#scripts.deleteScript(name, scope));
  }

  // ---- grants -------------------------------------------------------------------------------------

  /** @inheritdoc */
  async putGrant(grant: Grant): Promise<void> {
    return this.#write(() => this.#grants.putGrant(grant));
  }

  /** @inheritdoc */
  async deleteGrant(grant: Grant): Promise<boolean> {
    return this.#write(() => this.#grants.deleteGrant(grant));
  }

  /** @inheritdoc */
  async hasGrant(kind: GrantKind, owner: string, name: string, user: string): Promise<boolean> {
    return this.#grants.hasGrant(kind, owner, name, user);
  }

  // ---- datastores ---------------------------------------------------------------------------------

  /** @inheritdoc */
  async saveDatastore(
    owner: string,
    name: string,
    objects: readonly StoredObject[],
    opts: { mode: SaveMode; description: string; grantable: boolean },
  ): Promise<void> {
    return this.#write(() => this.#datastores.saveDatastore(owner, name, objects, opts));
  }

  /** @inheritdoc */
  async getDatastore(owner: string, name: string): Promise<DatastoreInfo | null> {
    return this.#datastores.getDatastore(owner, name);
  }

  /** @inheritdoc */
  async loadObjects(owner: string, name: string, objects?: readonly string[]): Promise<StoredObject[]> {
    return this.#datastores.loadObjects(owner, name, objects);
  }

  /** @inheritdoc */
  async describeObjects(owner: string, name: string): Promise<ObjectInfo[]> {
    return this.#datastores.describeObjects(owner, name);
  }

  /** @inheritdoc */
  async listDatastores(filter: { user: string; type: DatastoreListType; name?: string }): Promise<DatastoreInfo[]> {
    return this.#datastores.listDatastores(filter);
  }

  /** @inheritdoc */
  async deleteDatastore(owner: string, name: string, objects?: readonly string[]): Promise<number> {
    return this.#write(() => this.#datastores.deleteDatastore(owner, name, objects));
  }

  // ---- users --------------------------------------------------------------------------------------

  /** @inheritdoc */
  putUser(user: StoredUser & { readonly passwordHash?: string }, opts: { ifMissing: boolean }): Promise<boolean> {
    return this.#write(() => this.#users.putUser(user, opts));
  }

  /** @inheritdoc */
  setPasswordHash(name: string, hash: string | null): Promise<boolean> {
    return this.#write(() => this.#users.setPasswordHash(name, hash));
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
    return this.#write(() => this.#users.deleteUser(name, opts));
  }

  /** Run a write on the engine's connection once SQLite's write lock is free (see sqlite-write-wait.ts). */
  #write<T>(write: () => T | Promise<T>): Promise<T> {
    return writeWhenUnlocked(this.#db, this.#busyTimeoutMs, write);
  }

  // ---- jobs (writes wait for the lock like the engine's other writes) ------------------------------

  /** @inheritdoc */
  insertJob(job: NewJob): Promise<void> {
    return this.#write(() => this.#jobs.insertJob(job));
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
    return this.#write(() => this.#jobs.claimJob(claim));
  }

  /** @inheritdoc */
  renewLeases(engine: string, ids: readonly string[], until: Date): Promise<string[]> {
    return this.#write(() => this.#jobs.renewLeases(engine, ids, until));
  }

  /** @inheritdoc */
  updateJobProgress(id: string, engine: string, progress: StoredJobProgress): Promise<void> {
    return this.#write(() => this.#jobs.updateJobProgress(id, engine, progress));
  }

  /** @inheritdoc */
  finishJob(id: string, engine: string, outcome: JobOutcome): Promise<boolean> {
    return this.#write(() => this.#jobs.finishJob(id, engine, outcome));
  }

  /** @inheritdoc */
  requeueJob(id: string, engine: string): Promise<boolean> {
    return this.#write(() => this.#jobs.requeueJob(id, engine));
  }

  /** @inheritdoc */
  cancelJob(id: string, owner: string, error: SerializedError, now: Date): Promise<StoredJob | null> {
    return this.#write(() => this.#jobs.cancelJob(id, owner, error, now));
  }

  /** @inheritdoc */
  recoverJobs(opts: { now: Date; isDead: (engine: string) => boolean; error: SerializedError }): Promise<string[]> {
    return this.#write(() => this.#jobs.recoverJobs(opts));
  }

  /** @inheritdoc */
  deleteJob(id: string, owner: string): Promise<boolean> {
    return this.#write(() => this.#jobs.deleteJob(id, owner));
  }

  /** @inheritdoc */
  purgeJobs(before: Date): Promise<number> {
    return this.#write(() => this.#jobs.purgeJobs(before));
  }

  // ---- sign-in state ------------------------------------------------------------------------------

  /** @inheritdoc */
  settingOrInit(key: string, value: string): Promise<string> {
    return this.#write(() => this.#auth.settingOrInit(key, value));
  }

  /** @inheritdoc */
  revokeLogin(id: string, until: Date): Promise<void> {
    return this.#write(() => this.#auth.revokeLogin(id, until));
  }

  /** @inheritdoc */
  loginRevoked(id: string): Promise<boolean> {
    return this.#auth.loginRevoked(id);
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

  /** @inheritdoc */
  async close(): Promise<void> {
    for (const r of this.#readers) r.close();
    this.#readers.clear();
    if (this.#db.open) this.#db.close();
  }
}

/**
 * `e` quoting the statement as the user wrote it (`query.text`) where its message quotes the engine's
 * wrapping of it (the first 200 characters, as the guard's messages do).
 */
function asWritten(e: unknown, query: QuerySpec): unknown {
  if (!(e instanceof InsituError) || query.text === undefined) return e;
  const wrapped = query.sql.slice(0, 200);
  if (!e.message.includes(wrapped)) return e;
  return new InsituError(e.code, e.message.split(wrapped).join(query.text.slice(0, 200)), { ...e.toJSON(), cause: e.cause });
}
