import type { ColumnKind } from '@insitu/core';

export type { ColumnKind };
export { arrowTypeOf } from '@insitu/core';

/**
 * The kind a declared SQLite column type maps to, or null when the declaration says nothing useful
 * (expressions, untyped columns): then the values decide.
 *
 * INTEGER/INT/BIGINT -> Int64; TINYINT/SMALLINT/MEDIUMINT/INT2 -> Int32; REAL/FLOAT/DOUBLE/NUMERIC/DECIMAL
 * -> Float64; TEXT/CHAR/CLOB -> Utf8; BLOB -> Binary; BOOLEAN -> Bool; DATE -> Date (days);
 * DATETIME/TIMESTAMP -> Timestamp (ms, UTC).
 */
export function kindOfDeclared(declared: string | null | undefined): ColumnKind | null {
  if (declared === null || declared === undefined || declared.trim() === '') return null;
  const t = declared.toUpperCase();
  if (t.includes('BOOL')) return 'bool';
  if (t.includes('DATETIME') || t.includes('TIMESTAMP')) return 'timestamp';
  if (/^DATE\b/.test(t.trim())) return 'date';
  if (/\b(TINYINT|SMALLINT|MEDIUMINT|INT2)\b/.test(t)) return 'int32';
  if (t.includes('INT')) return 'int64';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'utf8';
  if (t.includes('BLOB')) return 'binary';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB') || t.includes('NUMERIC') || t.includes('DECIMAL')) return 'float64';
  return null;
}

/** The kind the values of an undeclared column suggest: all integers -> int64, any float -> float64, ... */
export function kindOfValues(values: readonly unknown[], column: number, rows: number): ColumnKind {
  let kind = 'null' as ColumnKind;
  for (let r = 0; r < rows; r++) {
    const v = (values[r] as unknown[])[column];
    if (v === null || v === undefined) continue;
    if (typeof v === 'string') return 'utf8';
    if (v instanceof Uint8Array) return 'binary';
    if (typeof v === 'bigint') kind = kind === 'float64' ? 'float64' : 'int64';
    else if (typeof v === 'number') kind = Number.isInteger(v) && kind !== 'float64' ? 'int64' : 'float64';
  }
  return kind;
}

/** The SQLite column type written for a kind (so reading it back gives the same kind). */
export function declaredTypeOf(kind: ColumnKind): string {
  switch (kind) {
    case 'int64':
      return 'INTEGER';
    case 'int32':
      return 'SMALLINT';
    case 'float64':
      return 'REAL';
    case 'utf8':
    case 'null':
      return 'TEXT';
    case 'binary':
      return 'BLOB';
    case 'bool':
      return 'BOOLEAN';
    case 'date':
      return 'DATE';
    case 'timestamp':
      return 'TIMESTAMP';
  }
}
