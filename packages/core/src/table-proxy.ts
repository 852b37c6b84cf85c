import { type Schema, Table } from 'apache-arrow';
import { badInput } from './errors.js';
import { withBoundary } from './error-boundary.js';
import { checkOrderTerm, encodePlan, type DataPlan, type ProxyPlan, type ProxySource } from './data-plan.js';
import { checkColumnName } from './identifiers.js';
import { checkInt64Mode, int64AsNumbers, type Int64Mode } from './int64-values.js';
import type { QueryPlan } from './query-plan.js';
import type { QuerySpec, TableScan, TableStorage } from './storage.js';
import type { SqlParam } from './values.js';

export type { ProxySource } from './data-plan.js';

/**
 * A lazy, immutable view of rows in the database: a table or a read-only query, narrowed by `select`,
 * `where`, `orderBy` and `limit`. Each method returns a new proxy; nothing runs until `pull()`,
 * `count()`, `schema()` or an apply function reads it.
 */
export class TableProxy {
  readonly #storage: TableStorage;
  readonly #plan: ProxyPlan;
  /** The user of the session that made it: `pull`, `count` and `schema` read with their privileges. */
  readonly #user: string;
  /** How `pull()` gives Int64 columns unless it is told (the engine's `int64`). */
  readonly #int64: Int64Mode;

  /** @internal Use `session.table()` or `session.query()`. */
  constructor(storage: TableStorage, user: string, plan: ProxyPlan | ProxySource, int64: Int64Mode = 'number') {
    this.#storage = storage;
    this.#user = user;
    this.#int64 = int64;
    this.#plan = 'kind' in plan ? { source: plan, columns: null, filters: [], order: [], limit: null } : plan;
  }

  /** Rows of this proxy without those holding a NULL in any of `columns` (an apply's `naOmit`). @internal */
  withoutNulls(columns: readonly string[]): TableProxy {
    if (columns.length === 0) return this;
    return new TableProxy(this.#storage, this.#user, { ...this.#plan, notNull: [...(this.#plan.notNull ?? []), ...columns] }, this.#int64);
  }

  /** Where the rows come from. */
  get source(): ProxySource {
    return this.#plan.source;
  }

  /** Keep only these columns, in this order. */
  select(columns: readonly string[]): TableProxy {
    if (!Array.isArray(columns) || columns.length === 0) {
      throw badInput('select() needs a non-empty array of column names');
    }
    const names = columns.map((c) => checkColumnName(c));
    return this.#with({ columns: names });
  }

  /** Keep rows where the SQL expression holds; `?` placeholders bind `params`. Several where() calls AND together. */
  where(sql: string, ...params: SqlParam[]): TableProxy {
    if (typeof sql !== 'string' || sql.trim() === '') throw badInput('where() needs a SQL expression string');
    return this.#with({ filters: [...this.#plan.filters, { sql, params }] });
  }

  /**
   * Order rows by these columns (`'COL'` ascending, `'-COL'` descending). Later calls add tie-breakers.
   */
  orderBy(...columns: string[]): TableProxy {
    if (columns.length === 0) throw badInput('orderBy() needs at least one column name');
    const terms = columns.map((c) => checkOrderTerm(c, 'orderBy()'));
    return this.#with({ order: [...this.#plan.order, ...terms] });
  }

  /** Keep at most `n` rows. */
  limit(n: number): TableProxy {
    if (!Number.isSafeInteger(n) || n < 0) throw badInput(`limit() needs a non-negative integer, got ${String(n)}`);
    return this.#with({ limit: n });
  }

  /**
   * The proxy as plain JSON data: its source and narrowing, which `session.jobs.submit()` and other
   * stored calls keep. `JSON.stringify(proxy)` gives the same.
   */
  toPlan(): DataPlan {
    return encodePlan(this.#plan);
  }

  /** Same as {@link TableProxy.toPlan}, for `JSON.stringify`. */
  toJSON(): DataPlan {
    return this.toPlan();
  }

  /**
   * The proxy as a plain scan of one table (columns and filters only), or null when it has a query
   * source, an order or a limit.
   */
  asTableScan(): TableScan | null {
    const { source, columns, filters, order, limit, notNull } = this.#plan;
    if (source.kind !== 'table' || order.length > 0 || limit !== null) return null;
    return (notNull?.length ?? 0) > 0 ? { table: source.name, columns, filters, notNull: notNull! } : { table: source.name, columns, filters };
  }

  /** The statement this proxy compiles to (by its storage's dialect), with its parameters. */
  toQuery(): QuerySpec {
    return this.#storage.compileQuery(this.#queryPlan([]));
  }

  /**
   * The statement ordered by `keys` first (ascending), then by the proxy's own order: the rows of each
   * group come together, in the order the proxy asked for within the group.
   */
  groupedQuery(keys: readonly string[]): QuerySpec {
    return this.#storage.compileQuery(this.#queryPlan(keys));
  }

  /** The plan storage compiles: the proxy's state, its order after the grouping `keys`. */
  #queryPlan(keys: readonly string[]): QueryPlan {
    const { source, columns, filters, order, limit, notNull } = this.#plan;
    return {
      source,
      columns,
      filters,
      notNull: notNull ?? [],
      order: [
        ...keys.map((column) => ({ column, descending: false })),
        ...order.map((t) => (t.startsWith('-') ? { column: t.slice(1), descending: true } : { column: t, descending: false })),
      ],
      limit,
      ...(limit !== null && (notNull?.length ?? 0) > 0 ? { notNullAfterLimit: true } : {}),
    };
  }

  /** Arrow schema of the rows (runs no query, but checks it). */
  schema(): Promise<Schema> {
    return withBoundary('schema', () => this.#storage.describe(this.toQuery(), this.#user));
  }

  /** Column names, in order. */
  async columns(): Promise<string[]> {
    return (await this.schema()).fields.map((f) => f.name);
  }

  /** Number of rows. */
  count(): Promise<number> {
    return withBoundary('count', () => this.#storage.count(this.toQuery(), this.#user));
  }

  /**
   * Read all rows into one Arrow table (`.toArray()` gives row objects). `int64`: how Int64 columns come
   * (`'number'` within ±2^53, see {@link Int64Mode}; default the engine's); `signal` stops the read.
   */
  pull(opts: { signal?: AbortSignal; int64?: Int64Mode } = {}): Promise<Table> {
    return withBoundary('pull', async () => {
      const mode = checkInt64Mode(opts.int64, 'pull() int64') ?? this.#int64;
      const table = await this.#pullRaw(opts.signal);
      return mode === 'number' ? int64AsNumbers(table) : table;
    });
  }

  async #pullRaw(signal: AbortSignal | undefined): Promise<Table> {
    const opts = signal === undefined ? {} : { signal };
    {
      const schema = await this.schema();
      const batches = [];
      const scanOpts = opts.signal === undefined ? { batchRows: 65536, user: this.#user } : { batchRows: 65536, user: this.#user, signal: opts.signal };
      for await (const t of this.#storage.scan(this.toQuery(), scanOpts)) batches.push(...t.batches);
      return batches.length === 0 ? new Table(schema) : new Table(batches);
    }
  }

  #with(change: Partial<ProxyPlan>): TableProxy {
    return new TableProxy(this.#storage, this.#user, { ...this.#plan, ...change }, this.#int64);
  }
}

