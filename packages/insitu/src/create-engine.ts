import { Engine, type ServeSettings, asInsituError, badInput, checkPackagePolicy, checkResultLimits, checkUnownedTables, checkUserMode, type Int64Mode, type ResultLimits, type Runtime, type SqlBinder, type UnownedTables, type UserMode } from '@insitu/core';
import { PostgresStorage, SqliteStorage, isPostgresUrl } from '@insitu/adapters';
import { PACKAGE_FILES, PyodidePackageIndex, PyodideRuntime, SandboxRuntime, checkMemoryLimits, defaultSnapshotDir, prepareSnapshot, type PyodideRuntimeOptions, type RuntimeLogSink } from '@insitu/runtime-pyodide';
import { resolve } from 'node:path';
import { bundledWorkers } from './bundled-workers.js';
import { SqliteSqlBinder } from './sql/sql-binder.js';
import { UnsupportedSqlBinder } from './sql/unsupported-sql-binder.js';

/** Options for {@link createEngine}. */
export interface EngineOptions {
  /**
   * Where everything is stored. A SQLite database file (created if missing), or `':memory:'`; or a
   * PostgreSQL database given as a URL, `'postgres://user:password@host:5432/db'` (or `postgresql://`),
   * which several engines, on several machines, may share: they then share scripts, datastores, grants,
   * users, jobs and schedules, and each job and scheduled run runs once among them. The database must
   * exist; insitu creates its `insitu_engine_*` tables in it. On PostgreSQL, `session.sql.register()` is
   * NOT_SUPPORTED (the SQL functions are SQLite's). Default `'insitu.db'`.
   */
  readonly database?: string;
  /** Worker threads running Python, one Pyodide interpreter each. Default min(cores, 4). */
  readonly workers?: number;
  /**
   * Milliseconds a connection waits for SQLite's write lock before failing (`STORAGE_ERROR`). Default
   * 5000. A partition that writes holds the lock until it ends, so this bounds how long the engine's own
   * writes and other partitions' first writes wait for a writing partition (README: "A failed partition
   * writes nothing").
   */
  readonly busyTimeoutMs?: number;
  /** Default `timeoutMs` of every apply call; a call's own `timeoutMs` overrides it. Default: none. */
  readonly timeoutMs?: number;
  /**
   * PostgreSQL only: milliseconds one user query (a proxy's schema, count or read, a UDF's statement) may run before the
   * server cancels it (TIMEOUT). Default 300000 (5 min).
   */
  readonly statementTimeoutMs?: number;
  /**
   * How Int64 columns of result and pulled tables reach JavaScript: `'number'` (default) gives numbers
   * for columns whose values all lie within ±2^53, BigInt beyond; `'bigint'` always BigInt. A call's or
   * `pull()`'s own `int64` overrides it.
   */
  readonly int64?: Int64Mode;
  /** Milliseconds an interrupted UDF gets to stop before its worker is replaced. Default 500. */
  readonly interruptGraceMs?: number;
  /**
   * Directory for the workers' start-up snapshot (rebuilt automatically when stale), or `false` to boot
   * Pyodide plainly every time. Default `$XDG_CACHE_HOME/insitu` or `~/.cache/insitu`.
   */
  readonly snapshotDir?: string | false;
  /**
   * Hard cap on each worker interpreter's memory (wasm heap), in MiB, 128 to 4095. A UDF that allocates
   * past it gets MemoryError (the call fails with PYTHON_ERROR, type MemoryError); the engine and the
   * other workers are unaffected, and the worker is replaced after the call. Default 2048.
   */
  readonly maxMemoryMb?: number;
  /**
   * Replace a worker after a call that left its interpreter's heap at or above this many MiB (wasm
   * memory never shrinks). Default 1024, or `maxMemoryMb` when that is smaller.
   */
  readonly recycleHeapMb?: number;
  /**
   * `'process'` (default): UDFs run in a separate sandbox process (Node permission model, no code
   * generation from strings, empty environment, no JS bridges in Python). `'thread'`: workers run in
   * this process — faster to start, but **not a security boundary**: only for trusted code.
   */
  readonly isolation?: 'process' | 'thread';
  /**
   * With `isolation: 'process'`, the OS sandbox around the sandbox process. `'bubblewrap'` (default):
   * new user, PID, network and IPC namespaces, an empty root with only the files it needs (read-only
   * but for the database file and its WAL files); needs `bwrap` on PATH (Debian: `apt-get install
   * bubblewrap`) and refuses to start without it. `'none'`: an explicit opt-out to Node's permission model
   * alone, which does not cover signals, network or SQLite's own file I/O — only for trusted code.
   */
  readonly osSandbox?: 'bubblewrap' | 'none';
  /**
   * Receives what the Python runtime itself prints — Pyodide's console output in the worker threads
   * (such as its "fatal error" report when a UDF crashes an interpreter) and the sandbox process's
   * console and stderr — one entry per message. Not UDF output, which each call returns. Errors it
   * throws are ignored. Default: every line on `process.stderr`, prefixed `insitu:`.
   */
  readonly onRuntimeLog?: RuntimeLogSink;
  /**
   * Bytes of stdout, and of stderr, kept per partition (default 4 MiB). Past it the UDF keeps running; the
   * rest is dropped inside Python and a marker line at the end says how many bytes were.
   */
  readonly maxOutputBytes?: number;
  /**
   * Largest result one partition may return, in bytes (default 256 MiB): bytes length, JSON text length,
   * table columns, checked in Python before the value is copied out, then the Arrow IPC size. A larger
   * one fails the call with RESULT_TOO_LARGE.
   */
  readonly maxResultBytes?: number;
  /**
   * Bytes of partition results that calls still running may hold together, engine-wide (default 1 GiB).
   * A call whose next result would go past it fails with RESULT_TOO_LARGE and releases what it held;
   * other calls go on.
   */
  readonly maxResultBytesInFlight?: number;
  /**
   * Which session users are accepted. `'open'` (default, for embedding): a user is registered the
   * first time a session of it is made. `'registered'`: only users created with
   * `engine.users.create()`; every call of a session of another user fails with PRIVILEGE.
   */
  readonly users?: UserMode;
  /** Jobs (`session.jobs`) running at once on this database, over all engines open on it. Default 1. 0: this engine runs no jobs, it only submits them. */
  readonly maxConcurrentJobs?: number;
  /** Jobs one user may have queued at once (submitted, not yet running); one more is TOO_MANY_JOBS. Default 100. */
  readonly maxQueuedJobsPerUser?: number;
  /** Finished jobs and their results are deleted this many milliseconds after they finish. Default 7 days. */
  readonly jobRetentionMs?: number;
  /** Largest `timeoutMs` a job may ask for (a job's default is 1 800 000, 30 min). Default 43 200 000 (12 h). */
  readonly maxJobTimeoutMs?: number;
  /**
   * Milliseconds a running job's lease lasts unless its engine renews it (it does every third of it).
   * After an engine dies, other engines on other hosts end its jobs once their leases expire (engines on
   * the same host see the process is gone at once). Default 30 000.
   */
  readonly jobLeaseMs?: number;
  /** How often the engine looks for jobs queued by other engines and for expired leases, in ms. Default 1000. */
  readonly jobPollMs?: number;
  /**
   * What every user may do with tables that exist without an insitu owner (made outside insitu):
   * `'read'` (default), `'write'`, or `'none'` (invisible, like missing tables). An administrator gives
   * such a table an owner with `engine.tables.setOwner(name, user)`.
   */
  readonly unownedTables?: UnownedTables;
  /**
   * The scheduler's clock, in epoch milliseconds: it decides when schedules are due (jobs keep real
   * time). For tests that drive time instead of sleeping. Default `Date.now`.
   */
  readonly schedulerClock?: () => number;
  /** How often the engine looks for due schedules, in ms. Default 1000. */
  readonly schedulerTickMs?: number;
  /**
   * Python packages every call loads unless it names an environment (with their dependencies), from
   * the package index; fetched and checked when the engine starts (PACKAGE_MISSING, PACKAGE_INTEGRITY).
   */
  readonly packages?: readonly string[];
  /**
   * Where packages come from: a directory or http(s) URL holding a `pyodide-lock.json` and the archives
   * it names (a local mirror). Default: the installed Pyodide's own lock file and its CDN.
   */
  readonly packageIndex?: string;
  /** Pure-Python wheel files (`*-none-any.whl`) added to the package index under their names. */
  readonly wheels?: readonly string[];
  /**
   * Which packages a call may name in its own `packages`: `'index'` (default: any package of the
   * index) or a list of names; others are refused with PRIVILEGE before anything is fetched.
   * Environments (`engine.environments.create`) and `packages` are the owner's and always allowed.
   */
  readonly allowPackages?: 'index' | readonly string[];
  /**
   * Bytes of package archives the engine keeps in memory for reuse (least recently used dropped, and
   * fetched again when needed), and the most one call's packages may come to together
   * (PACKAGE_TOO_LARGE). Archives of environments and preloaded packages are held by them, outside
   * it. Default 256 MiB.
   */
  readonly packageCacheBytes?: number;
  /** The largest package archive fetched or read, in bytes; a download stops as soon as it passes it (PACKAGE_TOO_LARGE). Default 64 MiB. */
  readonly maxArchiveBytes?: number;
  /**
   * What this engine does for other engines on the same database. `{ distributed: true }`: its free
   * workers run partitions of any engine's `distribute: true` calls (as the calls' users, in its own
   * sandboxed workers). Without it an engine runs only its own calls' partitions. `leaseMs` (default
   * 10 000): how long a partition it claimed stays its own without renewal, so how soon another engine
   * runs it again when this one dies; `pollMs` (default 100): how often it looks for partitions when idle.
   */
  readonly serve?: ServeSettings;
}

