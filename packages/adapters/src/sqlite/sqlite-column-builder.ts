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
 */
export class ColumnWriter {
  readonly #kind: ColumnKind;
  readonly #name: string;
  readonly #capacity: number;
  #nulls = 0;
  #validity: Uint8Array | null = null;
  readonly #f64: Float64Array | null;
  readonly #i32: Int32Array | null;
  #offsets: Int32Array | null = null;
  #bytes: Buffer | null = null;
  #used = 0;
  /** Store value `v` at row `r` (rows are written in order from 0). */
  readonly put: (r: number, v: unknown) => void;

  /** A writer for at most `capacity` values of `kind`. */
  constructor(kind: ColumnKind, name: string, capacity: number) {
    this.#kind = kind;
    this.#name = name;
    this.#capacity = capacity;
    const wide = kind === 'int64' || kind === 'timestamp';
    this.#f64 = kind === 'float64' ? new Float64Array(capacity) : null;
    this.#i32 = kind === 'int32' || kind === 'date' || wide ? new Int32Array(wide ? capacity * 2 : capacity) : kind === 'bool' ? new Int32Array(0) : null;
    if (kind === 'bool') this.#bits = new Uint8Array(Math.ceil(capacity / 8));
    if (kind === 'utf8' || kind === 'binary') {
      this.#offsets = new Int32Array(capacity + 1);
      this.#bytes = Buffer.allocUnsafe(Math.max(64, capacity * 16));
    }
    this.put = this.#setter();
  }

  #bits: Uint8Array | null = null;

  #null(r: number): void {
    if (this.#validity === null) {
      this.#validity = new Uint8Array(Math.ceil(this.#capacity / 8)).fill(0xff);
    }
    this.#validity[r >> 3]! &= ~(1 << (r & 7));
    this.#nulls++;
    if (this.#offsets !== null) this.#offsets[r + 1] = this.#used;
  }

  #setter(): (r: number, v: unknown) => void {
    const name = this.#name;
    const kind = this.#kind;
    switch (kind) {
      case 'float64': {
        const out = this.#f64!;
        return (r, v) => {
          if (typeof v === 'number') out[r] = v;
          else if (v === null) this.#null(r);
          else out[r] = typeof v === 'bigint' ? Number(v) : badValue(name, kind, v, r);
        };
      }
      case 'int64':
      case 'int32': {
        const words = this.#i32!;
        const wide = kind === 'int64';
        return (r, v) => {
          if (v === null) return this.#null(r);
          const n = typeof v === 'number' && Number.isInteger(v) ? v : typeof v === 'bigint' ? Number(v) : badValue(name, kind, v, r);
          if (!wide) {
            words[r] = n;
            return;
          }
          const hi = Math.floor(n / TWO_32);
          words[2 * r] = n - hi * TWO_32;
          words[2 * r + 1] = hi;
        };
      }
      case 'date':
      case 'timestamp': {
        const words = this.#i32!;
        return (r, v) => {
          if (v === null) return this.#null(r);
          const x = typeof v === 'string' || typeof v === 'number' ? (kind === 'date' ? dateToDays(v) : timestampToMs(v)) : NaN;
          if (!Number.isFinite(x)) badValue(name, kind, v, r);
          if (kind === 'date') words[r] = x;
          else {
            const hi = Math.floor(x / TWO_32);
            words[2 * r] = x - hi * TWO_32;
            words[2 * r + 1] = hi;
          }
        };
      }
      case 'bool': {
        const bits = this.#bits!;
        return (r, v) => {
          if (v === null) return this.#null(r);
          let on: boolean;
          if (typeof v === 'number' || typeof v === 'bigint') on = v !== 0 && v !== 0n;
          else if (typeof v === 'string' && /^(true|false|t|f|yes|no|1|0)$/i.test(v)) on = /^(true|t|yes|1)$/i.test(v);
          else on = badValue(name, kind, v, r);
          if (on) bits[r >> 3]! |= 1 << (r & 7);
        };
      }
      case 'utf8':
      case 'binary':
        return (r, v) => {
          if (v === null) return this.#null(r);
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
          } else badValue(name, kind, v, r);
          this.#offsets![r + 1] = this.#used;
        };
      case 'null':
        return (r) => this.#null(r);
    }
  }

  /** The first `count` values as Arrow Data. */
  finish(count: number): Data {
    const type = arrowTypeOf(this.#kind);
    if (this.#kind === 'null') return makeData({ type, length: count, nullCount: count } as never);
    const base = { type, length: count, nullCount: this.#nulls, nullBitmap: this.#nulls === 0 ? undefined : this.#validity!.subarray(0, Math.ceil(count / 8)) };
    switch (this.#kind) {
      case 'float64':
        return makeData({ ...base, data: this.#f64!.subarray(0, count) } as never);
      case 'int64':
      case 'timestamp':
        return makeData({ ...base, data: new BigInt64Array(this.#i32!.buffer, 0, count) } as never);
      case 'int32':
      case 'date':
        return makeData({ ...base, data: this.#i32!.subarray(0, count) } as never);
      case 'bool':
        return makeData({ ...base, data: this.#bits!.subarray(0, Math.ceil(count / 8)) } as never);
      default:
        return makeData({
          ...base,
          valueOffsets: this.#offsets!.subarray(0, count + 1),
          data: new Uint8Array(this.#bytes!.buffer, this.#bytes!.byteOffset, this.#used),
        } as never);
    }
  }
}
