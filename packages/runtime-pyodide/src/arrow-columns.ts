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

/** Build an Arrow table from the columns Python returned. */
export function fromPyColumns(columns: readonly PyColumn[]): Table {
  const length = columns[0]?.length ?? 0;
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
