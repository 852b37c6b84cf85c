import type { Table } from 'apache-arrow';

/** A group key value as read from Arrow: number, bigint, string, boolean, bytes or null. */
export type CellKey = null | boolean | number | bigint | string | Uint8Array;

/** The values of `columns` in row 0 of `table`, as a record. */
export function keyOf(table: Table, columns: readonly string[]): Record<string, CellKey> {
  const key: Record<string, CellKey> = {};
  for (const c of columns) key[c] = (table.getChild(c)?.get(0) ?? null) as CellKey;
  return key;
}

/** Whether two group keys hold the same values. */
export function sameKey(a: Readonly<Record<string, CellKey>>, b: Readonly<Record<string, CellKey>>): boolean {
  for (const k of Object.keys(a)) {
    const x = a[k];
    const y = b[k];
    if (x instanceof Uint8Array || y instanceof Uint8Array) {
      if (!(x instanceof Uint8Array && y instanceof Uint8Array) || Buffer.compare(x, y) !== 0) return false;
    } else if (x !== y) {
      return false;
    }
  }
  return true;
}
