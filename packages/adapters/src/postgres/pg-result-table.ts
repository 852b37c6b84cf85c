import { arrowTypeOf, schemaOf, type ColumnKind } from '@insitu/core';
import { Table, vectorFromArray, type Vector } from 'apache-arrow';
import pg from 'pg';

/** PostgreSQL type OIDs insitu reads into a kind of its own; every other type arrives as its text. */
const KIND_OF_OID: ReadonlyMap<number, ColumnKind> = new Map([
  [16, 'bool'],
  [20, 'int64'],
  [21, 'int32'],
  [23, 'int32'],
  [26, 'int64'],
  [700, 'float64'],
  [701, 'float64'],
  [1700, 'float64'],
  [17, 'binary'],
  [1082, 'date'],
  [1114, 'timestamp'],
  [1184, 'timestamp'],
]);

/** A date or timestamp PostgreSQL wrote as text, as a JS Date (UTC when it has no zone); infinities are null. */
function parseTime(text: string, withZone: boolean): Date | null {
  if (text === 'infinity' || text === '-infinity') return null;
  const iso = text.includes(' ') ? text.replace(' ', 'T') : text;
  const d = new Date(withZone ? iso.replace(/([+-]\d\d)$/, '$1:00') : /T/.test(iso) ? `${iso}Z` : `${iso}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * The driver's text parsers for one query: 64-bit integers as BigInt (not strings), numeric as a
 * number, dates and timestamps without a zone as UTC (not the process's zone). Others as the driver does.
 */
export const RESULT_TYPES = {
  getTypeParser(oid: number, format?: string): (text: string) => unknown {
    switch (oid) {
      case 20:
      case 26:
        return (t: string) => BigInt(t);
      case 700:
      case 701:
      case 1700:
        return (t: string) => Number(t);
      case 1082:
      case 1114:
        return (t: string) => parseTime(t, false);
      case 1184:
        return (t: string) => parseTime(t, true);
      default:
        return pg.types.getTypeParser(oid, format as 'text') as (text: string) => unknown;
    }
  },
};

/** A query's result (rows as arrays, see `rowMode: 'array'`) as an Arrow table of insitu's kinds. */
export function resultTable(fields: readonly { name: string; dataTypeID: number }[], rows: readonly unknown[][]): Table {
  const names = fields.map((f) => f.name);
  const kinds = fields.map((f) => KIND_OF_OID.get(f.dataTypeID) ?? 'utf8');
  // No columns: nothing to build vectors of. Zero rows still get (empty) vectors: a table of the bare
  // schema has no record batch, and its variable-width columns (text, bytea) then lack the one offset
  // an empty column has, which the worker's Arrow reader refuses ("Invalid typed array length").
  if (fields.length === 0) return new Table(schemaOf(names, kinds));
  const columns: Record<string, Vector> = {};
  fields.forEach((f, c) => {
    const kind = kinds[c]!;
    const values = rows.map((r) => {
      const v = r[c];
      if (v === null || v === undefined) return null;
      if (kind === 'utf8' && typeof v !== 'string') return typeof v === 'object' ? JSON.stringify(v) : String(v);
      if (kind === 'binary' && v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      return v;
    });
    columns[f.name] = vectorFromArray(values, arrowTypeOf(kind));
  });
  return new Table(columns);
}
