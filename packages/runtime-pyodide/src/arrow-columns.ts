import { ErrorCode, InsituError, arrowTypeOf, schemaOf, tableOfColumns, type ColumnKind } from '@insitu/core';
import { DataType, Table, makeData, type Data } from 'apache-arrow';

/** Column kinds understood by the Python side (`insitu/_convert.py`). */
export type WireKind = ColumnKind;

/** One chunk of one column, as raw buffers (absent buffers are undefined: Python sees None). */
export interface ColumnChunk {
  length: number;
  data: Uint8Array | undefined;
  offsets: Uint8Array | undefined;
  validity: Uint8Array | undefined;
}

/** One column of a partition as the Python side receives it. */
export interface WireColumn {
  name: string;
  kind: WireKind;
  chunks: ColumnChunk[];
}

/** One column as the Python side returns it. */
export interface PyColumn {
  name: string;
  kind: WireKind;
  length: number;
  data: Uint8Array;
  offsets: Uint8Array | undefined;
  validity: Uint8Array | undefined;
}

function kindOf(t: DataType, name: string): WireKind {
  if (DataType.isBool(t)) return 'bool';
  if (DataType.isInt(t) && t.bitWidth === 64) return 'int64';
  if (DataType.isInt(t) && t.bitWidth <= 32) return 'int32';
  if (DataType.isFloat(t)) return 'float64';
  if (DataType.isUtf8(t)) return 'utf8';
  if (DataType.isBinary(t)) return 'binary';
  if (DataType.isDate(t)) return 'date';
  if (DataType.isTimestamp(t)) return 'timestamp';
  if (DataType.isNull(t)) return 'null';
  throw new InsituError(ErrorCode.RUNTIME_ERROR, `column ${name} has Arrow type ${String(t)}, which cannot be handed to Python`);
}

function bytesOf(a: ArrayBufferView | null | undefined, byteLength?: number): Uint8Array | undefined {
  if (a === null || a === undefined) return undefined;
  return new Uint8Array(a.buffer, a.byteOffset, byteLength ?? a.byteLength);
}

/** Split an Arrow table into per-column raw buffers for Python (no per-value work). */
export function toWireColumns(table: Table): WireColumn[] {
  return table.schema.fields.map((field, i) => {
    const kind = kindOf(field.type, field.name);
    const chunks: ColumnChunk[] = [];
    for (const batch of table.batches) {
      for (const d of batch.getChildAt(i)!.data) {
        if (d.offset !== 0) throw new InsituError(ErrorCode.RUNTIME_ERROR, `column ${field.name} is a sliced Arrow array; pass whole batches`);
        const width = kind === 'int64' || kind === 'timestamp' ? 8 : kind === 'float64' ? 8 : kind === 'int32' || kind === 'date' ? 4 : 0;
        const data =
          kind === 'null' ? undefined : width > 0 ? bytesOf(d.values as ArrayBufferView, d.length * width) : kind === 'bool' ? bytesOf(d.values as ArrayBufferView, Math.ceil(d.length / 8)) : bytesOf(d.values as ArrayBufferView);
        chunks.push({
          length: d.length,
          data,
          offsets: kind === 'utf8' || kind === 'binary' ? bytesOf(d.valueOffsets as ArrayBufferView, (d.length + 1) * 4) : undefined,
          validity: d.nullCount > 0 && d.nullBitmap !== undefined ? bytesOf(d.nullBitmap as ArrayBufferView, Math.ceil(d.length / 8)) : undefined,
        });
      }
    }
    return { name: field.name, kind, chunks };
  });
}

function aligned<T>(bytes: Uint8Array, Ctor: { new (b: ArrayBuffer, o: number, l: number): T; BYTES_PER_ELEMENT: number }): T {
  const copy = bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0 ? bytes : bytes.slice();
  return new Ctor(copy.buffer as ArrayBuffer, copy.byteOffset, copy.byteLength / Ctor.BYTES_PER_ELEMENT);
}

/** Bytes a value of each fixed-width kind takes. */
const WIDTH: Partial<Record<WireKind, number>> = { int64: 8, timestamp: 8, float64: 8, int32: 4, date: 4 };

function malformed(name: unknown, what: string): InsituError {
  return new InsituError(ErrorCode.BAD_RESULT, `result column ${String(name).slice(0, 100)}: ${what} (was the insitu module changed by the UDF?)`);
}

