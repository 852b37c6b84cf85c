import { badInput } from '@insitu/core';
import type { PgQueryable } from './pg-table-privileges.js';

/** A PostgreSQL quoted identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A change to the statement's text at a byte location: a table reference, a column reference, a bytes parameter, an alias. */
export type Edit =
  | { readonly at: number; readonly kind: 'table'; readonly name: string; readonly alias: string | null }
  | { readonly at: number; readonly kind: 'column'; readonly parts: number; readonly names: KnownNames }
  | { readonly at: number; readonly kind: 'bytea' }
  | { readonly at: number; readonly kind: 'alias'; readonly name: string };

/** The names a statement's column references may mean: its tables' columns, then its SELECT lists' output names. */
export interface KnownNames {
  readonly columns: readonly string[];
  readonly outputs: readonly string[];
}

/** Every column name of the statement's tables (each spelling once). */
export async function columnNames(q: PgQueryable, tables: readonly string[]): Promise<string[]> {
  const { rows } = await q.query<{ attname: string }>(
    `SELECT DISTINCT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [tables],
  );
  return rows.map((r) => r.attname);
}

/**
 * The spelling a column name written in a statement means, as SQLite matches names: the name itself
 * when a table or a SELECT list has it exactly (an unquoted name folded to lower case, as PostgreSQL
 * reads it); otherwise the one name that differs only in case, first among the tables'
 * columns, then among output names; null when none does (PostgreSQL then reports the missing column).
 * Several names that differ only in case, none exactly: BAD_INPUT naming them.
 */
function spellingOf(written: string, quoted: boolean, known: KnownNames): string | null {
  const exact = quoted ? written : written.toLowerCase();
  if (known.columns.includes(exact) || known.outputs.includes(exact)) return null;
  for (const names of [known.columns, known.outputs]) {
    const like = [...new Set(names.filter((n) => n.toLowerCase() === exact.toLowerCase()))].sort();
    if (like.length > 1) {
      throw badInput(`column name ${written} is ambiguous: it matches ${like.map((n) => `"${n}"`).join(' and ')}, which differ only in case; write the one you mean in double quotes, exactly`);
    }
    if (like.length === 1) return like[0]!;
  }
  return null;
}

/** The parts of the `[schema.]name` chain starting at offset 0 of `sql`: offset, length, quoted. */
export function chainParts(sql: string): { at: number; len: number; quoted: boolean }[] {
  const parts: { at: number; len: number; quoted: boolean }[] = [];
  let i = 0;
  for (;;) {
    const start = i;
    if (sql[i] === '"') {
      i++;
      while (i < sql.length && !(sql[i] === '"' && sql[i + 1] !== '"')) i += sql[i] === '"' ? 2 : 1;
      i++;
      parts.push({ at: start, len: i - start, quoted: true });
    } else {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i));
      if (m === null) break;
      i += m[0].length;
      parts.push({ at: start, len: m[0].length, quoted: false });
    }
    const dot = /^\s*\.\s*/.exec(sql.slice(i));
    if (dot === null) break;
    i += dot[0].length;
  }
  return parts;
}

/**
 * The text after a table name with `AS "alias"` put where the grammar takes it: after `*` in `FROM t *`,
 * after `)` in `FROM ONLY (t)`, nowhere in `TABLE t` (no column can name it there), else right after the name.
 */
function withAlias(head: string, after: string, alias: string): string {
  const as = ` AS ${quoteIdent(alias)}`;
  if (/\bTABLE\s+(ONLY\s*\(?\s*)?$/i.test(head)) return after;
  const star = /^\s*\*/.exec(after);
  if (star !== null) return star[0] + as + after.slice(star[0].length);
  const paren = /^\s*\)/.exec(after);
  if (paren !== null && /\bONLY\s*\(\s*$/i.test(head)) return paren[0] + as + after.slice(paren[0].length);
  return as + after;
}

/**
 * Apply the edits: each table reference becomes `"public"."Real"` (plus `AS "name"` when it had no
 * alias, so `name.column` still resolves); each column name, quoted or not, that names no column exactly
 * but one in another case becomes that spelling, quoted (SQLite matches names case-insensitively, quoted
 * ones too; this keeps queries and proxies' orderBy / select / partition keys portable);
 * each `$n` bound to bytes becomes `$n::bytea`; each `alias` edit quotes the alias as written.
 */
export function rewriteNames(sql: string, edits: readonly Edit[]): string {
  // Locations are byte offsets into the UTF-8 text.
  let out = Buffer.from(sql, 'utf8');
  const sorted = [...edits].sort((a, b) => b.at - a.at);
  for (const e of sorted) {
    const head = out.subarray(0, e.at).toString('utf8');
    const rest = out.subarray(e.at).toString('utf8');
    if (e.kind === 'alias') {
      out = Buffer.from(`${head}${quoteIdent(e.name)}${rest.slice(e.name.length)}`, 'utf8');
      continue;
    }
    if (e.kind === 'bytea') {
      const param = /^\$\d+/.exec(rest);
      if (param !== null) out = Buffer.from(`${head}${param[0]}::bytea${rest.slice(param[0].length)}`, 'utf8');
      continue;
    }
    const parts = chainParts(rest);
    if (parts.length === 0) continue;
    let replaced: string;
    if (e.kind === 'table') {
      const last = parts.at(-1)!;
      const after = rest.slice(last.at + last.len);
      replaced = `"public".${quoteIdent(e.name)}${e.alias === null ? after : withAlias(head, after, e.alias)}`;
    } else {
      replaced = rest;
      // Only the column's own name (the last part); `t.*` and names the text does not show whole are left alone.
      const p = parts.at(-1)!;
      if (parts.length === e.parts) {
        const raw = rest.slice(p.at, p.at + p.len);
        const real = spellingOf(p.quoted ? raw.slice(1, -1).replaceAll('""', '"') : raw, p.quoted, e.names);
        if (real !== null) replaced = rest.slice(0, p.at) + quoteIdent(real) + rest.slice(p.at + p.len);
      }
    }
    out = Buffer.from(head + replaced, 'utf8');
  }
  return out.toString('utf8');
}