/** A positive whole number of milliseconds, or BAD_INPUT. */
function checkStatementTimeout(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw badInput(`statementTimeoutMs must be a positive integer of milliseconds, got ${String(v)}`);
  return v;
}

/**
 * Create an engine on an embedded SQLite database (or a shared PostgreSQL one, see
 * {@link EngineOptions.database}) with a pool of Pyodide workers. The workers start
 * loading at once (about 2 s each, in parallel); the first call waits for one to be ready.
 *
 * ```ts
 * await using engine = await createEngine({ database: 'app.db', workers: 2 });
 * const me = engine.session({ user: 'alice' });
 * ```
 */
export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  const unownedTables = checkUnownedTables(opts.unownedTables);
  const database = opts.database ?? 'insitu.db';
  const onPostgres = typeof database === 'string' && isPostgresUrl(database);
  const storage = onPostgres
    ? await PostgresStorage.open(database, {
        unownedTables,
        ...(opts.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: opts.busyTimeoutMs }),
        ...(opts.statementTimeoutMs === undefined ? {} : { statementTimeoutMs: checkStatementTimeout(opts.statementTimeoutMs) }),
      })
    : new SqliteStorage(database, {
        ...(opts.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: opts.busyTimeoutMs }),
        unownedTables,
      });
  // Workers open their own connection to the same SQLite file for insitu.connect(); ':memory:' has none,
  // and on PostgreSQL the engine answers their SQL on a session per task (storage.openContextSession).
  const sqliteFile = storage instanceof SqliteStorage && !storage.inMemory ? resolve(storage.location) : null;
  let runtime: Runtime;
  let limits: ResultLimits;
  let users: UserMode;
  let packageSource: PyodidePackageIndex;
  try {
    checkPackagePolicy(opts.allowPackages);
    packageSource = new PyodidePackageIndex({
      ...(opts.packageIndex === undefined ? {} : { packageIndex: opts.packageIndex }),
      ...(opts.wheels === undefined ? {} : { wheels: opts.wheels }),
      ...(opts.packageCacheBytes === undefined ? {} : { cacheBytes: opts.packageCacheBytes }),
      ...(opts.maxArchiveBytes === undefined ? {} : { maxArchiveBytes: opts.maxArchiveBytes }),
    });
    users = checkUserMode(opts.users);
    const maxMemoryMb = checkMemoryLimits(opts).maxMemoryMb;
    limits = checkResultLimits(opts);
    // Bundled entries start each worker ~0.1 s sooner; without them the packages' own files run.
    const bundle = bundledWorkers();
    const runtimeOpts: PyodideRuntimeOptions = {
      ...(opts.workers === undefined ? {} : { workers: opts.workers }),
      ...(opts.interruptGraceMs === undefined ? {} : { interruptGraceMs: opts.interruptGraceMs }),
      // Made by the engine (never by a worker) once per Pyodide build and insitu Python package.
      snapshot: opts.snapshotDir === false ? null : await prepareSnapshot(resolve(opts.snapshotDir ?? defaultSnapshotDir()), PACKAGE_FILES.python, maxMemoryMb),
      ...(opts.osSandbox === undefined ? {} : { osSandbox: opts.osSandbox }),
      ...(opts.maxMemoryMb === undefined ? {} : { maxMemoryMb: opts.maxMemoryMb }),
      ...(opts.recycleHeapMb === undefined ? {} : { recycleHeapMb: opts.recycleHeapMb }),
      ...(opts.onRuntimeLog === undefined ? {} : { onLog: opts.onRuntimeLog }),
      maxOutputBytes: limits.maxOutputBytes,
      maxResultBytes: limits.maxResultBytes,
      maxTaskResultBytes: limits.maxResultBytesInFlight,
      ...(bundle === null ? {} : { files: { ...PACKAGE_FILES, worker: bundle.worker, sandboxMain: bundle.sandboxMain } }),
      ...(sqliteFile === null
        ? {}
        : {
            context: {
              module: bundle?.context ?? import.meta.resolve('@insitu/adapters/sqlite-context'),
              database: sqliteFile,
              ...(opts.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: opts.busyTimeoutMs }),
              options: { unownedTables },
            },
          }),
    };
    const isolation = opts.isolation ?? 'process';
    if (isolation !== 'process' && isolation !== 'thread') throw badInput(`isolation must be 'process' or 'thread', got ${JSON.stringify(isolation)}`);
    runtime = isolation === 'thread' ? new PyodideRuntime(runtimeOpts) : new SandboxRuntime(runtimeOpts);
  } catch (e) {
    await storage.close();
    throw asInsituError(e, 'createEngine');
  }
  // session.sql: its calls run on a second engine over the same file, started by the first register().
  const { onRuntimeLog, schedulerClock, serve: _serve, ...hostOptions } = opts;
  void _serve;
  void schedulerClock;
  const sql: SqlBinder = onPostgres ? new UnsupportedSqlBinder('PostgreSQL') : new SqliteSqlBinder(hostOptions, onRuntimeLog, sqliteFile);
  let engine: Engine;
  try {
    engine = new Engine(storage, runtime, {
      sql,
      packageSource,
      ...(opts.allowPackages === undefined ? {} : { allowPackages: opts.allowPackages }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
      ...(opts.int64 === undefined ? {} : { int64: opts.int64 }),
      maxResultBytesInFlight: limits.maxResultBytesInFlight,
      users,
      ...(opts.maxConcurrentJobs === undefined ? {} : { maxConcurrentJobs: opts.maxConcurrentJobs }),
      ...(opts.jobRetentionMs === undefined ? {} : { jobRetentionMs: opts.jobRetentionMs }),
      ...(opts.maxJobTimeoutMs === undefined ? {} : { maxJobTimeoutMs: opts.maxJobTimeoutMs }),
      ...(opts.jobLeaseMs === undefined ? {} : { jobLeaseMs: opts.jobLeaseMs }),
      ...(opts.jobPollMs === undefined ? {} : { jobPollMs: opts.jobPollMs }),
      ...(opts.maxQueuedJobsPerUser === undefined ? {} : { maxQueuedJobsPerUser: opts.maxQueuedJobsPerUser }),
      ...(opts.schedulerClock === undefined ? {} : { schedulerClock: opts.schedulerClock }),
      ...(opts.schedulerTickMs === undefined ? {} : { schedulerTickMs: opts.schedulerTickMs }),
      ...(opts.serve === undefined ? {} : { serve: opts.serve }),
    });
  } catch (e) {
    await Promise.allSettled([runtime.close(), storage.close()]);
    throw asInsituError(e, 'createEngine');
  }
  if (opts.packages !== undefined) {
    try {
      await engine.environments.preload(opts.packages);
    } catch (e) {
      await engine.close();
      throw asInsituError(e, 'createEngine');
    }
  }
  return engine;
}
