import { quoteIdentifier, type QueryPlan, type QuerySpec, type SqlParam } from '@insitu/core';
import { rebindPlaceholders } from './pg-placeholders.js';

/**
 * A proxy's {@link QueryPlan} as PostgreSQL SQL with `$n` placeholders: the user's `?` placeholders (in
 * a query source and in each filter, not inside literals, quoted identifiers or comments) are numbered
 * in binding order. NULLs sort as on SQLite (`ASC NULLS FIRST`, `DESC NULLS LAST`), so both backends
 * give rows and groups in the same order.
 */
export function compilePgQuery(plan: QueryPlan): QuerySpec {
  const { source, columns, filters, limit } = plan;
  const params: SqlParam[] = [];
  /** `sql` with its `?` numbered after the parameters bound so far. */
  const bind = (sql: string, own: readonly SqlParam[]): string => {
    const text = renumber(rebindPlaceholders(sql, own.length), params.length);
    params.push(...own);
    return text;
  };
  const from = source.kind === 'table' ? `"public".${quoteIdentifier(source.name)}` : `(${bind(source.sql, source.params)}\n)`;
  const cols = columns === null ? '*' : columns.map(quoteIdentifier).join(', ');
  const notNull = plan.notNull.length === 0 ? null : plan.notNull.map((c) => `${quoteIdentifier(c)} IS NOT NULL`).join(' AND ');
  const where = filters.map((f) => bind(f.sql, f.params));
  if (notNull !== null && plan.notNullAfterLimit !== true) where.push(notNull);
  let sql = `SELECT ${cols} FROM ${from} AS "t"`;
  if (where.length > 0) sql += ` WHERE ${where.map((f) => `(${f}\n)`).join(' AND ')}`;
  if (plan.order.length > 0) {
    sql += ` ORDER BY ${plan.order.map((o) => `${quoteIdentifier(o.column)} ${o.descending ? 'DESC NULLS LAST' : 'ASC NULLS FIRST'}`).join(', ')}`;
  }
  if (limit !== null) sql += ` LIMIT ${limit}`;
  if (notNull !== null && plan.notNullAfterLimit === true) sql = `SELECT * FROM (${sql}\n) AS "t" WHERE (${notNull}\n)`;
  return source.kind === 'query' ? { sql, params, text: source.sql } : { sql, params };
}

/** `$n` placeholders of `sql` moved up by `by` (a fragment bound after `by` other parameters), outside literals, quoted identifiers and comments. */
function renumber(sql: string, by: number): string {
  return by === 0 ? sql : shiftPlaceholders(sql, by);
}

function shiftPlaceholders(sql: string, by: number): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const start = i;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && i > 0 && /[eE]/.test(sql[i - 1]!);
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) {
          i++;
          break;
        } else i++;
      }
    } else if (c === '$' && (i === 0 || !/[A-Za-z0-9_$]/.test(sql[i - 1]!))) {
      const num = /^\$(\d+)/.exec(sql.slice(i));
      if (num !== null) {
        out += `$${Number(num[1]) + by}`;
        i += num[0].length;
        continue;
      }
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (tag === null) i++;
      else {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? n : end + tag[0].length;
      }
    } else i++;
    out += sql.slice(start, i);
  }
  return out;
}
