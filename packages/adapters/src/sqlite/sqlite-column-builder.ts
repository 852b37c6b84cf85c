import { InsituError, ErrorCode } from '@insitu/core';
import { makeData, type Data } from 'apache-arrow';
import { arrowTypeOf, type ColumnKind } from './sqlite-column-kind.js';

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

/**
 * Builds one Arrow column from SQLite values written straight into typed arrays (no per-value Arrow
 * builder calls, no BigInt for int64), then hands it over as Arrow Data.
 */
export class ColumnBuilder {
  readonly kind: ColumnKind;
  readonly #name: string;
  readonly #capacity: number;
  #length = 0;
  #nulls = 0;
  readonly #validity: Uint8Array;
  // fixed-width values
  #words: Int32Array | null = null;
  #floats: Float64Array | null = null;
  // variable-width values
  #offsets: Int32Array | null = null;
  #bytes: Buffer | null = null;
  #byteLength = 0;

  /** A builder for at most `capacity` values of `kind`, for column `name` (named in errors). */
  constructor(kind: ColumnKind, name: string, capacity: number) {
    this.kind = kind;
    this.#name = name;
    this.#capacity = capacity;
    this.#validity = new Uint8Array(Math.ceil(capacity / 8));
    switch (kind) {
      case 'int64':
      case 'timestamp':
        this.#words = new Int32Array(capacity * 2);
        break;
      case 'int32':
      case 'date':
        this.#words = new Int32Array(capacity);
        break;
      case 'float64':
        this.#floats = new Float64Array(capacity);
        break;
      case 'bool':
        this.#words = null;
        break;
      case 'utf8':
      case 'binary':
        this.#offsets = new Int32Array(capacity + 1);
        this.#bytes = Buffer.allocUnsafe(Math.max(64, capacity * 16));
        break;
      case 'null':
        break;
    }
  }

  /** Append one SQLite value (number, bigint, string, Buffer or null). */
  push(v: unknown): void {
    const i = this.#length++;
    if (v === null || v === undefined) {
      this.#nulls++;
      if (this.#offsets !== null) this.#offsets[i + 1] = this.#byteLength;
      return;
    }
    if (this.kind === 'null') {
      this.#nulls++;
      return;
    }
    this.#validity[i >> 3]! |= 1 << (i & 7);
    switch (this.kind) {
      case 'float64':
        this.#floats![i] = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : this.#bad(v, i);
        return;
      case 'int64':
        this.#putInt64(i, this.#integer(v, i));
        return;
      case 'int32':
        this.#words![i] = this.#integer(v, i);
        return;
      case 'bool':
        if (typeof v === 'number' || typeof v === 'bigint') {
          if (v) this.#boolBits()[i >> 3]! |= 1 << (i & 7);
        } else if (typeof v === 'string' && /^(true|false|t|f|yes|no|1|0)$/i.test(v)) {
          if (/^(true|t|yes|1)$/i.test(v)) this.#boolBits()[i >> 3]! |= 1 << (i & 7);
        } else this.#bad(v, i);
        return;
      case 'date': {
        const d = typeof v === 'string' || typeof v === 'number' ? dateToDays(v) : NaN;
        this.#words![i] = Number.isFinite(d) ? d : this.#bad(v, i);
        return;
      }
      case 'timestamp': {
        const ms = typeof v === 'string' || typeof v === 'number' ? timestampToMs(v) : NaN;
        this.#putInt64(i, Number.isFinite(ms) ? ms : this.#bad(v, i));
        return;
      }
      case 'utf8': {
        const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : this.#bad(v, i);
        this.#reserve(Buffer.byteLength(s) );
        this.#byteLength += this.#bytes!.write(s, this.#byteLength);
        this.#offsets![i + 1] = this.#byteLength;
        return;
      }
      case 'binary': {
        const b = v instanceof Uint8Array ? v : typeof v === 'string' ? Buffer.from(v) : this.#bad(v, i);
        this.#reserve(b.byteLength);
        this.#bytes!.set(b, this.#byteLength);
        this.#byteLength += b.byteLength;
        this.#offsets![i + 1] = this.#byteLength;
        return;
      }
    }
  }

  /** The column as Arrow Data of the values pushed so far. */
  finish(): Data {
    const length = this.#length;
    const type = arrowTypeOf(this.kind);
    if (this.kind === 'null') return makeData({ type, length, nullCount: length } as never);
    const nullBitmap = this.#nulls === 0 ? undefined : this.#validity.subarray(0, Math.ceil(length / 8));
    const base = { type, length, nullCount: this.#nulls, nullBitmap };
    switch (this.kind) {
      case 'int64':
      case 'timestamp':
        return makeData({ ...base, data: new BigInt64Array(this.#words!.buffer, 0, length) } as never);
      case 'int32':
      case 'date':
        return makeData({ ...base, data: this.#words!.subarray(0, length) } as never);
      case 'float64':
        return makeData({ ...base, data: this.#floats!.subarray(0, length) } as never);
      case 'bool':
        return makeData({ ...base, data: this.#boolBits().subarray(0, Math.ceil(length / 8)) } as never);
      case 'utf8':
      case 'binary':
        return makeData({
          ...base,
          valueOffsets: this.#offsets!.subarray(0, length + 1),
          data: new Uint8Array(this.#bytes!.buffer, this.#bytes!.byteOffset, this.#byteLength),
        } as never);
    }
  }

  #boolData: Uint8Array | null = null;
  #boolBits(): Uint8Array {
    this.#boolData ??= new Uint8Array(Math.ceil(this.#capacity / 8));
    return this.#boolData;
  }

  #putInt64(i: number, v: number): void {
    const hi = Math.floor(v / TWO_32);
    this.#words![2 * i] = v - hi * TWO_32;
    this.#words![2 * i + 1] = hi;
  }

  #integer(v: unknown, i: number): number {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'bigint') return Number(v);
    return this.#bad(v, i);
  }

  #reserve(extra: number): void {
    const need = this.#byteLength + extra;
    if (need <= this.#bytes!.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.#bytes!.length * 2));
    this.#bytes!.copy(grown, 0, 0, this.#byteLength);
    this.#bytes = grown;
  }

  #bad(v: unknown, row: number): never {
    const shown = typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : v instanceof Uint8Array ? `<${v.byteLength} bytes>` : String(v);
    throw new InsituError(
      ErrorCode.STORAGE_ERROR,
      `column ${this.#name} is read as ${this.kind} but row ${row + 1} of the batch holds ${shown}; fix the value, declare the column's type to match, or CAST it in the query`,
    );
  }
}
