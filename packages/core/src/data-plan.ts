import { badInput } from './errors.js';
import { checkColumnName, checkIdentifier } from './identifiers.js';
import { decodeScalar, encodeScalar, type JsonScalar } from './json-params.js';
import { leadingKeyword } from './sql-text.js';
import type { SqlParam } from './values.js';

/** Where a proxy's rows come from. */
export type ProxySource =
  | { readonly kind: 'table'; readonly name: string }
  | { readonly kind: 'query'; readonly sql: string; readonly params: readonly SqlParam[] };

/** A table proxy's state in memory: its source and how it is narrowed. @internal */
export interface ProxyPlan {
  readonly source: ProxySource;
  readonly columns: readonly string[] | null;
  readonly filters: readonly { readonly sql: string; readonly params: readonly SqlParam[] }[];
  /** Column names, `-NAME` for descending, as given to `orderBy()`. */
  readonly order: readonly string[];
  readonly limit: number | null;
  /** Columns that must not be NULL (an apply's `naOmit`; not part of the JSON plan). */
  readonly notNull?: readonly string[];
}

/**
 * A table proxy as plain JSON data (see `TableProxy.toPlan()`): a table name or a read-only query with
 * its parameters, and the `select` / `where` / `orderBy` / `limit` narrowing, in that order of meaning.
 * Parameters that JSON cannot hold use the tagged forms of {@link JsonScalar}.
 */
export interface DataPlan {
  readonly source: { readonly table: string } | { readonly sql: string; readonly params?: readonly JsonScalar[] };
  readonly select?: readonly string[];
  readonly where?: readonly { readonly sql: string; readonly params?: readonly JsonScalar[] }[];
  /** Column names, `-NAME` for descending. */
  readonly orderBy?: readonly string[];
  readonly limit?: number;
}

/** Check that `sql` is one read-only statement by its first keyword (what `session.query()` takes). */
export function checkQuerySql(sql: unknown, what: string): string {
  if (typeof sql !== 'string' || sql.trim() === '') throw badInput(`${what} needs a SQL string`);
  const keyword = leadingKeyword(sql);
  if (!['SELECT', 'WITH', 'VALUES'].includes(keyword)) {
    throw badInput(`${what} takes one read-only SELECT (or WITH ... SELECT, VALUES); this statement starts with ${keyword || 'no keyword'}`);
  }
  return sql;
}

/** Check one `orderBy()` term (`NAME` or `-NAME`) and return it. */
export function checkOrderTerm(term: unknown, what: string): string {
  if (typeof term !== 'string') throw badInput(`${what} takes column names as strings`);
  checkColumnName(term.startsWith('-') ? term.slice(1) : term);
  return term;
}

/** The JSON form of a proxy plan. */
export function encodePlan(plan: ProxyPlan): DataPlan {
  const { source, columns, filters, order, limit } = plan;
  return {
    source: source.kind === 'table' ? { table: source.name } : { sql: source.sql, params: source.params.map(encodeScalar) },
    ...(columns === null ? {} : { select: [...columns] }),
    ...(filters.length === 0 ? {} : { where: filters.map((f) => ({ sql: f.sql, params: f.params.map(encodeScalar) })) }),
    ...(order.length === 0 ? {} : { orderBy: [...order] }),
    ...(limit === null ? {} : { limit }),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function params(v: unknown, field: string): SqlParam[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw badInput(`${field} must be an array of parameters`);
  return v.map((p, i) => decodeScalar(p, `${field}[${i}]`));
}

function onlyKeys(v: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw badInput(`${field}.${k} is not a field of ${field} (expected ${allowed.join(', ')})`);
  }
}

/** Validate a {@link DataPlan} (BAD_INPUT naming the field, e.g. `call.data.limit`) and decode it. */
export function decodePlan(v: unknown, field: string): ProxyPlan {
  if (!isObject(v)) throw badInput(`${field} must be a table proxy or its plan ({ source: { table } | { sql, params } , ... })`);
  onlyKeys(v, ['source', 'select', 'where', 'orderBy', 'limit'], field);
  const s = v.source;
  let source: ProxySource;
  if (isObject(s) && 'table' in s) {
    onlyKeys(s, ['table'], `${field}.source`);
    source = { kind: 'table', name: checkIdentifier(s.table, `${field}.source.table`) };
  } else if (isObject(s) && 'sql' in s) {
    onlyKeys(s, ['sql', 'params'], `${field}.source`);
    source = { kind: 'query', sql: checkQuerySql(s.sql, `${field}.source.sql`), params: params(s.params, `${field}.source.params`) };
  } else {
    throw badInput(`${field}.source must be { table: NAME } or { sql: "SELECT ...", params: [...] }`);
  }
  let columns: string[] | null = null;
  if (v.select !== undefined) {
    if (!Array.isArray(v.select) || v.select.length === 0) throw badInput(`${field}.select must be a non-empty array of column names`);
    columns = v.select.map((c) => checkColumnName(c, `${field}.select column`));
  }
  let filters: ProxyPlan['filters'] = [];
  if (v.where !== undefined) {
    if (!Array.isArray(v.where)) throw badInput(`${field}.where must be an array of { sql, params }`);
    filters = v.where.map((f, i) => {
      const at = `${field}.where[${i}]`;
      if (!isObject(f) || typeof f.sql !== 'string' || f.sql.trim() === '') throw badInput(`${at} must be { sql: "expression", params: [...] }`);
      onlyKeys(f, ['sql', 'params'], at);
      return { sql: f.sql, params: params(f.params, `${at}.params`) };
    });
  }
  let order: string[] = [];
  if (v.orderBy !== undefined) {
    if (!Array.isArray(v.orderBy)) throw badInput(`${field}.orderBy must be an array of column names`);
    order = v.orderBy.map((t) => checkOrderTerm(t, `${field}.orderBy`));
  }
  let limit: number | null = null;
  if (v.limit !== undefined) {
    if (typeof v.limit !== 'number' || !Number.isSafeInteger(v.limit) || v.limit < 0) throw badInput(`${field}.limit must be a non-negative integer`);
    limit = v.limit;
  }
  return { source, columns, filters, order, limit };
}
