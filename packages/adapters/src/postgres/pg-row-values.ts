import { InsituError } from '@insitu/core';

/**
 * Values of engine-table rows as the driver returns them, made into what core expects: BIGINT and
 * count(*) come as strings (the driver never rounds), BYTEA as Buffers.
 */

/** A BIGINT (or INTEGER) column value as a number. Engine counters and sizes stay far below 2^53. */
export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v as string);
}

/** {@link num}, NULL kept. */
export function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

/** A BYTEA value as a Uint8Array over the same memory. */
export function bytesOf(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Bytes as a Buffer over the same memory, for binding to a BYTEA parameter. */
export function bufferOf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The SQLSTATE of a driver error, or of the driver error an InsituError wraps (its `cause`). */
export function sqlStateOf(e: unknown): string | undefined {
  const err = e instanceof InsituError ? e.cause : e;
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** SQLSTATE of a unique (or primary key) violation. */
export const UNIQUE_VIOLATION = '23505';

/**
 * A name pattern as SQLite's LIKE reads it: `%` and `_` are wildcards, ASCII letters match either case,
 * and there is no escape character. Used as `ILIKE $n ESCAPE ''` on `COLLATE "C"` columns.
 */
export const LIKE_AS_SQLITE = `ESCAPE ''`;
