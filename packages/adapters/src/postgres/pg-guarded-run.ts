import { ErrorCode, InsituError, badInput } from '@insitu/core';
import type { PgStatementMode } from './pg-parse-tree-walker.js';
import type { PgQueryable } from './pg-table-privileges.js';

/** Options for {@link runGuarded}. */
export interface RunGuardedOptions {
  /** `query` and `read` run in a READ ONLY transaction. */
  readonly mode: PgStatementMode;
  /** statement_timeout for every statement of the transaction, in milliseconds. */
  readonly timeoutMs: number;
  /** lock_timeout for every statement of the transaction, in milliseconds (none when left out). */
  readonly lockTimeoutMs?: number;
  /** The statement as the user wrote it, quoted in error messages. */
  readonly text?: string;
}

/** The NOLOGIN role user statements run as (created by migration `002-tables`): no privilege on engine tables. */
export const STATEMENT_ROLE = 'insitu_udf';

/**
 * Run `fn` in a transaction made for user statements: `READ ONLY` unless `mode` is `write`, with
 * `statement_timeout`, `search_path` = public (then pg_temp, never first), and `SET LOCAL ROLE insitu_udf` (a role with no
 * privilege on engine tables, files or server functions), committed when `fn` resolves. A statement
 * cancelled by the timeout is TIMEOUT; the connection stays usable.
 */
export async function runGuarded<T>(client: PgQueryable, opts: RunGuardedOptions, fn: () => Promise<T>): Promise<T> {
  await client.query(opts.mode === 'write' ? 'BEGIN' : 'BEGIN READ ONLY');
  try {
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(opts.timeoutMs))}`);
    if (opts.lockTimeoutMs !== undefined) await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(opts.lockTimeoutMs))}`);
    await client.query(`SET LOCAL search_path = public, pg_temp`);
    await client.query(`SET LOCAL ROLE ${STATEMENT_ROLE}`);
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw userSqlError(e, opts.text ?? '');
  }
}

/** A driver error from running user SQL as an InsituError (TIMEOUT for the statement timeout). */
export function userSqlError(e: unknown, text: string): InsituError {
  if (e instanceof InsituError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const state = typeof err.code === 'string' ? err.code : '';
  const msg = typeof err.message === 'string' ? err.message : String(e);
  const where = text === '' ? '' : ` (in: ${text.slice(0, 200)})`;
  if (state === '57014') return new InsituError(ErrorCode.TIMEOUT, `the statement ran longer than its time limit and was cancelled${where}`, { cause: e });
  if (state === '42501') return new InsituError(ErrorCode.PRIVILEGE, `${msg}${where}`, { cause: e });
  if (state === '25006') return new InsituError(ErrorCode.PRIVILEGE, `this call's database context is read-only: ${msg}${where}`, { cause: e });
  if (/^(22|23|42|2B|0A|21|44)/.test(state)) return badInput(`query is not valid SQL: ${msg}${where}`, { cause: e });
  return new InsituError(ErrorCode.STORAGE_ERROR, `PostgreSQL failed: ${msg}${where}`, { cause: e });
}
