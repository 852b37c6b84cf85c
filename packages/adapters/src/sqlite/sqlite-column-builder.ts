import { InsituError, ErrorCode, arrowTypeOf } from '@insitu/core';
import { makeData, type Data } from 'apache-arrow';
import type { ColumnKind } from './sqlite-column-kind.js';

const MS_PER_DAY = 86_400_000;
const TWO_32 = 4_294_967_296;

/** Days since 1970-01-01 of an SQLite DATE value: ISO text, or a number of Unix seconds. */
export function dateToDays(v: string | number): number {
  if (typeof v === 'number') return Math.floor((v * 1000) / MS_PER_DAY);
  const m = /^(-?\d{4,})-(\d{2})-(\d{2})/.exec(v);
  if (m === null) return NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / MS_PER_DAY;
}

/** Milliseconds since the epoch of an SQLite TIMESTAMP value: ISO text (UTC unless it says otherwise) or Unix seconds. */
export function timestampToMs(v: string | number): number {
  if (typeof v === 'number') return Math.round(v * 1000);
  let s = v.trim().replace(' ', 'T');
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) s += 'T00:00:00';
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(s)) s += 'Z';
  return Date.parse(s);
}

function badValue(name: string, kind: ColumnKind, v: unknown, row: number): never {
  const shown = typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : v instanceof Uint8Array ? `<${v.byteLength} bytes>` : String(v);
  throw new InsituError(
    ErrorCode.STORAGE_ERROR,
    `column ${name} is read as ${kind} but row ${row + 1} of the batch holds ${shown}; fix the value, declare the column's type to match, or CAST it in the query`,
  );
}

/** Build one Arrow column from raw SQLite rows (column `col` of `rows[0..count)`). */
export function buildColumn(kind: ColumnKind, name: string, rows: readonly unknown[][], col: number, count: number): Data {
  const w = new ColumnWriter(kind, name, count);
  for (let r = 0; r < count; r++) w.put(r, rows[r]![col]);
  return w.finish(count);
}

function grow(bytes: Buffer, used: number, need: number): Buffer {
  const grown = Buffer.allocUnsafe(Math.max(need, bytes.length * 2));
  bytes.copy(grown, 0, 0, used);
  return grown;
}

/**
 * Writes one column value by value into typed arrays as rows stream by, so row arrays from the driver
 * die young instead of being kept until the batch is built. For columns whose kind is known up front.
 * Starts small and doubles as needed (batches cut at group boundaries are often short).
 */
export class ColumnWriter {
  readonly #kind: ColumnKind;
  readonly #name: string;
  #capacity: number;
  #nulls = 0;
  #validity: Uint8Array | null = null;
  /** float64 values, or int32 words (two per value for int64/timestamp), or bool bits. */
  #values: Float64Array | Int32Array | Uint8Array | null;
  #offsets: Int32Array | null = null;
  #bytes: Buffer | null = null;
  #used = 0;

  /** A writer for values of `kind`, with room for `capacity` values before it grows. */
  constructor(kind: ColumnKind, name: string, capacity: number) {
    this.#kind = kind;
    this.#name = name;
    this.#capacity = Math.max(8, capacity);
    this.#values = this.#allocate(this.#capacity);
    if (kind === 'utf8' || kind === 'binary') {
      this.#offsets = new Int32Array(this.#capacity + 1);
      this.#bytes = Buffer.allocUnsafe(Math.max(64, this.#capacity * 16));
    }
  }

