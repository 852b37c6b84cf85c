/**
 * What the Python runner returns is written by code a UDF can change: a UDF may rewrite the `insitu`
 * package in its own interpreter, including the functions the worker holds. So nothing it returns is
 * trusted as is: each answer is rebuilt here with the expected types and sizes, and the fields that steer
 * the pool (thread id, fatal, retry, replace, heap size) are only ever set by the worker's JavaScript.
 */
import { ErrorCode, InsituError, type SerializedError } from '@insitu/core';

/** Longest message, traceback or other error text kept from Python (characters): the runner cuts at 1 Mi plus a marker line. */
const MAX_ERROR_TEXT = (1 << 20) + 4096;

/** Room past the cap for the runner's own truncation marker line. */
const MARKER_ROOM = 4096;

/**
 * Text from Python: a string, at most `limit` characters plus the runner's marker line (the runner
 * already caps it in UTF-8 bytes, which are never fewer than its characters).
 */
export function outputText(v: unknown, limit: number): string {
  if (typeof v !== 'string') return '';
  if (v.length <= limit + MARKER_ROOM) return v;
  return `${v.slice(0, limit)}\n[insitu: output truncated by the worker at ${limit} characters]\n`;
}

const CODES = new Set<string>(Object.values(ErrorCode));

/**
 * An error as Python reported it, with known fields of the right types only; the stdout printed before
 * it is kept up to `outputLimit` like any output.
 */
export function pythonError(v: unknown, outputLimit: number): SerializedError {
  const e = (v !== null && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const text = (x: unknown) => (typeof x === 'string' ? x.slice(0, MAX_ERROR_TEXT) : undefined);
  const code = typeof e['code'] === 'string' && CODES.has(e['code']) ? (e['code'] as SerializedError['code']) : ErrorCode.RUNTIME_ERROR;
  const out: Record<string, unknown> = { code, message: text(e['message']) ?? 'the Python runtime reported an error without a message' };
  for (const k of ['pythonType', 'traceback', 'script', 'datastore'] as const) {
    const t = text(e[k]);
    if (t !== undefined) out[k] = t;
  }
  if (typeof e['stdout'] === 'string') out['stdout'] = outputText(e['stdout'], outputLimit);
  if (Number.isSafeInteger(e['line'])) out['line'] = e['line'];
  return out as unknown as SerializedError;
}

/** A Python result that does not have the shape the runner promises. */
export function badAnswer(what: string): InsituError {
  return new InsituError(ErrorCode.BAD_RESULT, `the Python runner returned a malformed ${what} (was the insitu module changed by the UDF?)`);
}

/** The function names of an inspection answer. */
export function functionNames(v: unknown): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw badAnswer('list of functions');
  return v as string[];
}
