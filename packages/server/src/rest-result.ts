import { Table, DataType, tableToIPC, type Field, type Vector } from 'apache-arrow';
import { mapBytes, type ApplyResult, type JsonValue, type PartitionResult, type ResultValue } from '@insitu/core';
import type { RestApplyKind } from './rest-call.js';
import { RestCode, RestError } from './rest-errors.js';

/**
 * Results as OML4Py's REST API answers them, `{"result": ...}`: a table as a list of row objects; do-eval
 * and table-apply the value itself; row-apply and index-apply a list (the combined rows when every
 * partition returned a table of one schema, else one value per partition); group-apply an object keyed
 * by group. With `graphicsFlag`, `{ID, DATA, IMAGE}` entries.
 */

/** The Arrow stream media type (`Accept` it to get the result table as Arrow IPC). */
export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';

type Cell = (v: unknown) => JsonValue;

/** How one column's values become JSON: 64-bit integers as numbers (text beyond 2^53), dates ISO text, bytes base64. */
function cellOf(field: Field): Cell {
  const t = field.type;
  if (DataType.isInt(t) && t.bitWidth === 64) {
    return (v) => (typeof v === 'bigint' ? (v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString()) : (v as JsonValue));
  }
  if (DataType.isDate(t)) return (v) => (v === null || v === undefined ? null : new Date(Number(v)).toISOString().slice(0, 10));
  if (DataType.isTimestamp(t)) return (v) => (v === null || v === undefined ? null : new Date(Number(v)).toISOString());
  if (DataType.isBinary(t) || DataType.isLargeBinary(t)) return (v) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : null);
  if (DataType.isFloat(t)) return (v) => (typeof v === 'number' && !Number.isFinite(v) ? null : (v as JsonValue));
  return (v) => (v === undefined ? null : (v as JsonValue));
}

/** A table's rows as plain objects, column by column. */
export function rowsOf(table: Table): Record<string, JsonValue>[] {
  const rows: Record<string, JsonValue>[] = Array.from({ length: table.numRows }, () => ({}));
  table.schema.fields.forEach((field, c) => {
    const cell = cellOf(field);
    const column = table.getChildAt(c) as Vector | null;
    if (column === null) return;
    let i = 0;
    for (const v of column) rows[i++]![field.name] = cell(v);
  });
  return rows;
}

/** One UDF value as JSON. */
function jsonOf(v: ResultValue): JsonValue {
  if (v instanceof Table) return rowsOf(v);
  // Bytes anywhere in a value are base64 text, as a bytes value is.
  return mapBytes(v, (b) => Buffer.from(b).toString('base64'));
}

/** A partition's `{ID, DATA, IMAGE}` entries: one per figure (or one with IMAGE null when it drew none). */
function imageEntries(p: PartitionResult): JsonValue[] {
  const data = JSON.stringify(jsonOf(p.value));
  if (p.images.length === 0) return [{ ID: 1, DATA: data, IMAGE: null }];
  return p.images.map((img, i) => ({ ID: i + 1, DATA: data, IMAGE: Buffer.from(img.png).toString('base64') }));
}

/** The key of a group in a group-apply answer: its value as text; several columns' values joined as a JSON array text. */
export function groupKeyText(key: unknown): string {
  const values = Object.values((key ?? {}) as Record<string, unknown>).map((v) => (typeof v === 'bigint' ? Number(v) : v));
  if (values.length === 1) return values[0] === null ? 'null' : String(values[0]);
  return JSON.stringify(values);
}

/** Rows or items of one value, as `len(result)` counts them in the anchor: a table's rows, a list's items, an object's keys; 1 for anything else. */
function itemsOf(v: ResultValue): number {
  if (v instanceof Table) return v.numRows;
  if (Array.isArray(v)) return v.length;
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) return Object.keys(v).length;
  return 1;
}

/**
 * Rows or items in the answer, as compared with `outputLimit`: for do-eval and table-apply those of
 * the value; for the partitioned calls (row-, group- and index-apply) those of every partition's
 * value added up, so a list per chunk, group or index counts its items, not 1.
 */
export function resultSize(kind: RestApplyKind, r: ApplyResult): number {
  if (kind === 'do-eval' || kind === 'table-apply') return itemsOf(r.value as ResultValue);
  return r.partitions.reduce((n, p) => n + itemsOf(p.value), 0);
}

/** Refuse a result over `limit` rows/items with a 400 naming the limit. */
export function checkOutputLimit(kind: RestApplyKind, r: ApplyResult, limit: number): void {
  const size = resultSize(kind, r);
  if (size > limit) {
    throw new RestError(400, RestCode.OUTPUT_LIMIT, `Output exceeds maximum length ${limit} (outputLimit): the result has ${size} rows or items; return less, or start the server with a larger outputLimit`);
  }
}

/** The `result` of an answer. */
export function restResult(kind: RestApplyKind, r: ApplyResult, graphics: boolean): JsonValue {
  switch (kind) {
    case 'do-eval':
    case 'table-apply':
      return graphics ? imageEntries(r.partitions[0]!) : jsonOf(r.value as ResultValue);
    case 'row-apply':
    case 'index-apply':
      if (graphics) return r.partitions.map(imageEntries);
      return Array.isArray(r.value) ? r.value.map(jsonOf) : jsonOf(r.value as ResultValue);
    case 'group-apply': {
      const out: Record<string, JsonValue> = {};
      for (const p of r.partitions) out[groupKeyText(p.key)] = graphics ? imageEntries(p) : jsonOf(p.value);
      return out;
    }
  }
}

/** The result table as an Arrow IPC stream, or 406 when the result is not one table. */
export function arrowResult(r: ApplyResult): Uint8Array {
  if (!(r.value instanceof Table)) {
    throw new RestError(406, RestCode.NOT_ACCEPTABLE, `the result is not one table, so it has no Arrow form: ask for application/json`);
  }
  return tableToIPC(r.value, 'stream');
}
