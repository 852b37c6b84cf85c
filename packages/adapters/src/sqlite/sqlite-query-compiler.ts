import { quoteIdentifier, type QueryPlan, type QuerySpec, type SqlParam, type TableScan } from '@insitu/core';

/** The `IS NOT NULL` condition of `naOmit` columns, as one expression (null when there are none). */
function notNullSql(columns: readonly string[]): string | null {
  return columns.length === 0 ? null : columns.map((c) => `${quoteIdentifier(c)} IS NOT NULL`).join(' AND ');
}

/** The WHERE expressions of a plain table scan: the user's filters, then its `notNull` columns. */
export function sqliteFilters(scan: TableScan): string[] {
  const extra = notNullSql(scan.notNull ?? []);
  return [...scan.filters.map((f) => f.sql), ...(extra === null ? [] : [extra])];
}

/**
 * A proxy's {@link QueryPlan} as SQLite SQL with `?` placeholders, in the form the SQLite adapter has
 * always run: `SELECT cols FROM "table" | (query) AS "t" WHERE (f1) AND (f2) ORDER BY ... LIMIT n`.
 * SQLite orders NULLs first ascending and last descending: the plan's order as it is.
 */
export function compileSqliteQuery(plan: QueryPlan): QuerySpec {
  const { source, columns, filters, limit } = plan;
  const params: SqlParam[] = [];
  const from = source.kind === 'table' ? quoteIdentifier(source.name) : `(${source.sql}\n)`;
  if (source.kind === 'query') params.push(...source.params);
  const cols = columns === null ? '*' : columns.map(quoteIdentifier).join(', ');
  const notNull = notNullSql(plan.notNull);
  const where = [...filters.map((f) => f.sql), ...(notNull !== null && plan.notNullAfterLimit !== true ? [notNull] : [])];
  let sql = `SELECT ${cols} FROM ${from} AS "t"`;
  if (where.length > 0) sql += ` WHERE ${where.map((f) => `(${f}\n)`).join(' AND ')}`;
  for (const f of filters) params.push(...f.params);
  if (plan.order.length > 0) sql += ` ORDER BY ${plan.order.map((o) => (o.descending ? `${quoteIdentifier(o.column)} DESC` : quoteIdentifier(o.column))).join(', ')}`;
  if (limit !== null) sql += ` LIMIT ${limit}`;
  // naOmit on a limited proxy: the NULLs are dropped from the rows the limit chose.
  if (notNull !== null && plan.notNullAfterLimit === true) sql = `SELECT * FROM (${sql}\n) AS "t" WHERE (${notNull}\n)`;
  return source.kind === 'query' ? { sql, params, text: source.sql } : { sql, params };
}
