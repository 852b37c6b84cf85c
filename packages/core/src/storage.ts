import type { Schema, Table } from 'apache-arrow';
import type { SerializedError } from './errors.js';
import type { AuthStorage } from './auth-storage.js';
import type { IntoTarget } from './into-target.js';
import type { TablePrivilegeStorage } from './table-privilege-storage.js';
import type { ScheduleStorage } from './schedule-storage.js';
import type { UserStorage } from './user-storage.js';
import type { QueryPlan } from './query-plan.js';
import type { TaskStorage } from './task-storage.js';
import type { RowObject, SqlParam } from './values.js';
import type { ContextSession } from './context-session.js';
import type { ContextMode } from './runtime.js';

/**
 * The storage interfaces core depends on. An adapter (SQLite today) implements them; core never sees
 * SQL drivers. Methods are async so that a networked backend fits the same shape.
 */

/** A read-only SQL query with bound parameters, as compiled from a table proxy. */
export interface QuerySpec {
  readonly sql: string;
  readonly params: readonly SqlParam[];
  /**
   * Optional: the same rows as `sql`, one column per statement (each taking the same `params`), every
   * statement in the same unique order. Read in one read transaction they give the same table as
   * `sql`, and faster: no array per row. Set by storages for the chunks of a plain table scan.
   */
  readonly byColumn?: readonly string[];
  /**
   * Optional: the statement as the user wrote it (a query proxy's SQL), quoted in error messages
   * instead of `sql`, which wraps it.
   */
  readonly text?: string;
}

/** Options for {@link TableStorage.scan}. */
export interface ScanOptions {
  /** Rows per batch; every batch but the last is exactly this long (unless cut by `breakOn`). */
  readonly batchRows: number;
  /** Also end a batch whenever the values of these columns change from one row to the next. */
  readonly breakOn?: readonly string[];
  /** Stop reading when aborted. */
  readonly signal?: AbortSignal;
  /** The user the rows are read for: every table the query reads is checked against their privileges. */
  readonly user: string;
}

/** Options for {@link TableStorage.createTable}. */
export interface CreateTableOptions {
  /** Replace an existing table of that name (in one transaction). Default false. */
  readonly overwrite?: boolean;
}

/** What {@link TableStorage.createTable} needs besides the user's options. */
export interface CreateTableRequest extends CreateTableOptions {
  /** The user creating it: its owner. Replacing a table is only for its owner (PRIVILEGE otherwise). */
  readonly owner: string;
}

/** One chunk of a split table scan: a query for exactly its rows, and how many there are. */
export interface ScanChunk {
  readonly query: QuerySpec;
  readonly rows: number;
}

/** A plain scan of one table: which columns, and which filters (`?` parameters bound in order). */
export interface TableScan {
  readonly table: string;
  readonly columns: readonly string[] | null;
  readonly filters: readonly { readonly sql: string; readonly params: readonly SqlParam[] }[];
  /** Columns that must not be NULL (an apply's `naOmit`), after the filters. */
  readonly notNull?: readonly string[];
}

/**
 * User tables and read-only queries. Every method that reads takes the user it reads for: each table
 * a query reaches (through views, joins, subqueries, CTEs) is checked against that user's privileges;
 * a table the user may not read answers TABLE_NOT_FOUND, exactly like a missing one.
 */
export interface TableStorage {
  /**
   * Compile a proxy's query plan into this storage's SQL (see {@link QueryPlan}): the dialect seam, so
   * core writes no database's SQL. The result is what `describe`, `count` and `scan` take.
   */
  compileQuery(plan: QueryPlan): QuerySpec;
  /**
   * Create (or with `overwrite`, replace) a table from an Arrow table or row objects, atomically, owned
   * by `req.owner`. Replacing another user's table is PRIVILEGE.
   */
  createTable(name: string, data: Table | readonly RowObject[], req: CreateTableRequest): Promise<void>;
  /** Whether a user table or view of that name exists (whoever may see it). */
  hasTable(name: string): Promise<boolean>;
  /**
   * Check that `query` is one read-only statement that `user` may run and return its Arrow schema.
   * Anything else is BAD_INPUT (TABLE_NOT_FOUND for a table the user may not read) and nothing runs.
   */
  describe(query: QuerySpec, user: string): Promise<Schema>;
  /** Number of rows `query` returns, read as `user`. */
  count(query: QuerySpec, user: string): Promise<number>;
  /** Stream the rows of `query`, read as `opts.user`, as Arrow tables of one record batch each. */
  scan(query: QuerySpec, opts: ScanOptions): AsyncIterable<Table>;
  /**
   * Optional: split a plain table scan, read as `user`, into queries of `rows` rows each (the last may
   * be shorter), in table order, planned lazily. Workers then read the chunks themselves, in parallel
   * (and check them again against the call's user). Resolves to null when the table cannot be split
   * (a view, a table without rowid).
   */
  splitScan?(scan: TableScan, rows: number, user: string): Promise<AsyncIterable<ScanChunk> | null>;
  /**
   * Optional: split a plain table scan grouped by `by`, read as `user`, into at most `parts` queries
   * over contiguous key ranges (balanced by rows), each returning its rows ordered by `by`, in
   * ascending key order. Resolves to null when it cannot (views, tables without rowid, NULL keys).
   */
  splitGroups?(scan: TableScan, by: readonly string[], parts: number, user: string): Promise<GroupRange[] | null>;
  /**
   * Optional: start writing a call's result into `target` as `user` (an apply's `into`). Privileges are
   * checked now and again at commit: `create` needs no table of that name (ALREADY_EXISTS), `append` a
   * table `user` may write (TABLE_NOT_FOUND, PRIVILEGE), `replace` one `user` owns, or none. Nothing
   * is visible in `target` before {@link TableSink.commit}.
   */
  openTableSink?(target: Required<IntoTarget>, user: string): Promise<TableSink>;
}

