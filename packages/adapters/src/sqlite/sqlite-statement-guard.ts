import { ErrorCode, InsituError, badInput, leadingKeyword, tableNotFound, type SqlParam } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';
import type { Op, SqliteTableAccess, StatementReach } from './sqlite-table-access.js';

/** Bind values for better-sqlite3: booleans as 0/1, Dates as ISO text, Uint8Array as Buffer. */
export function bindable(params: readonly SqlParam[]): unknown[] {
  return params.map((p) => {
    if (typeof p === 'boolean') return p ? 1 : 0;
    if (p instanceof Date) return p.toISOString();
    if (p instanceof Uint8Array && !Buffer.isBuffer(p)) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    if (p === null || ['number', 'bigint', 'string'].includes(typeof p) || Buffer.isBuffer(p)) return p;
    throw badInput(`query parameter of type ${typeof p} cannot be bound; use null, boolean, number, bigint, string, Date or Uint8Array`);
  });
}

/** Turn a better-sqlite3 error about user SQL into a typed error. */
export function sqlError(e: unknown, sql: string): InsituError {
  if (e instanceof InsituError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const missing = /^no such table: (.*)$/.exec(msg);
  // SQLite names a missing table under a view or trigger as main.NAME; an invisible one is named NAME.
  if (missing !== null) return tableNotFound(missing[1]!.replace(/^main\./i, ''), e);
  if (e instanceof RangeError || (e instanceof Error && (e as { code?: string }).code === 'SQLITE_ERROR')) {
    return badInput(`query is not valid SQL: ${msg} (in: ${sql.slice(0, 200)})`, { cause: e });
  }
  return new InsituError(ErrorCode.STORAGE_ERROR, `SQLite failed: ${msg}`, { cause: e });
}

/** What a statement may do. */
export type StatementUse = 'query' | 'read' | 'write';

/** Pragmas a statement may run: they only report (no assignment is ever allowed). */
const REPORTING_PRAGMAS = new Set([
  'table_info', 'table_xinfo', 'table_list', 'index_list', 'index_info', 'index_xinfo', 'foreign_key_list',
  'collation_list', 'function_list', 'compile_options', 'user_version', 'schema_version', 'data_version',
  'encoding', 'page_size', 'page_count', 'freelist_count', 'foreign_key_check', 'integrity_check', 'quick_check',
]);

/** Statements never allowed, whatever the context: they reach outside the database or the engine's transaction. */
const REFUSED_KEYWORDS = new Set(['ATTACH', 'DETACH', 'VACUUM', 'BEGIN', 'COMMIT', 'END', 'ROLLBACK', 'SAVEPOINT', 'RELEASE']);

/** Opcodes of such statements, however they are spelled. */
const REFUSED_OPCODES = new Set(['Vacuum', 'AutoCommit', 'Savepoint', 'JournalMode']);

/**
 * Header cookies (SetCookie's P2) a statement may set: only the schema version, which every schema
 * change moves. The user version (6) holds the engine's migration level, the application id (8) names
 * the file's format: a UDF that set either would stop the engine from opening its database.
 */
const SETTABLE_COOKIES = new Set([1, 2, 5]);

/** Reporting pragmas that take an argument: the table or index they report on. Any other argument sets something. */
const ARGUMENT_PRAGMAS = new Set(['table_info', 'table_xinfo', 'index_list', 'index_info', 'index_xinfo', 'foreign_key_list', 'foreign_key_check']);

/** Opcodes whose P3 is the index of the database they open a b-tree in. */
const DATABASE_OPENS = new Set(['OpenRead', 'OpenWrite', 'ReopenIdx']);

/** SQL functions that attach, detach or load code. */
const REFUSED_FUNCTIONS = /^(sqlite_attach|sqlite_detach|load_extension)\(/i;

function refused(sql: string, what: string): InsituError {
  return new InsituError(ErrorCode.PRIVILEGE, `${what} is not allowed here: ${sql.slice(0, 200)}`);
}

/** A pragma statement's name, schema and argument (`PRAGMA [schema.]name[(arg) | = value]`). */
function pragmaOf(sql: string): { name: string; schema: string | null; arg: string | null } | null {
  const m = /^\s*PRAGMA\s+(?:"?([A-Za-z_]+)"?\s*\.\s*)?"?([A-Za-z_]+)"?\s*(?:\(\s*(?:"((?:[^"]|"")*)"|'((?:[^']|'')*)'|\[([^\]]*)\]|`([^`]*)`|([^\s)]+))\s*\))?/i.exec(
    sql.replace(/\/\*[\s\S]*?\*\/|--[^\n]*/g, ' '),
  );
  if (m === null) return null;
  const quoted = m[3]?.replaceAll('""', '"') ?? m[4]?.replaceAll("''", "'") ?? m[5] ?? m[6] ?? m[7] ?? null;
  return { schema: m[1] ?? null, name: m[2]!, arg: quoted };
}

/** Refuse statements that leave the database or its transaction, read as text and as bytecode. */
function refuseOutsideReach(sql: string, ops: readonly { opcode: string; p2: number; p3: number; p4: unknown }[]): void {
  const keyword = leadingKeyword(sql);
  if (REFUSED_KEYWORDS.has(keyword)) throw refused(sql, `${keyword}`);
  if (keyword === 'PRAGMA') {
    const m = /^\s*PRAGMA\s+(?:(?:main|temp)\s*\.\s*)?"?([A-Za-z_]+)"?\s*([=(])?/i.exec(sql.replace(/\/\*[\s\S]*?\*\/|--[^\n]*/g, ' '));
    // `PRAGMA user_version(5)` sets as `= 5` does: an argument only names what a reporting pragma reports on.
    if (m === null || m[2] === '=' || !REPORTING_PRAGMAS.has(m[1]!.toLowerCase()) || (m[2] === '(' && !ARGUMENT_PRAGMAS.has(m[1]!.toLowerCase()))) {
      throw refused(sql, 'this PRAGMA');
    }
  }
  // dbstat reports the pages of every table, engine tables included (their sizes tell about others' data).
  if (/dbstat/i.test(sql)) throw refused(sql, 'the dbstat table');
  for (const op of ops) {
    // JournalMode with P3 = -1 only asks the mode: SQLite compiles DROP ... IF EXISTS of a missing object so.
    if (REFUSED_OPCODES.has(op.opcode) && !(op.opcode === 'JournalMode' && op.p3 === -1)) throw refused(sql, 'this statement');
    if (op.opcode === 'SetCookie' && !SETTABLE_COOKIES.has(op.p2)) throw refused(sql, 'setting the database header');
    if ((op.opcode === 'Function' || op.opcode === 'PureFunc') && typeof op.p4 === 'string' && REFUSED_FUNCTIONS.test(op.p4)) {
      throw refused(sql, `${op.p4.replace(/\(.*$/, '')}()`);
    }
    // Database 0 is the engine's file, 1 the connection's temporary one; anything else was attached.
    if (DATABASE_OPENS.has(op.opcode) && op.p3 >= 2) throw refused(sql, 'a statement on an attached database');
  }
}

/** Whose privileges a statement runs with, and the checker that knows them. */
export interface StatementUser {
  readonly access: SqliteTableAccess;
  readonly user: string;
}

/**
 * Prepare one statement and check it before anything runs:
 * - `query`: a single read-only statement that returns rows (query proxies, `conn.query`);
 * - `read`: a single read-only statement (`conn.execute` in a read-only context);
 * - `write`: a single statement that may change user tables.
 * In every use, ATTACH, DETACH, VACUUM (INTO), transaction control, load_extension(), pragmas that set
 * anything and statements on attached databases are refused (PRIVILEGE), decided from the statement's
 * first keyword past any comments and from its bytecode; and no statement may open an engine table
 * (`insitu_*`, found from its bytecode) or name one. With `as`, every table it reads or writes is
 * checked against that user's privileges (see {@link SqliteTableAccess.check}).
 */
export function prepareGuarded(db: BetterSqlite3.Database, sql: string, params: readonly SqlParam[], use: StatementUse, as?: StatementUser): BetterSqlite3.Statement {
  return guardStatement(db, sql, params, use, as).stmt;
}

/** {@link prepareGuarded}, also saying whether the statement changes the schema. */
export function guardStatement(
  db: BetterSqlite3.Database,
  sql: string,
  params: readonly SqlParam[],
  use: StatementUse,
  as?: StatementUser,
): { stmt: BetterSqlite3.Statement } & StatementReach {
  if (typeof sql !== 'string' || sql.trim() === '') throw badInput('SQL text must be a non-empty string');
  // EXPLAIN cannot be checked (the guard's own EXPLAIN of it does not compile), and compiling it first
  // would tell an invisible table (it compiles) from a missing one (it does not): refused before that.
  if (/^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?(?:\*\/|$))*EXPLAIN\b/i.test(sql)) throw badInput(`EXPLAIN statements cannot run here: ${sql.slice(0, 200)}`);
  let stmt: BetterSqlite3.Statement;
  try {
    stmt = db.prepare(sql);
  } catch (e) {
    if (e instanceof RangeError && /more than one statement/.test(e.message)) {
      throw badInput('a query must be a single SQL statement; remove the extra statements');
    }
    // A compile error about a table the user cannot see ("no such column", a wrong count of values)
    // would describe it: such a statement answers as if the table were missing. (An existing name
    // taken by CREATE stays ALREADY_EXISTS-like: table names are one namespace.) Syntax errors come
    // before any name is looked up, whatever exists: they stay as they are, or they would tell instead.
    const msg = e instanceof Error ? e.message : '';
    if (as !== undefined && !/^no such table|already exists|already another table|syntax error|incomplete input|unrecognized token|parser stack overflow/.test(msg)) {
      const hidden = as.access.hiddenNamedIn(sql, as.user);
      if (hidden !== null) throw tableNotFound(hidden, e);
    }
    throw sqlError(e, sql);
  }
  const ops = explain(db, sql, params);
  refuseOutsideReach(sql, ops);
  if (leadingKeyword(sql) === 'PRAGMA' && !stmt.readonly) throw refused(sql, 'a PRAGMA that changes the database');
  if (as !== undefined && leadingKeyword(sql) === 'PRAGMA') {
    const p = pragmaOf(sql);
    if (p !== null) as.access.checkPragma(p.name, p.arg, p.schema, as.user);
  }
  if (use !== 'write' && !stmt.readonly) {
    const msg = `this statement would write, and ${use === 'query' ? 'a query must be read-only (a SELECT)' : "this call's database context is read-only; make the call with { context: 'write' } to change tables"}: ${sql.slice(0, 200)}`;
    throw use === 'query' ? badInput(msg) : new InsituError(ErrorCode.PRIVILEGE, msg);
  }
  if (use === 'query' && !stmt.reader) throw badInput(`a query must return rows (a SELECT): ${sql.slice(0, 200)}`);
  if (!stmt.readonly && /insitu_/i.test(sql)) throw new InsituError(ErrorCode.PRIVILEGE, 'statements cannot change engine tables (insitu_*)');
  refuseEngineTables(as === undefined ? engineRootsOf(db) : as.access.engineRoots(), ops);
  const reach = as === undefined ? { schemaChange: false } : as.access.check(ops, as.user, sql);
  return { stmt, ...reach };
}

/** The statement's bytecode. */
function explain(db: BetterSqlite3.Database, sql: string, params: readonly SqlParam[]): Op[] {
  try {
    return db.prepare(`EXPLAIN ${sql}`).all(...bindable(params)) as Op[];
  } catch (e) {
    throw sqlError(e, sql);
  }
}

/** Root pages of the engine's tables and their indexes. */
function engineRootsOf(db: BetterSqlite3.Database): ReadonlySet<number> {
  return new Set(db.prepare(`SELECT rootpage FROM sqlite_schema WHERE tbl_name LIKE 'insitu\\_%' ESCAPE '\\'`).pluck().all() as number[]);
}

/** Refuse statements that open any b-tree of an `insitu_*` table (found from the statement's bytecode). */
function refuseEngineTables(roots: ReadonlySet<number>, ops: readonly Op[]): void {
  if (roots.size === 0) return;
  for (const op of ops) {
    // P5 flag 0x10 (OPFLAG_P2ISREG): P2 is a register holding a b-tree the statement creates, not a root page.
    if ((op.opcode === 'OpenRead' || op.opcode === 'OpenWrite') && op.p3 === 0 && (op.p5 & 0x10) === 0 && roots.has(op.p2)) {
      throw badInput('queries cannot read engine tables (insitu_*); use the scripts and datastores APIs instead');
    }
  }
}
