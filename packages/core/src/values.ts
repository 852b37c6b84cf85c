/** Value types shared by the public API. */

/** A single cell value going into a table: what `session.create` accepts per column. */
export type CellValue = null | undefined | boolean | number | bigint | string | Uint8Array | Date;

/** A row as a plain object, column name to cell value. */
export type RowObject = Readonly<Record<string, CellValue>>;

/** A value bound to a `?` placeholder in SQL. Booleans bind as 0/1, Dates as ISO-8601 text. */
export type SqlParam = null | boolean | number | bigint | string | Uint8Array | Date;

/** A JSON value: what UDF keyword arguments and plain UDF results are made of. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** JSON-able values may nest at most this deep (Python's json module stops near 1000 levels). */
export const MAX_JSON_DEPTH = 500;

/**
 * Check that `value` is JSON-able (finite numbers, plain objects, arrays, no cycles, at most
 * {@link MAX_JSON_DEPTH} levels deep); returns the offending path (with the reason for a cycle or too
 * deep a nesting) or null.
 */
export function findNonJson(value: unknown, path = '$'): string | null {
  return walkJson(value, path, new Set(), 0);
}

function walkJson(value: unknown, path: string, open: Set<object>, depth: number): string | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : path;
  if (typeof value !== 'object') return path;
  if (open.has(value)) return `${path} (a circular reference)`;
  if (depth >= MAX_JSON_DEPTH) return `${path} (nested more than ${MAX_JSON_DEPTH} levels deep)`;
  if (!Array.isArray(value)) {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return path;
  }
  open.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const bad = walkJson(value[i], `${path}[${i}]`, open, depth + 1);
        if (bad !== null) return bad;
      }
      return null;
    }
    for (const [k, v] of Object.entries(value)) {
      const bad = walkJson(v, `${path}.${k}`, open, depth + 1);
      if (bad !== null) return bad;
    }
    return null;
  } finally {
    open.delete(value);
  }
}
