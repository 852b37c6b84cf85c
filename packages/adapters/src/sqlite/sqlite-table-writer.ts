import { badInput, checkColumnName, kindOfArrowField, quoteIdentifier, type RowObject } from '@insitu/core';
import { Table, type Field } from 'apache-arrow';
import type BetterSqlite3 from 'better-sqlite3';
import type { ColumnKind } from './sqlite-column-kind.js';
import { declaredTypeOf } from './sqlite-column-kind.js';

/** The column kind for an Arrow field, or BAD_INPUT for types SQLite cannot hold. */
export function kindOfField(f: Field): ColumnKind {
  const kind = kindOfArrowField(f);
  if (kind === null) throw badInput(`column ${f.name} has Arrow type ${String(f.type)}, which SQLite tables cannot hold; convert it first`);
  return kind;
}

/** The column kind of a JS value, or null for null/undefined. */
function kindOfValue(v: unknown, column: string): ColumnKind | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'int64';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  if (typeof v === 'string') return 'utf8';
  if (v instanceof Date) return 'timestamp';
  if (v instanceof Uint8Array) return 'binary';
  throw badInput(`column ${column} holds a ${typeof v === 'object' ? v.constructor?.name ?? 'object' : typeof v}; cells must be null, boolean, number, bigint, string, Date or Uint8Array`);
}

function widen(a: ColumnKind | null, b: ColumnKind | null, column: string): ColumnKind | null {
  if (a === null || a === b) return b ?? a;
  if (b === null) return a;
  if ((a === 'int64' && b === 'float64') || (a === 'float64' && b === 'int64')) return 'float64';
  throw badInput(`column ${column} mixes ${a} and ${b} values; give every row the same type`);
}

/** A SQLite-bindable value for a cell of a column of `kind`. */
export function toSqlValue(v: unknown, kind: ColumnKind): unknown {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'bool':
      return v ? 1 : 0;
    case 'date':
      if (v instanceof Date) return v.toISOString().slice(0, 10);
      if (typeof v === 'number') return new Date(v * 86_400_000).toISOString().slice(0, 10);
      return v;
    case 'timestamp':
      if (v instanceof Date) return v.toISOString().replace('T', ' ').replace('Z', '');
      if (typeof v === 'number' || typeof v === 'bigint') return new Date(Number(v)).toISOString().replace('T', ' ').replace('Z', '');
      return v;
    case 'binary':
      return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
    case 'int64':
    case 'int32':
      return typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    default:
      return v;
  }
}

/** Column names and kinds of row objects (union of keys in first-seen order; types inferred). */
export function describeRows(rows: readonly RowObject[]): { names: string[]; kinds: ColumnKind[] } {
  const kinds = new Map<string, ColumnKind | null>();
  rows.forEach((row, i) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw badInput(`row ${i + 1} is not a plain object`);
    for (const [k, v] of Object.entries(row)) {
      if (!kinds.has(k)) checkColumnName(k);
      kinds.set(k, widen(kinds.get(k) ?? null, kindOfValue(v, k), k));
    }
  });
  if (kinds.size === 0) throw badInput('cannot create a table from rows without any column');
  return { names: [...kinds.keys()], kinds: [...kinds.values()].map((k) => k ?? 'null') };
}

/**
 * Create table `name` from an Arrow table or row objects inside one transaction: drop the old table
 * (with `overwrite`), create, insert, then `alongside` (bookkeeping that must commit with the table).
 * A failure leaves the database as it was.
 */
export function writeTable(
  db: BetterSqlite3.Database,
  name: string,
  data: Table | readonly RowObject[],
  overwrite: boolean,
  exists: boolean,
  alongside: () => void = () => {},
): void {
  let names: string[];
  let kinds: ColumnKind[];
  let rowAt: (i: number) => unknown[];
  let count: number;
  if (data instanceof Table) {
    names = data.schema.fields.map((f) => checkColumnName(f.name));
    kinds = data.schema.fields.map(kindOfField);
    if (names.length === 0) throw badInput('cannot create a table from an Arrow table without columns');
    const cols = names.map((n) => data.getChild(n)!);
    count = data.numRows;
    rowAt = (i) => cols.map((c, j) => toSqlValue(arrowCell(c.get(i), kinds[j]!), kinds[j]!));
  } else if (Array.isArray(data)) {
    ({ names, kinds } = describeRows(data));
    count = data.length;
    rowAt = (i) => names.map((n, j) => toSqlValue(data[i]![n], kinds[j]!));
  } else {
    throw badInput('table data must be an Arrow Table or an array of row objects');
  }
  if (new Set(names.map((n) => n.toLowerCase())).size !== names.length) throw badInput('column names must be unique (case-insensitively)');
  const q = quoteIdentifier(name);
  const columnsSql = names.map((n, i) => `${quoteIdentifier(n)} ${declaredTypeOf(kinds[i]!)}`).join(', ');
  const insert = `INSERT INTO ${q} VALUES (${names.map(() => '?').join(', ')})`;
  db.transaction(() => {
    if (exists && overwrite) db.exec(`DROP TABLE ${q}`);
    db.exec(`CREATE TABLE ${q} (${columnsSql})`);
    const stmt = db.prepare(insert);
    for (let i = 0; i < count; i++) stmt.run(rowAt(i));
    alongside();
  }).immediate();
}

/** Arrow cell values as the writer expects them (dates arrive as epoch ms numbers). */
export function arrowCell(v: unknown, kind: ColumnKind): unknown {
  if (v === null || v === undefined) return null;
  if ((kind === 'date' || kind === 'timestamp') && typeof v === 'number') return new Date(v);
  if (kind === 'timestamp' && typeof v === 'bigint') return new Date(Number(v));
  return v;
}
