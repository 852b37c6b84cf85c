import type { TableProxy } from './table-proxy.js';
import { DataType, Field, Float64, RecordBatch, Schema, Struct, Table, makeData, type Data } from 'apache-arrow';
import { badInput } from './errors.js';
import type { PartitionKey } from './partition.js';
import type { ApplyResult, ResultValue } from './result-assembly.js';

/**
 * How 64-bit integer columns reach JavaScript. Arrow's Int64 gives BigInt (`150n`), which
 * `JSON.stringify` refuses; so by default (`'number'`) a result or pulled table's Int64 column whose
 * values all lie within ±2^53 arrives as a Float64 column of the same (exact) integers, marked with the
 * field metadata {@link INT64_METADATA} so that `create()` and datastores store it as INTEGER again.
 * A column holding a value beyond ±2^53 stays Int64 (BigInt); `'bigint'` keeps every Int64 column.
 */
export type Int64Mode = 'number' | 'bigint';

/** Both {@link Int64Mode}s, for validation. */
export const INT64_MODES: readonly Int64Mode[] = ['number', 'bigint'];

/** Field metadata key marking a Float64 column that holds 64-bit integers given as numbers. */
export const INT64_METADATA = 'insitu:int64';

/** Validate an int64 mode (undefined: the default). */
export function checkInt64Mode(v: unknown, field = 'int64'): Int64Mode | undefined {
  if (v === undefined) return undefined;
  if (v !== 'number' && v !== 'bigint') throw badInput(`${field} must be 'number' or 'bigint', got ${JSON.stringify(v)}`);
  return v;
}

/** Whether a field is a Float64 column standing for 64-bit integers (see {@link INT64_METADATA}). */
export function isInt64AsNumber(field: Field): boolean {
  return DataType.isFloat(field.type) && field.metadata.get(INT64_METADATA) === 'true';
}

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const MIN = -MAX;

function isInt64(t: DataType): boolean {
  return DataType.isInt(t) && t.bitWidth === 64;
}

/** Whether every valid value of an Int64 column chunk lies within ±2^53. */
function safeChunk(d: Data): boolean {
  const values = d.values as BigInt64Array | BigUint64Array;
  const checkNulls = d.nullCount > 0;
  for (let i = 0; i < d.length; i++) {
    const v = values[i]!;
    if ((v > MAX || v < MIN) && (!checkNulls || d.getValid(i))) return false;
  }
  return true;
}

/** An Int64 column chunk as Float64 (same validity). */
function asFloat(d: Data): Data {
  const values = d.values as BigInt64Array | BigUint64Array;
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(values[i]!);
  if (d.nullCount === 0) return makeData({ type: new Float64(), length: d.length, nullCount: 0, data: out });
  const bitmap = new Uint8Array(Math.ceil(d.length / 8));
  for (let i = 0; i < d.length; i++) if (d.getValid(i)) bitmap[i >> 3]! |= 1 << (i & 7);
  return makeData({ type: new Float64(), length: d.length, nullCount: d.nullCount, data: out, nullBitmap: bitmap });
}

/**
 * `table` with its Int64 columns given as numbers where every value allows it (see {@link Int64Mode});
 * the same table when there is nothing to convert.
 */
export function int64AsNumbers(table: Table): Table {
  const fields = table.schema.fields;
  const convert = fields.map((f, c) => isInt64(f.type) && table.batches.every((b) => safeChunk(b.data.children[c]!)));
  if (!convert.includes(true)) return table;
  const schema = new Schema(
    fields.map((f, c) => (convert[c] ? new Field(f.name, new Float64(), f.nullable, new Map([...f.metadata, [INT64_METADATA, 'true']])) : f)),
    table.schema.metadata,
  );
  const batches = table.batches.map((b) => {
    const children = b.data.children.map((d, c) => (convert[c] ? asFloat(d) : d));
    return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: b.numRows, nullCount: 0, children }));
  });
  return new Table(schema, batches);
}

/**
 * A result whose tables (the value's and each partition's) have their Int64 columns as numbers where
 * they allow it. A table the value shares with a partition stays shared (encodeResult writes it once).
 */
export function resultAsNumbers(r: ApplyResult): ApplyResult {
  const done = new Map<Table, Table>();
  // Tables converted once each; anything else (JSON, bytes, the proxy an `into` call answers) as it is.
  const conv = <T extends ResultValue | TableProxy>(x: T): T => {
    if (!(x instanceof Table)) return x;
    let y = done.get(x);
    if (y === undefined) done.set(x, (y = int64AsNumbers(x)));
    return y as T;
  };
  const keys = new Map<unknown, unknown>();
  const key = (k: unknown): PartitionKey => {
    if (k === null || typeof k !== 'object') return k as PartitionKey;
    let out = keys.get(k);
    if (out === undefined) keys.set(k, (out = keyAsNumbers(k as Record<string, unknown>)));
    return out as PartitionKey;
  };
  const partitions = r.partitions.map((p) => ({ ...p, key: key(p.key), value: conv(p.value) }));
  const value = Array.isArray(r.value) ? r.value.map((v: ResultValue) => conv(v)) : conv(r.value);
  return { ...r, value, partitions, ...(r.failed === undefined ? {} : { failed: r.failed.map((f) => ({ ...f, key: key(f.key) })) }) };
}

/** A group key with its BigInt values within ±2^53 as numbers (as its key columns are in the table). */
function keyAsNumbers(k: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [c, v] of Object.entries(k)) out[c] = typeof v === 'bigint' && v <= MAX && v >= MIN ? Number(v) : v;
  return out;
}