/**
 * Check that columns Python returned are what they claim: one length for all, buffers of the right
 * types and at least the sizes that length needs, string offsets that start at 0, never decrease and stay
 * inside the data. A UDF can rewrite the converter in its interpreter, so a column declaring millions of
 * rows over 8 bytes must not reach the engine.
 */
function checkPyColumns(columns: readonly PyColumn[]): number {
  if (!Array.isArray(columns)) throw malformed('?', 'the columns are not a list');
  const length = columns[0]?.length ?? 0;
  for (const c of columns) {
    if (c === null || typeof c !== 'object' || typeof c.name !== 'string') throw malformed('?', 'a column without a name');
    if (!Number.isSafeInteger(c.length) || c.length < 0 || c.length !== length) throw malformed(c.name, 'its length differs from the first column');
    const bytes = (b: unknown, need: number, what: string) => {
      if (!(b instanceof Uint8Array) || b.byteLength < need) throw malformed(c.name, `its ${what} buffer is missing or shorter than ${need} bytes`);
    };
    if (c.validity !== undefined && c.validity !== null) bytes(c.validity, Math.ceil(c.length / 8), 'validity');
    const width = WIDTH[c.kind as WireKind];
    if (width !== undefined) bytes(c.data, c.length * width, 'data');
    else if (c.kind === 'bool') bytes(c.data, Math.ceil(c.length / 8), 'data');
    else if (c.kind === 'utf8' || c.kind === 'binary') {
      bytes(c.data, 0, 'data');
      bytes(c.offsets, (c.length + 1) * 4, 'offsets');
      const o = new DataView(c.offsets!.buffer, c.offsets!.byteOffset, (c.length + 1) * 4);
      let prev = o.getInt32(0, true);
      if (prev !== 0) throw malformed(c.name, 'its offsets do not start at 0');
      for (let i = 1; i <= c.length; i++) {
        const next = o.getInt32(i * 4, true);
        if (next < prev) throw malformed(c.name, 'its offsets decrease');
        prev = next;
      }
      if (prev > c.data.byteLength) throw malformed(c.name, 'its offsets point past its data');
    } else if (c.kind !== 'null') throw malformed(c.name, `unknown column kind ${String(c.kind).slice(0, 40)}`);
  }
  return length;
}

/**
 * The bytes a result table counts for against the result limits: its Arrow IPC size, but at least 8 per
 * value (rows × columns), so that columns without buffers (all nulls) still count for what holding
 * their rows costs the engine.
 */
export function resultFootprint(table: Table, ipcBytes: number): number {
  return Math.max(ipcBytes, table.numRows * Math.max(1, table.numCols) * 8);
}

/** Build an Arrow table from the columns Python returned (checked first, see above). */
export function fromPyColumns(columns: readonly PyColumn[]): Table {
  const length = checkPyColumns(columns);
  const data: Data[] = columns.map((c) => {
    const type = arrowTypeOf(c.kind);
    const nullBitmap = c.validity;
    let nullCount = 0;
    if (c.kind === 'null') nullCount = c.length;
    else if (c.validity !== undefined) {
      for (let i = 0; i < c.length; i++) if (((c.validity[i >> 3]! >> (i & 7)) & 1) === 0) nullCount++;
    }
    const base = { type, length: c.length, nullCount, nullBitmap };
    switch (c.kind) {
      case 'int64':
      case 'timestamp':
        return makeData({ ...base, data: aligned(c.data, BigInt64Array) } as never);
      case 'int32':
      case 'date':
        return makeData({ ...base, data: aligned(c.data, Int32Array) } as never);
      case 'float64':
        return makeData({ ...base, data: aligned(c.data, Float64Array) } as never);
      case 'bool':
        return makeData({ ...base, data: c.data } as never);
      case 'utf8':
      case 'binary':
        return makeData({ ...base, valueOffsets: aligned(c.offsets!, Int32Array), data: c.data } as never);
      case 'null':
        return makeData({ type, length: c.length, nullCount: c.length } as never);
    }
  });
  return tableOfColumns(
    schemaOf(columns.map((c) => c.name), columns.map((c) => c.kind)),
    data,
    length,
  );
}
