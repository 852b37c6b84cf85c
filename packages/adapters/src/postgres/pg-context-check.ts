import { ErrorCode, InsituError } from '@insitu/core';
import type { ContextStatementCheck } from './pg-context-session.js';

/** The statement's first keyword past whitespace, comments and opening parentheses, upper-cased. */
function leadingKeyword(sql: string): string {
  const m = /^(?:\s|\(|--[^\n]*(?:\n|$)|\/\*[\s\S]*?(?:\*\/|$))*([A-Za-z]+)/.exec(sql);
  return m === null ? '' : m[1]!.toUpperCase();
}

/** Statements a UDF may run, by first keyword: reads in every context, changes with `write`. */
const READS = new Set(['SELECT', 'WITH', 'VALUES', 'TABLE']);
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/**
 * The check of a UDF's statement before helper B's parser-based guard (pg-statement-guard.ts) takes
 * over: reads, and with `write` row changes, nothing else (no transaction control, no settings, no
 * COPY, no DDL); no statement naming an engine table (`insitu_engine_*`) or a server-side file or
 * large-object function. The session's READ ONLY transaction backs the read-only rule.
 */
export const basicContextCheck: ContextStatementCheck = async (_client, sql, use) => {
  const keyword = leadingKeyword(sql);
  if (!READS.has(keyword) && !(use === 'write' && WRITES.has(keyword))) {
    const what = WRITES.has(keyword)
      ? "this statement would write, and this call's database context is read-only; make the call with { context: 'write' } to change tables"
      : `${keyword === '' ? 'this statement' : `a ${keyword} statement`} is not allowed here`;
    throw new InsituError(use === 'query' ? ErrorCode.BAD_INPUT : ErrorCode.PRIVILEGE, `${what}: ${sql.slice(0, 200)}`);
  }
  if (/insitu_engine_/i.test(sql)) throw new InsituError(ErrorCode.PRIVILEGE, `statements cannot reach engine tables (insitu_engine_*): ${sql.slice(0, 200)}`);
  if (/\b(pg_read|pg_ls_|pg_stat_file|lo_|dblink|pg_terminate|pg_cancel|set_config|pg_reload|pg_rotate)/i.test(sql)) {
    throw new InsituError(ErrorCode.PRIVILEGE, `this statement calls a server function UDFs may not use: ${sql.slice(0, 200)}`);
  }
};