  #allocate(n: number): Float64Array | Int32Array | Uint8Array | null {
    switch (this.#kind) {
      case 'float64':
        return new Float64Array(n);
      case 'int64':
      case 'timestamp':
        return new Int32Array(n * 2);
      case 'int32':
      case 'date':
        return new Int32Array(n);
      case 'bool':
        return new Uint8Array(Math.ceil(n / 8));
      default:
        return null;
    }
  }

  /** Make room for at least `n` values. */
  #grow(n: number): void {
    let cap = this.#capacity;
    while (cap < n) cap *= 2;
    const values = this.#allocate(cap);
    if (values !== null && this.#values !== null) (values as Uint8Array).set(this.#values as Uint8Array);
    this.#values = values;
    if (this.#offsets !== null) {
      const offsets = new Int32Array(cap + 1);
      offsets.set(this.#offsets);
      this.#offsets = offsets;
    }
    if (this.#validity !== null) {
      const validity = new Uint8Array(Math.ceil(cap / 8)).fill(0xff);
      validity.set(this.#validity);
      this.#validity = validity;
    }
    this.#capacity = cap;
  }

  #null(r: number): void {
    if (this.#validity === null) this.#validity = new Uint8Array(Math.ceil(this.#capacity / 8)).fill(0xff);
    this.#validity[r >> 3]! &= ~(1 << (r & 7));
    this.#nulls++;
    if (this.#offsets !== null) this.#offsets[r + 1] = this.#used;
  }

  /** Store value `v` at row `r` (rows are written in order from 0). */
  put(r: number, v: unknown): void {
    if (r >= this.#capacity) this.#grow(r + 1);
    if (v === null || v === undefined) return this.#null(r);
    const kind = this.#kind;
    switch (kind) {
      case 'float64':
        (this.#values as Float64Array)[r] = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : badValue(this.#name, kind, v, r);
        return;
      case 'int64':
      case 'int32': {
        const n = typeof v === 'number' && Number.isInteger(v) ? v : typeof v === 'bigint' ? Number(v) : badValue(this.#name, kind, v, r);
        const words = this.#values as Int32Array;
        if (kind === 'int32') {
          words[r] = n;
          return;
        }
        const hi = Math.floor(n / TWO_32);
        words[2 * r] = n - hi * TWO_32;
        words[2 * r + 1] = hi;
        return;
      }
      case 'date':
      case 'timestamp': {
        const x = typeof v === 'string' || typeof v === 'number' ? (kind === 'date' ? dateToDays(v) : timestampToMs(v)) : NaN;
        if (!Number.isFinite(x)) badValue(this.#name, kind, v, r);
        const words = this.#values as Int32Array;
        if (kind === 'date') {
          words[r] = x;
          return;
        }
        const hi = Math.floor(x / TWO_32);
        words[2 * r] = x - hi * TWO_32;
        words[2 * r + 1] = hi;
        return;
      }
      case 'bool': {
        let on: boolean;
        if (typeof v === 'number' || typeof v === 'bigint') on = v !== 0 && v !== 0n;
        else if (typeof v === 'string' && /^(true|false|t|f|yes|no|1|0)$/i.test(v)) on = /^(true|t|yes|1)$/i.test(v);
        else on = badValue(this.#name, kind, v, r);
        if (on) (this.#values as Uint8Array)[r >> 3]! |= 1 << (r & 7);
        return;
      }
      case 'utf8':
      case 'binary': {
        if (kind === 'utf8' && (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint')) {
          const text = typeof v === 'string' ? v : String(v);
          const need = this.#used + text.length * 3;
          if (need > this.#bytes!.length) this.#bytes = grow(this.#bytes!, this.#used, need);
          this.#used += this.#bytes!.write(text, this.#used);
        } else if (v instanceof Uint8Array || (kind === 'binary' && typeof v === 'string')) {
          const b = v instanceof Uint8Array ? v : Buffer.from(v as string);
          if (this.#used + b.byteLength > this.#bytes!.length) this.#bytes = grow(this.#bytes!, this.#used, this.#used + b.byteLength);
          this.#bytes!.set(b, this.#used);
          this.#used += b.byteLength;
        } else badValue(this.#name, kind, v, r);
        this.#offsets![r + 1] = this.#used;
        return;
      }
      case 'null':
        return this.#null(r);
    }
  }

  /** The first `count` values as Arrow Data. */
  finish(count: number): Data {
    const type = arrowTypeOf(this.#kind);
    if (this.#kind === 'null') return makeData({ type, length: count, nullCount: count } as never);
    const base = { type, length: count, nullCount: this.#nulls, nullBitmap: this.#nulls === 0 ? undefined : this.#validity!.subarray(0, Math.ceil(count / 8)) };
    const values = this.#values;
    switch (this.#kind) {
      case 'float64':
        return makeData({ ...base, data: (values as Float64Array).subarray(0, count) } as never);
      case 'int64':
      case 'timestamp':
        return makeData({ ...base, data: new BigInt64Array((values as Int32Array).buffer, 0, count) } as never);
      case 'int32':
      case 'date':
        return makeData({ ...base, data: (values as Int32Array).subarray(0, count) } as never);
      case 'bool':
        return makeData({ ...base, data: (values as Uint8Array).subarray(0, Math.ceil(count / 8)) } as never);
      default:
        return makeData({
          ...base,
          valueOffsets: this.#offsets!.subarray(0, count + 1),
          data: new Uint8Array(this.#bytes!.buffer, this.#bytes!.byteOffset, this.#used),
        } as never);
    }
  }
}