/**
 * A result table being written (see {@link TableStorage.openTableSink}): batches are stored as they
 * come, out of sight, and become the target table in one transaction at commit.
 */
export interface TableSink {
  /** Store `table`'s rows; its columns must match the first table's (BAD_RESULT otherwise). */
  write(table: Table): Promise<void>;
  /** Make the written rows the target table, atomically; resolves to the rows written. */
  commit(): Promise<number>;
  /** Throw away what was written; the target stays as it was. Idempotent, never throws. */
  abandon(): Promise<void>;
}

/**
 * One key range of a split grouped scan. `ordered`: the query returns rows ordered by the keys;
 * otherwise rows come unordered and the reader groups them in memory and sorts the (numeric) keys.
 */
export interface GroupRange {
  readonly query: QuerySpec;
  readonly ordered: boolean;
}

/** A stored script as kept by storage. */
export interface StoredScript {
  /** Script name (an identifier). */
  readonly name: string;
  /** User who created it. */
  readonly owner: string;
  /** Visible to every user when true. */
  readonly global: boolean;
  /** Python source text. */
  readonly source: string;
  /** Free-text description. */
  readonly description: string;
  /** When it was created or last replaced. */
  readonly created: Date;
}

/** Which scripts a listing returns, as seen by one user. */
export type ScriptListType = 'user' | 'global' | 'all' | 'grant' | 'granted';

/** Filter for {@link ScriptStorage.listScripts}. */
export interface ScriptFilter {
  /** Scripts as seen by this user. */
  readonly user: string;
  /**
   * `user`: the user's private scripts; `global`: all global ones; `all`: everything visible (own,
   * global, granted to the user or PUBLIC); `grant`: the user's scripts with a grant, one row per grantee;
   * `granted`: other users' private scripts granted to the user or PUBLIC.
   */
  readonly type: ScriptListType;
  /** SQL LIKE pattern on the name. */
  readonly name?: string;
}

/** A stored script with the grantee of one grant (for `grant` listings). */
export interface StoredScriptGrant extends StoredScript {
  readonly grantee?: string;
}

/** Script repository storage. A script is private to its owner (`global: false`) or global. */
export interface ScriptStorage {
  /**
   * Store a script. Private scripts are unique per (owner, name), global ones per name.
   * Without `overwrite`, an existing one is ALREADY_EXISTS and nothing changes.
   */
  putScript(script: StoredScript, opts: { overwrite: boolean }): Promise<void>;
  /**
   * Optional: store several scripts in one transaction, all or none (as `putScript` each: the first
   * that exists without `overwrite` is ALREADY_EXISTS and nothing changes). Script import needs it.
   */
  putScripts?(scripts: readonly StoredScript[], opts: { overwrite: boolean }): Promise<void>;
  /** The private script `name` of `owner`, or the global script `name` when `global`; null if absent. */
  getScript(name: string, scope: { owner: string } | { global: true }): Promise<StoredScript | null>;
  /** Scripts matching a filter, ordered by name then owner. */
  listScripts(filter: ScriptFilter): Promise<StoredScriptGrant[]>;
  /** Delete a script and the grants on it; returns whether one was deleted. */
  deleteScript(name: string, scope: { owner: string } | { global: true }): Promise<boolean>;
}

/** The kinds of object a grant can name. */
export type GrantKind = 'script' | 'datastore';

/** The grantee that stands for every user. */
export const PUBLIC = 'PUBLIC';

