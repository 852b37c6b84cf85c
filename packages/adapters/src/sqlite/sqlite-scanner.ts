import { schemaOf, tableOfColumns } from '@insitu/core';
import type { Table } from 'apache-arrow';
import type BetterSqlite3 from 'better-sqlite3';
import { buildColumn, ColumnWriter } from './sqlite-column-builder.js';
import { kindOfDeclared, kindOfValues, type ColumnKind } from './sqlite-column-kind.js';

export { schemaOf };

/** Column names and declared kinds of a prepared statement (null kind: decided by the values). */
export function declaredKinds(stmt: BetterSqlite3.Statement): { names: string[]; kinds: (ColumnKind | null)[] } {
  const cols = stmt.columns();
  return { names: cols.map((c) => c.name), kinds: cols.map((c) => kindOfDeclared(c.type)) };
}

/** Build one Arrow table (a single record batch) from raw rows. */
export function batchFromRows(
  names: readonly string[],
  declared: readonly (ColumnKind | null)[],
  rows: readonly unknown[][],
  count: number,
): Table {
  const kinds = declared.map((k, c) => k ?? kindOfValues(rows, c, count));
  const data = kinds.map((kind, c) => buildColumn(kind, names[c]!, rows, c, count));
  return tableOfColumns(schemaOf(names, kinds), data, count);
}

/**
 * Iterate a statement's rows as Arrow tables of `batchRows` rows, also cutting a batch where the
 * values of the `breakOn` columns change. Rows come from better-sqlite3 in raw (array) mode. When every
 * column's kind is declared, values go straight into typed arrays as rows arrive; otherwise a batch's
 * rows are kept until the values have decided the undeclared kinds.
 */
export function* scanBatches(
  stmt: BetterSqlite3.Statement,
  params: readonly unknown[],
  batchRows: number,
  breakOn: readonly string[] = [],
  signal?: AbortSignal,
): Generator<Table> {
  const { names, kinds } = declaredKinds(stmt);
  const breakIdx = breakOn.map((c) => names.indexOf(c));
  const rows = stmt.raw(true).iterate(...params) as IterableIterator<unknown[]>;
  if (kinds.every((k) => k !== null)) {
    yield* streamDeclared(rows, names, kinds as ColumnKind[], batchRows, breakIdx, signal);
    return;
  }
  const buf: unknown[][] = new Array(batchRows);
  let n = 0;
  for (const row of rows) {
    if (n > 0 && breakIdx.length > 0 && keyChanged(buf[n - 1]!, row, breakIdx)) {
      yield batchFromRows(names, kinds, buf, n);
      n = 0;
    }
    buf[n++] = row;
    if (n === batchRows) {
      yield batchFromRows(names, kinds, buf, n);
      n = 0;
      signal?.throwIfAborted();
    }
  }
  if (n > 0) yield batchFromRows(names, kinds, buf, n);
}

function* streamDeclared(
  rows: IterableIterator<unknown[]>,
  names: readonly string[],
  kinds: readonly ColumnKind[],
  batchRows: number,
  breakIdx: readonly number[],
  signal?: AbortSignal,
): Generator<Table> {
  const width = names.length;
  // Batches cut at key changes are often short: start small, let the writers grow.
  const initial = breakIdx.length > 0 ? Math.min(batchRows, 1024) : batchRows;
  const fresh = () => kinds.map((k, c) => new ColumnWriter(k, names[c]!, initial));
  const finish = (w: ColumnWriter[], count: number) => tableOfColumns(schemaOf(names, kinds), w.map((x) => x.finish(count)), count);
  let writers = fresh();
  let n = 0;
  let last: unknown[] | null = null;
  for (const row of rows) {
    if (n > 0 && breakIdx.length > 0 && keyChanged(last!, row, breakIdx)) {
      yield finish(writers, n);
      writers = fresh();
      n = 0;
    }
    for (let c = 0; c < width; c++) writers[c]!.put(n, row[c]);
    n++;
    if (breakIdx.length > 0) last = row;
    if (n === batchRows) {
      yield finish(writers, n);
      writers = fresh();
      n = 0;
      signal?.throwIfAborted();
    }
  }
  if (n > 0) yield finish(writers, n);
}

/**
 * One table from statements that each return one column of the same rows in the same order, read in
 * one read transaction (so they see one snapshot of the database). Each column comes back from the
 * driver as one array (`pluck`), which is much cheaper than an array per row. Null when a column's
 * kind is not declared (its values would decide it): the caller reads row-wise instead.
 */
export function readByColumn(db: BetterSqlite3.Database, stmts: readonly BetterSqlite3.Statement[], params: readonly unknown[]): Table | null {
  const declared = stmts.map((s) => declaredKinds(s));
  if (declared.some((d) => d.names.length !== 1 || d.kinds[0] === null)) return null;
  const names = declared.map((d) => d.names[0]!);
  const kinds = declared.map((d) => d.kinds[0]!);
  const own = !db.inTransaction;
  if (own) db.prepare('BEGIN').run();
  let data;
  let count = 0;
  try {
    data = stmts.map((s, c) => {
      const values = s.pluck(true).all(...params) as unknown[];
      if (c > 0 && values.length !== count) throw new Error(`column ${names[c]} returned ${values.length} rows, not ${count}`);
      count = values.length;
      const w = new ColumnWriter(kinds[c]!, names[c]!, count);
      for (let r = 0; r < count; r++) w.put(r, values[r]);
      return w.finish(count);
    });
  } finally {
    if (own) db.prepare('COMMIT').run();
  }
  return tableOfColumns(schemaOf(names, kinds), data, count);
}

function keyChanged(a: unknown[], b: unknown[], idx: readonly number[]): boolean {
  for (const i of idx) {
    const x = a[i];
    const y = b[i];
    if (x instanceof Uint8Array && y instanceof Uint8Array) {
      if (Buffer.compare(x, y) !== 0) return true;
    } else if (x !== y) return true;
  }
  return false;
}

/**
 * The rows of a statement grouped by one numeric key column, without ORDER BY: rows are bucketed into
 * per-group column writers as they stream by, then each group is yielded as one table in ascending key
 * order. Every column's kind must be declared.
 */
export function* groupedByNumericKey(stmt: BetterSqlite3.Statement, params: readonly unknown[], key: string): Generator<Table> {
  const { names, kinds } = declaredKinds(stmt);
  const k = names.indexOf(key);
  if (k < 0 || kinds.includes(null)) throw new Error(`cannot group by ${key} in memory: it is missing or a column type is not declared`);
  const width = names.length;
  const groups = new Map<unknown, { writers: ColumnWriter[]; n: number }>();
  for (const row of stmt.raw(true).iterate(...params) as IterableIterator<unknown[]>) {
    const keyValue = row[k];
    let g = groups.get(keyValue);
    if (g === undefined) {
      g = { writers: kinds.map((kind, c) => new ColumnWriter(kind!, names[c]!, 64)), n: 0 };
      groups.set(keyValue, g);
    }
    for (let c = 0; c < width; c++) g.writers[c]!.put(g.n, row[c]);
    g.n++;
  }
  const schema = schemaOf(names, kinds as ColumnKind[]);
  const order = [...groups.keys()].sort((a, b) => Number(a) - Number(b));
  for (const keyValue of order) {
    const g = groups.get(keyValue)!;
    groups.delete(keyValue);
    yield tableOfColumns(schema, g.writers.map((w) => w.finish(g.n)), g.n);
  }
}
