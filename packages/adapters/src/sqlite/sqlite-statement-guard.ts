import { ErrorCode, InsituError, badInput, type SqlParam } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

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
  if (missing !== null) return new InsituError(ErrorCode.TABLE_NOT_FOUND, `table ${missing[1]} does not exist`, { cause: e });
  if (e instanceof RangeError || (e instanceof Error && (e as { code?: string }).code === 'SQLITE_ERROR')) {
    return badInput(`query is not valid SQL: ${msg} (in: ${sql.slice(0, 200)})`, { cause: e });
  }
  return new InsituError(ErrorCode.STORAGE_ERROR, `SQLite failed: ${msg}`, { cause: e });
}

/** What a statement may do. */
export type StatementUse = 'query' | 'read' | 'write';

/**
 * Prepare one statement and check it before anything runs:
 * - `query`: a single read-only statement that returns rows (query proxies, `conn.query`);
 * - `read`: a single read-only statement (`conn.execute` in a read-only context);
 * - `write`: a single statement that may change user tables, but not ATTACH/DETACH, PRAGMA or VACUUM.
 * No statement may open an engine table (`insitu_*`, found from its bytecode) or name one.
 */
export function prepareGuarded(db: BetterSqlite3.Database, sql: string, params: readonly SqlParam[], use: StatementUse): BetterSqlite3.Statement {
  if (typeof sql !== 'string' || sql.trim() === '') throw badInput('SQL text must be a non-empty string');
  let stmt: BetterSqlite3.Statement;
  try {
    stmt = db.prepare(sql);
  } catch (e) {
    if (e instanceof RangeError && /more than one statement/.test(e.message)) {
      throw badInput('a query must be a single SQL statement; remove the extra statements');
    }
    throw sqlError(e, sql);
  }
  if (use !== 'write' && !stmt.readonly) {
    const msg = `this statement would write, and ${use === 'query' ? 'a query must be read-only (a SELECT)' : "this call's database context is read-only; make the call with { context: 'write' } to change tables"}: ${sql.slice(0, 200)}`;
    throw use === 'query' ? badInput(msg) : new InsituError(ErrorCode.PRIVILEGE, msg);
  }
  if (use === 'query' && !stmt.reader) throw badInput(`a query must return rows (a SELECT): ${sql.slice(0, 200)}`);
  if (use !== 'query' && (/^\s*(ATTACH|DETACH)\b/i.test(sql) || (!stmt.readonly && /^\s*(PRAGMA|VACUUM)\b/i.test(sql)))) {
    throw new InsituError(ErrorCode.PRIVILEGE, `ATTACH, DETACH, PRAGMA and VACUUM are not allowed from a UDF: ${sql.slice(0, 200)}`);
  }
  if (!stmt.readonly && /insitu_/i.test(sql)) throw new InsituError(ErrorCode.PRIVILEGE, 'statements cannot change engine tables (insitu_*)');
  refuseEngineTables(db, sql, params);
  return stmt;
}

/** Refuse statements that open any b-tree of an `insitu_*` table (found from the statement's bytecode). */
function refuseEngineTables(db: BetterSqlite3.Database, sql: string, params: readonly SqlParam[]): void {
  const roots = new Set(db.prepare(`SELECT rootpage FROM sqlite_schema WHERE tbl_name LIKE 'insitu\\_%' ESCAPE '\\'`).pluck().all() as number[]);
  if (roots.size === 0) return;
  let ops: { opcode: string; p2: number; p3: number }[];
  try {
    ops = db.prepare(`EXPLAIN ${sql}`).all(...bindable(params)) as typeof ops;
  } catch (e) {
    throw sqlError(e, sql);
  }
  for (const op of ops) {
    if ((op.opcode === 'OpenRead' || op.opcode === 'OpenWrite') && op.p3 === 0 && roots.has(op.p2)) {
      throw badInput('queries cannot read engine tables (insitu_*); use the scripts and datastores APIs instead');
    }
  }
}