/** One read grant. */
export interface Grant {
  readonly kind: GrantKind;
  readonly owner: string;
  readonly name: string;
  /** A user name or {@link PUBLIC}. */
  readonly grantee: string;
}

/** Read grants on scripts and datastores. */
export interface GrantStorage {
  /** Add a grant (no-op if it exists). */
  putGrant(grant: Grant): Promise<void>;
  /** Remove a grant; returns whether one was removed. */
  deleteGrant(grant: Grant): Promise<boolean>;
  /** Whether `user` (directly or through PUBLIC) holds a grant on the object. */
  hasGrant(kind: GrantKind, owner: string, name: string, user: string): Promise<boolean>;
}

/** How a datastore object is serialised. */
export type ObjectFormat = 'json' | 'arrow' | 'pickle';

/** Facts about one datastore object, fixed when it is saved. */
export interface ObjectInfo {
  /** Object name inside the datastore. */
  readonly name: string;
  /** Python class name of the object as a UDF loads it (e.g. `dict`, `Frame`, `LinearModel`). */
  readonly class: string;
  /** Serialised size in bytes. */
  readonly size: number;
  /** `len(obj)` for sized objects, else null. */
  readonly length: number | null;
  /** Rows, for tables and frames, else null. */
  readonly rows: number | null;
  /** Columns, for tables and frames, else null. */
  readonly columns: number | null;
}

/** A serialised datastore object. */
export interface StoredObject extends ObjectInfo {
  readonly format: ObjectFormat;
  readonly data: Uint8Array;
}

/** A datastore's own facts. */
export interface DatastoreInfo {
  readonly name: string;
  readonly owner: string;
  readonly description: string;
  /** Whether its owner may grant read access to others. */
  readonly grantable: boolean;
  /** Number of objects in it. */
  readonly objectCount: number;
  /** Total serialised size in bytes. */
  readonly size: number;
  /** When it was created (or last replaced with overwrite). */
  readonly created: Date;
  /** For `grant` listings: who the grant is to. */
  readonly grantee?: string;
}

/** How {@link DatastoreStorage.saveDatastore} treats an existing datastore. */
export type SaveMode = 'create' | 'overwrite' | 'append';

/** Which datastores a listing returns, as seen by one user. */
export type DatastoreListType = 'user' | 'all' | 'grant' | 'granted';

/** Named bags of serialised objects, owned by users. */
export interface DatastoreStorage {
  /**
   * Write a datastore in one transaction. `create` fails with ALREADY_EXISTS if it exists; `overwrite`
   * replaces it whole; `append` adds or replaces the given objects (creating it if needed).
   */
  saveDatastore(
    owner: string,
    name: string,
    objects: readonly StoredObject[],
    opts: { mode: SaveMode; description: string; grantable: boolean },
  ): Promise<void>;
  /** A datastore's facts, or null. */
  getDatastore(owner: string, name: string): Promise<DatastoreInfo | null>;
  /** Objects of a datastore (all, or those named), in name order. */
  loadObjects(owner: string, name: string, objects?: readonly string[]): Promise<StoredObject[]>;
  /** Facts about each object, in name order. */
  describeObjects(owner: string, name: string): Promise<ObjectInfo[]>;
  /** Datastores as seen by `user`, ordered by name then owner (then grantee). */
  listDatastores(filter: { user: string; type: DatastoreListType; name?: string }): Promise<DatastoreInfo[]>;
  /**
   * Delete a whole datastore (with its grants) or only the named objects, in one transaction.
   * Returns how many objects were removed.
   */
  deleteDatastore(owner: string, name: string, objects?: readonly string[]): Promise<number>;
}

/** The states of a job: `queued` and `running` are live, the others final. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out';

/** All job states, for validation. */
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'];

/** Progress figures of a job, as stored. */
export interface StoredJobProgress {
  readonly partitionsDone: number;
  readonly partitionsTotal: number | null;
  readonly rowsDone: number;
}

/** A new job as submitted. */
export interface NewJob {
  /** Unique id (random, not guessable). */
  readonly id: string;
  readonly owner: string;
  /** The apply kind (`doEval`, ...). */
  readonly kind: string;
  /** A short description of the function (script name, `owner.name`, or `<inline>`). */
  readonly func: string;
  /** The call value, as JSON text. */
  readonly call: string;
  /** Who submitted it on the owner's behalf (e.g. `schedule:NAME`), or null for a direct submit. */
  readonly origin: string | null;
  /** Milliseconds the job may run. */
  readonly timeoutMs: number;
  /** How many times an interrupted run is queued again. */
  readonly retries: number;
  readonly created: Date;
}

