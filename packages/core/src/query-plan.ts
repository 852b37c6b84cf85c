import type { QuerySpec } from './storage.js';
import type { SqlParam } from './values.js';

/**
 * What a table proxy asks of storage, as data: core describes the query and each storage adapter
 * compiles it into its own SQL (quoting, placeholders, NULL ordering, LIMIT) — core writes no SQL of
 * any database. User-written parts (a query source's SQL, `where()` expressions) keep their `?`
 * placeholders here; the adapter binds them in order: source params first, then each filter's.
 */
export interface QueryPlan {
  /** A table by name, or a user's read-only query with its parameters. */
  readonly source: { readonly kind: 'table'; readonly name: string } | { readonly kind: 'query'; readonly sql: string; readonly params: readonly SqlParam[] };
  /** Columns to keep, in order (null: all). */
  readonly columns: readonly string[] | null;
  /** User-written boolean expressions, ANDed, each with its `?` parameters. */
  readonly filters: readonly { readonly sql: string; readonly params: readonly SqlParam[] }[];
  /** Columns that must not be NULL (an apply's `naOmit`), applied after the filters. */
  readonly notNull: readonly string[];
  /** Sort keys, in order; NULLs come first when ascending, last when descending (as SQLite orders them). */
  readonly order: readonly { readonly column: string; readonly descending: boolean }[];
  /** At most this many rows (null: no limit). */
  readonly limit: number | null;
  /**
   * Apply `notNull` to the rows after `limit` rather than before (a limited proxy keeps the rows it
   * chose and only drops those with NULLs among them).
   */
  readonly notNullAfterLimit?: boolean;
}

/** Compiles a {@link QueryPlan} into one read-only statement of the storage's SQL. */
export interface QueryCompiler {
  /** The statement for `plan`, its parameters in placeholder order, and the user's own SQL (if any) as `text`. */
  compileQuery(plan: QueryPlan): QuerySpec;
}
