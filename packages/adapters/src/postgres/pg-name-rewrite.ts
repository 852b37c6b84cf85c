import type { PgQueryable } from './pg-table-privileges.js';

/** A PostgreSQL quoted identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A change to the statement's text at a byte location: a table reference, or the names of a column reference. */
export type Edit =
  | { readonly at: number; readonly kind: 'table'; readonly name: string; readonly alias: string | null }
  | { readonly at: number; readonly kind: 'columns'; readonly spelled: ReadonlyMap<string, string> };

/**
 * Columns of the statement's tables whose names PostgreSQL's folding to lower case would miss: lower
 * case name -> the one spelling the tables have (names with several spellings are left alone).
 */
export async function columnSpellings(q: PgQueryable, tables: readonly string[]): Promise<ReadonlyMap<string, string>> {
  const { rows } = await q.query<{ attname: string }>(
    `SELECT DISTINCT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [tables],
  );
  const byLower = new Map<string, Set<string>>();
  for (const r of rows) {
    const k = r.attname.toLowerCase();
    if (!byLower.has(k)) byLower.set(k, new Set());
    byLower.get(k)!.add(r.attname);
  }
  const out = new Map<string, string>();
  for (const [k, names] of byLower) {
    if (names.size === 1 && !names.has(k)) out.set(k, [...names][0]!);
  }
  return out;
}

/** The parts of the `[schema.]name` chain starting at offset 0 of `sql`: offset, length, quoted. */
function chainParts(sql: string): { at: number; len: number; quoted: boolean }[] {
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
 * alias, so `name.column` still resolves); each unquoted column name that the tables spell with capitals
 * becomes that spelling, quoted (SQLite matches names case-insensitively; this keeps queries portable).
 */
export function rewriteNames(sql: string, edits: readonly Edit[]): string {
  // Locations are byte offsets into the UTF-8 text.
  let out = Buffer.from(sql, 'utf8');
  const sorted = [...edits].sort((a, b) => b.at - a.at);
  for (const e of sorted) {
    const head = out.subarray(0, e.at).toString('utf8');
    const rest = out.subarray(e.at).toString('utf8');
    const parts = chainParts(rest);
    if (parts.length === 0) continue;
    let replaced: string;
    if (e.kind === 'table') {
      const last = parts.at(-1)!;
      const after = rest.slice(last.at + last.len);
      replaced = `"public".${quoteIdent(e.name)}${e.alias === null ? after : withAlias(head, after, e.alias)}`;
    } else {
      replaced = rest;
      for (const p of [...parts].reverse()) {
        if (p.quoted) continue;
        const real = e.spelled.get(rest.slice(p.at, p.at + p.len).toLowerCase());
        if (real !== undefined) replaced = replaced.slice(0, p.at) + quoteIdent(real) + replaced.slice(p.at + p.len);
      }
    }
    out = Buffer.from(head + replaced, 'utf8');
  }
  return out.toString('utf8');
}
