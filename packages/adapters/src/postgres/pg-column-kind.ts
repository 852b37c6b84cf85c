import type { ColumnKind } from '@insitu/core';

/** PostgreSQL type OIDs the adapter reads into a kind of their own (anything else is read as text). */
const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  float4: 700,
  float8: 701,
  numeric: 1700,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
} as const;

/**
 * The kind a result column of PostgreSQL type `oid` is read as: int8 -> int64; int2, int4 -> int32;
 * float4, float8, numeric -> float64; bool -> bool; bytea -> binary; date -> date; timestamp and
 * timestamptz -> timestamp (ms, UTC); everything else (text, varchar, json, uuid, arrays, ...) -> utf8,
 * as PostgreSQL writes it as text.
 */
export function kindOfPgType(oid: number): ColumnKind {
  switch (oid) {
    case OID.int8:
      return 'int64';
    case OID.int2:
    case OID.int4:
    case OID.oid:
      return 'int32';
    case OID.float4:
    case OID.float8:
    case OID.numeric:
      return 'float64';
    case OID.bool:
      return 'bool';
    case OID.bytea:
      return 'binary';
    case OID.date:
      return 'date';
    case OID.timestamp:
    case OID.timestamptz:
      return 'timestamp';
    default:
      return 'utf8';
  }
}

/** The PostgreSQL column type written for a kind (reading it back gives the same kind; `null` columns are TEXT). */
export function pgTypeOf(kind: ColumnKind): string {
  switch (kind) {
    case 'int64':
      return 'BIGINT';
    case 'int32':
      return 'INTEGER';
    case 'float64':
      return 'DOUBLE PRECISION';
    case 'utf8':
    case 'null':
      return 'TEXT';
    case 'binary':
      return 'BYTEA';
    case 'bool':
      return 'BOOLEAN';
    case 'date':
      return 'DATE';
    case 'timestamp':
      return 'TIMESTAMP';
  }
}

/** Seconds since the epoch of a PostgreSQL timestamp text (`2024-01-02 03:04:05.678[+01[:30]]`), UTC unless it says otherwise. */
function timestampSeconds(text: string): number {
  let s = text.replace(' ', 'T');
  if (/[+-]\d{2}$/.test(s)) s += ':00';
  else if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(s)) s += 'Z';
  return Date.parse(s) / 1000;
}

/** Values as the column writer takes them, from the text PostgreSQL sends. */
function parserOf(oid: number): (text: string) => unknown {
  switch (oid) {
    case OID.int8: {
      return (s) => {
        const n = Number(s);
        return Number.isSafeInteger(n) ? n : BigInt(s);
      };
    }
    case OID.int2:
    case OID.int4:
    case OID.oid:
    case OID.float4:
    case OID.float8:
    case OID.numeric:
      return (s) => (s === 'NaN' ? NaN : s === 'Infinity' ? Infinity : s === '-Infinity' ? -Infinity : Number(s));
    case OID.bytea:
      return (s) => (s.startsWith('\\x') ? Buffer.from(s.slice(2), 'hex') : Buffer.from(s, 'latin1'));
    case OID.timestamp:
    case OID.timestamptz:
      // The column writer takes numbers as Unix seconds.
      return timestampSeconds;
    default:
      // bool stays 't'/'f', dates ISO text, everything else the text PostgreSQL wrote.
      return (s) => s;
  }
}

/** Type parsers for the driver (`types` option): every value as the adapter's column writer wants it. */
export const PG_READ_TYPES = {
  getTypeParser: (oid: number, format?: string): ((text: string) => unknown) => {
    if (format === 'binary') return (s) => s;
    return parserOf(oid);
  },
};
