import { badInput, checkColumnName, kindOfArrowField, quoteIdentifier, type ColumnKind, type RowObject } from '@insitu/core';
import { Table, type Field } from 'apache-arrow';
import { arrowCell, describeRows, toSqlValue } from '../sqlite/sqlite-table-writer.js';
import { pgTypeOf } from './pg-column-kind.js';
import type { PgQueryable } from './pg-table-privileges.js';

/** The column kind of an Arrow field, or BAD_INPUT for types insitu tables cannot hold. */
export function pgKindOfField(f: Field): ColumnKind {
  const kind = kindOfArrowField(f);
  if (kind === null) throw badInput(`column ${f.name} has Arrow type ${String(f.type)}, which PostgreSQL tables of insitu cannot hold; convert it first`);
  return kind;
}

/** Rows of data to write: names, kinds, and the driver values of row `i`. */
export interface RowSource {
  readonly names: readonly string[];
  readonly kinds: readonly ColumnKind[];
  readonly count: number;
  readonly rowAt: (i: number) => unknown[];
}

/** A driver value for a cell of a column of `kind` (dates as ISO text, timestamps as UTC text, bigint as text). */
export function pgValue(v: unknown, kind: ColumnKind): unknown {
  const x = toSqlValue(v, kind);
  if (kind === 'bool' && typeof x === 'number') return x !== 0;
  if (typeof x === 'bigint') return x.toString();
  return x;
}

/** The rows of an Arrow table or of row objects, checked (names unique case-insensitively, kinds known). */
export function rowSource(data: Table | readonly RowObject[]): RowSource {
  let names: string[];
  let kinds: ColumnKind[];
  let rowAt: (i: number) => unknown[];
  let count: number;
  if (data instanceof Table) {
    names = data.schema.fields.map((f) => checkColumnName(f.name));
    kinds = data.schema.fields.map(pgKindOfField);
    if (names.length === 0) throw badInput('cannot create a table from an Arrow table without columns');
    const cols = names.map((n) => data.getChild(n)!);
    count = data.numRows;
    rowAt = (i) => cols.map((c, j) => pgValue(arrowCell(c.get(i), kinds[j]!), kinds[j]!));
  } else if (Array.isArray(data)) {
    ({ names, kinds } = describeRows(data));
    count = data.length;
    rowAt = (i) => names.map((n, j) => pgValue((data[i] as RowObject)[n], kinds[j]!));
  } else {
    throw badInput('table data must be an Arrow Table or an array of row objects');
  }
  if (new Set(names.map((n) => n.toLowerCase())).size !== names.length) throw badInput('column names must be unique (case-insensitively)');
  return { names, kinds, count, rowAt };
}

/** `CREATE TABLE "public"."name" (...)` for these columns. */
export function createTableSql(name: string, names: readonly string[], kinds: readonly ColumnKind[]): string {
  return `CREATE TABLE "public".${quoteIdentifier(name)} (${names.map((n, i) => `${quoteIdentifier(n)} ${pgTypeOf(kinds[i]!)}`).join(', ')})`;
}

/** Most parameters one statement binds (PostgreSQL's limit is 65535). */
const MAX_PARAMS = 60_000;

/** Insert rows `from..to` of `src` into table `name`, many rows per statement. */
export async function insertRows(q: PgQueryable, name: string, src: RowSource, from = 0, to = src.count): Promise<void> {
  const width = src.names.length;
  const per = Math.max(1, Math.min(1000, Math.floor(MAX_PARAMS / width)));
  const cols = src.names.map(quoteIdentifier).join(', ');
  const casts = src.kinds.map((k) => `::${pgTypeOf(k)}`);
  for (let start = from; start < to; start += per) {
    const end = Math.min(to, start + per);
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (let i = start; i < end; i++) {
      const row = src.rowAt(i);
      tuples.push(`(${row.map((v, j) => `$${params.push(v)}${casts[j]}`).join(', ')})`);
    }
    await q.query(`INSERT INTO "public".${quoteIdentifier(name)} (${cols}) VALUES ${tuples.join(', ')}`, params);
  }
}
