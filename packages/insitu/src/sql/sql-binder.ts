import Database from 'better-sqlite3';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, InsituError, badInput, type SessionSql, type SqlBinder, type SqlConnection, type SqlRegisterOptions } from '@insitu/core';
import type { RuntimeLogSink } from '@insitu/runtime-pyodide';
import { registerSqlFunctions } from './sql-functions.js';
import { SqlHost } from './sql-host.js';
import type { HostEngineOptions } from './sql-protocol.js';

/** A file's canonical path (symbolic links followed), or its resolved path when it cannot be read. */
function canonical(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/**
 * The user whose functions each connection holds. A connection serves one user: were a second user's
 * register() to replace the functions, the first user's temp `_vt` tables (bound to the module they were
 * made with) would still answer as the first user to whoever now runs statements on it.
 */
const connectionUsers = new WeakMap<object, string>();

/** A SQL call's timeout when neither the call, register() nor the engine gives one (the REST server's sync default). */
export const DEFAULT_SQL_TIMEOUT_MS = 300_000;

/**
 * `session.sql` of an engine made by createEngine: the first register() starts the SQL host thread
 * (an engine of its own on the same file, with the same options), which every session's functions share.
 */
export class SqliteSqlBinder implements SqlBinder {
  readonly #options: HostEngineOptions;
  readonly #onLog: RuntimeLogSink | undefined;
  readonly #database: string | null;
  readonly #busyTimeoutMs: number;
  #host: Promise<SqlHost> | null = null;
  /** The host once started (told about drops at once, before any later request is sent). */
  #ready: SqlHost | null = null;
  readonly #opened = new Set<Database.Database>();
  #closed = false;

  /** `database`: the engine's file (null for `:memory:`, which no other engine can open). */
  constructor(options: HostEngineOptions, onLog: RuntimeLogSink | undefined, database: string | null) {
    this.#options = options;
    this.#onLog = onLog;
    this.#database = database;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  }

  async #hostStarted(): Promise<SqlHost> {
    // A host whose thread ended is replaced (functions registered on it fail with RUNTIME_ERROR until then).
    const current = await this.#host?.catch(() => null);
    if (current?.stopped === true) {
      this.#host = null;
      this.#ready = null;
    }
    if (this.#host === null) {
      const started = SqlHost.start({ ...this.#options, database: this.#database! }, this.#onLog).then((h) => (this.#ready = h));
      this.#host = started;
      // A host that failed to start is tried again by the next register().
      started.catch(() => {
        if (this.#host === started) this.#host = null;
      });
    }
    return this.#host;
  }

  /** The SQL functions of `user`. */
  forUser(user: string): SessionSql {
    return {
      register: async <D extends SqlConnection = SqlConnection>(db?: D, opts: SqlRegisterOptions = {}): Promise<D> => {
        if (this.#closed) throw new InsituError(ErrorCode.CLOSED, 'the engine is closed');
        if (this.#database === null) {
          throw badInput('SQL functions need a database file: their calls run on a second engine that opens the same file, which an in-memory database cannot share');
        }
        const timeoutMs = opts.timeoutMs ?? this.#options.timeoutMs ?? DEFAULT_SQL_TIMEOUT_MS;
        if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw badInput(`register() timeoutMs must be a positive integer, got ${String(timeoutMs)}`);
        if (db !== undefined && (db === null || typeof db.table !== 'function' || db.open !== true)) {
          throw badInput('register() takes an open better-sqlite3 Database (or nothing, for a new connection to the engine\'s file)');
        }
        // The calls read the engine's file: on a connection to another file, INPUT would name tables it does not have.
        if (db !== undefined && canonical(db.name) !== canonical(this.#database)) {
          throw badInput(`register() needs a connection to the engine's database file (${this.#database}), got one to ${JSON.stringify(db.name)}`);
        }
        const holder = db === undefined ? undefined : connectionUsers.get(db);
        if (holder !== undefined && holder !== user) {
          throw badInput(
            `this connection's SQL functions already run as ${holder}, and its temporary tables of them would keep doing so; one connection serves one user: open another connection for ${user}`,
          );
        }
        const host = await this.#hostStarted();
        // Registers the user in 'open' mode (refused in 'registered' mode for an unknown one) now, not
        // inside a SQL statement whose connection may hold the write lock.
        host.request({ op: 'admit', user }, timeoutMs);
        let conn: SqlConnection;
        if (db === undefined) {
          const own = new Database(this.#database, { timeout: this.#busyTimeoutMs, fileMustExist: true });
          own.pragma('foreign_keys = ON');
          this.#opened.add(own);
          conn = own as unknown as SqlConnection;
        } else conn = db;
        const taken = connectionUsers.get(conn);
        if (taken !== undefined && taken !== user) throw badInput(`this connection's SQL functions already run as ${taken}; open another connection for ${user}`);
        connectionUsers.set(conn, user);
        registerSqlFunctions(conn, { host, user, timeoutMs });
        return conn as D;
      },
    };
  }

  /** `user` was dropped: the host's engine admits its next request again (PRIVILEGE in 'registered' mode). */
  userDropped(user: string): void {
    if (this.#ready !== null) this.#ready.forget(user);
    // A host still starting is told once it is up (before it answers any register() of the user).
    else void this.#host?.then((h) => h.forget(user), () => undefined);
  }

  /** Close the connections register() opened and stop the host thread, ending its jobs as `jobs` says. */
  async close(opts: { readonly jobs?: 'interrupt' | 'wait' } = {}): Promise<void> {
    this.#closed = true;
    for (const db of this.#opened) db.close();
    this.#opened.clear();
    const host = await this.#host?.catch(() => null);
    await host?.close(opts.jobs ?? 'interrupt');
  }
}