/** A job as stored (the result bytes are read separately). */
export interface StoredJob extends NewJob {
  readonly state: JobState;
  readonly started: Date | null;
  readonly finished: Date | null;
  readonly progress: StoredJobProgress;
  readonly error: SerializedError | null;
  /** Runs started so far (more than one after an interrupted run was queued again). */
  readonly attempts: number;
  /** The engine holding the running job's lease, and until when. */
  readonly leaseOwner: string | null;
  readonly leaseExpires: Date | null;
  /** Whether a cancel was asked for while the job ran (the engine running it stops it). */
  readonly cancelRequested: boolean;
}

/** How a run ended, as {@link JobStorage.finishJob} records it. */
export interface JobOutcome {
  readonly state: 'succeeded' | 'failed' | 'cancelled' | 'timed_out';
  readonly finished: Date;
  readonly progress: StoredJobProgress;
  readonly error?: SerializedError;
  /** The serialised result, for `succeeded`. */
  readonly result?: Uint8Array;
}

/**
 * Persisted async jobs. Every read and change of one job names its owner: another owner's job is
 * treated as missing. A running job holds a lease (an engine id and an expiry) that the engine running
 * it renews; only the lease holder records its progress and outcome.
 */
export interface JobStorage {
  /** Store a new queued job. */
  insertJob(job: NewJob): Promise<void>;
  /** One job of `owner`, or null. */
  getJob(id: string, owner: string): Promise<StoredJob | null>;
  /** Jobs of `owner`, newest first, optionally of one state, at most `limit`. */
  listJobs(filter: { owner: string; state?: JobState; limit: number }): Promise<StoredJob[]>;
  /** The serialised result of a succeeded job of `owner`, or null. */
  getJobResult(id: string, owner: string): Promise<Uint8Array | null>;
  /**
   * In one transaction: if fewer than `maxRunning` jobs run (in any engine), move the oldest queued job
   * to running under a lease for `engine` until `leaseUntil` (a compare-and-set on its state) and return
   * it; else null.
   */
  claimJob(claim: { engine: string; now: Date; leaseUntil: Date; maxRunning: number }): Promise<StoredJob | null>;
  /**
   * Extend the leases `engine` holds on `ids` to `until`. Returns the ids it should stop: deleted,
   * asked to cancel, or no longer leased to it.
   */
  renewLeases(engine: string, ids: readonly string[], until: Date): Promise<string[]>;
  /** Record progress of a job leased to `engine`. */
  updateJobProgress(id: string, engine: string, progress: StoredJobProgress): Promise<void>;
  /** Record a run's outcome if the job is still running under `engine`'s lease; returns whether it was. */
  finishJob(id: string, engine: string, outcome: JobOutcome): Promise<boolean>;
  /**
   * Put a job running under `engine`'s lease back in the queue (an interrupted run with retries left:
   * `retries` goes down by one). Returns whether it was.
   */
  requeueJob(id: string, engine: string): Promise<boolean>;
  /**
   * Cancel a job of `owner`: a queued one becomes `cancelled` at once (with `error`); a running one is
   * marked for its engine to stop. Returns the job after the change, or null when there is none.
   */
  cancelJob(id: string, owner: string, error: SerializedError, now: Date): Promise<StoredJob | null>;
  /**
   * In one transaction, end every running job whose lease expired before `now` or whose lease holder
   * `isDead` says is gone: queued again when it has retries left, else `failed` with `error`. Touches
   * nothing else. Returns the ids changed.
   */
  recoverJobs(opts: { now: Date; isDead: (engine: string) => boolean; error: SerializedError }): Promise<string[]>;
  /** Delete a job of `owner` (whatever its state); returns whether there was one. */
  deleteJob(id: string, owner: string): Promise<boolean>;
  /** Delete finished jobs that finished before `before`; returns how many. */
  purgeJobs(before: Date): Promise<number>;
}

/** Everything core needs from a storage backend. */
export interface Storage
  extends TableStorage,
    TablePrivilegeStorage,
    ScriptStorage,
    GrantStorage,
    DatastoreStorage,
    UserStorage,
    AuthStorage,
    JobStorage,
    ScheduleStorage {
  /** Where the data lives: a file path, or `:memory:`. */
  readonly location: string;
  /**
   * The shared queue of distributed partitions (`distribute: true`), when this storage can hold one for
   * several engines; absent: distributed calls run on the calling engine alone.
   */
  readonly tasks?: TaskStorage;
  /**
   * A database session for `insitu.connect()` in one task, answered by the engine (see
   * {@link ContextSession}). Absent: the storage gives UDFs no connection through the engine (SQLite:
   * workers open the database file themselves, and an engine on `:memory:` has none to give).
   */
  openContextSession?(user: string, mode: ContextMode): ContextSession;
  /** Release connections. Idempotent. */
  close(): Promise<void>;
}
