import { ErrorCode, InsituError, badInput } from './errors.js';

/** Default cap on what a UDF writes to stdout, and again to stderr, per partition: 4 MiB. */
export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 2 ** 20;
/** Default cap on one partition's result: 256 MiB. */
export const DEFAULT_MAX_RESULT_BYTES = 256 * 2 ** 20;
/** Default engine-wide budget of result bytes held by running calls: 1 GiB. */
export const DEFAULT_MAX_RESULT_BYTES_IN_FLIGHT = 2 ** 30;

/** Largest `maxOutputBytes`: captured text must stay well inside JavaScript's longest string (~512 MiB). */
const MAX_OUTPUT_BYTES = 256 * 2 ** 20;
/** Largest `maxResultBytes`: Arrow offsets and Node buffers address up to 2 GiB. */
const MAX_RESULT_BYTES = 2 ** 31 - 1;

/** The engine's caps on output and results, validated (see {@link checkResultLimits}). */
export interface ResultLimits {
  /** Bytes of stdout, and of stderr, kept per partition; the rest is dropped and counted. */
  readonly maxOutputBytes: number;
  /** Largest result one partition may return, in bytes. */
  readonly maxResultBytes: number;
  /** Engine-wide budget of result bytes held by calls still running. */
  readonly maxResultBytesInFlight: number;
}

/** Validate a byte count option `name` (`fallback` when absent). */
export function checkByteCount(value: unknown, name: string, min: number, max: number, fallback: number): number {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw badInput(`${name} must be an integer number of bytes from ${min} to ${max}, got ${String(n)}`);
  }
  return n;
}

/** Validate the three limits and fill in their defaults. */
export function checkResultLimits(opts: Partial<Record<keyof ResultLimits, unknown>>): ResultLimits {
  return {
    maxOutputBytes: checkByteCount(opts.maxOutputBytes, 'maxOutputBytes', 0, MAX_OUTPUT_BYTES, DEFAULT_MAX_OUTPUT_BYTES),
    maxResultBytes: checkByteCount(opts.maxResultBytes, 'maxResultBytes', 1, MAX_RESULT_BYTES, DEFAULT_MAX_RESULT_BYTES),
    maxResultBytesInFlight: checkByteCount(opts.maxResultBytesInFlight, 'maxResultBytesInFlight', 1, Number.MAX_SAFE_INTEGER, DEFAULT_MAX_RESULT_BYTES_IN_FLIGHT),
  };
}

/** `n` as exact bytes and, when large, in MiB: `9437184 bytes (9 MiB)`. */
export function formatBytes(n: number): string {
  if (n < 2 ** 20) return `${n} bytes`;
  const mib = n / 2 ** 20;
  return `${n} bytes (${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB)`;
}

/**
 * RESULT_TOO_LARGE for one partition's result: `what` says what was measured (e.g. "a table whose Arrow
 * IPC encoding takes"), `bytes` its size.
 */
export function resultTooLarge(what: string, bytes: number, limit: number): InsituError {
  return new InsituError(
    ErrorCode.RESULT_TOO_LARGE,
    `the UDF's result (${what} ${formatBytes(bytes)}) is larger than maxResultBytes, ${formatBytes(limit)}; ` +
      'return less per partition, or raise the limit with createEngine({ maxResultBytes })',
  );
}
