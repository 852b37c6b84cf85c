import { badInput } from './errors.js';
import type { CellKey } from './partition-key.js';
import type { SqlParam } from './values.js';

/**
 * The one JSON encoding of scalar values JSON has no form for: SQL parameters (in a call's data plan)
 * and group key cells (in serialised results). Plain JSON scalars stay as they are; the rest become a
 * one-key tagged object. Only scalars are encoded, so an object is always a tag.
 */
export type JsonScalar =
  | null
  | boolean
  | number
  | string
  | { readonly $bigint: string }
  | { readonly $bytes: string }
  | { readonly $date: string }
  | { readonly $number: 'NaN' | 'Infinity' | '-Infinity' };

/** The JSON form of a SQL parameter or key cell: `{ $bigint }`, `{ $bytes }` (base64), `{ $date }` (ISO-8601), `{ $number }` for NaN/±Infinity. */
export function encodeScalar(v: SqlParam | CellKey): JsonScalar {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $number: String(v) as 'NaN' | 'Infinity' | '-Infinity' };
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw badInput('an invalid Date cannot be a query parameter');
    return { $date: v.toISOString() };
  }
  throw badInput(`a value of type ${typeof v} cannot be a query parameter; use null, boolean, number, bigint, string, Date or Uint8Array`);
}

/** Decode {@link encodeScalar}'s form; anything else is BAD_INPUT naming `field`. */
export function decodeScalar(v: unknown, field: string): SqlParam {
  if (v === null || typeof v === 'boolean' || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return v;
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    const o = v as Record<string, unknown>;
    if (keys.length === 1) {
      if (typeof o.$bigint === 'string' && /^-?\d{1,400}$/.test(o.$bigint)) return BigInt(o.$bigint);
      if (typeof o.$bytes === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(o.$bytes) && o.$bytes.length % 4 === 0) {
        return new Uint8Array(Buffer.from(o.$bytes, 'base64'));
      }
      if (typeof o.$date === 'string') {
        const d = new Date(o.$date);
        if (!Number.isNaN(d.getTime())) return d;
      }
      if (o.$number === 'NaN' || o.$number === 'Infinity' || o.$number === '-Infinity') return Number(o.$number);
    }
  }
  throw badInput(
    `${field} must be null, a boolean, a finite number, a string, or one of { $bigint: "digits" }, { $bytes: "base64" }, { $date: "ISO-8601" }, { $number: "NaN" | "Infinity" | "-Infinity" }`,
  );
}
