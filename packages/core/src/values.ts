/** Value types shared by the public API. */

/** A single cell value going into a table: what `session.create` accepts per column. */
export type CellValue = null | undefined | boolean | number | bigint | string | Uint8Array | Date;

/** A row as a plain object, column name to cell value. */
export type RowObject = Readonly<Record<string, CellValue>>;

/** A value bound to a `?` placeholder in SQL. Booleans bind as 0/1, Dates as ISO-8601 text. */
export type SqlParam = null | boolean | number | bigint | string | Uint8Array | Date;

/** A JSON value: what UDF keyword arguments and plain UDF results are made of. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Check that `value` is JSON-able (finite numbers, plain objects, arrays); returns the offending path or null. */
export function findNonJson(value: unknown, path = '$'): string | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = findNonJson(value[i], `${path}[${i}]`);
      if (bad !== null) return bad;
    }
    return null;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return path;
    for (const [k, v] of Object.entries(value)) {
      const bad = findNonJson(v, `${path}.${k}`);
      if (bad !== null) return bad;
    }
    return null;
  }
  return path;
}
