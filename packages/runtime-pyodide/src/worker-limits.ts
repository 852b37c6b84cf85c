import { DEFAULT_MAX_RESULT_BYTES_IN_FLIGHT, ErrorCode, checkByteCount, checkResultLimits, formatBytes, type SerializedError } from '@insitu/core';

/** Caps on what a UDF sends back from a worker, as runtime options. */
export interface WorkerLimitOptions {
  /**
   * Bytes of stdout, and of stderr, a worker keeps per partition (UTF-8). Past it the UDF keeps running;
   * the rest is dropped in Python and a marker line says how many bytes were. Default 4 MiB.
   */
  readonly maxOutputBytes?: number;
  /**
   * Largest result of one partition, in bytes (bytes length, JSON text length, encoded table columns,
   * then the Arrow IPC size): a larger one fails with RESULT_TOO_LARGE. Default 256 MiB.
   */
  readonly maxResultBytes?: number;
  /**
   * Largest reply of one task (all the groups of a key range that one worker reads itself): past it the
   * task stops with RESULT_TOO_LARGE. `createEngine` passes `maxResultBytesInFlight`, since a larger reply
   * could never fit the engine's budget. Default 1 GiB.
   */
  readonly maxTaskResultBytes?: number;
}

/** {@link WorkerLimitOptions}, validated, with their defaults. */
export interface WorkerLimits {
  readonly maxOutputBytes: number;
  readonly maxResultBytes: number;
  readonly maxTaskResultBytes: number;
}

/** Validate the limit options and fill in their defaults. */
export function checkWorkerLimits(opts: WorkerLimitOptions): WorkerLimits {
  const { maxOutputBytes, maxResultBytes } = checkResultLimits({ maxOutputBytes: opts.maxOutputBytes, maxResultBytes: opts.maxResultBytes });
  const maxTaskResultBytes = checkByteCount(opts.maxTaskResultBytes, 'maxTaskResultBytes', 1, Number.MAX_SAFE_INTEGER, DEFAULT_MAX_RESULT_BYTES_IN_FLIGHT);
  return { maxOutputBytes, maxResultBytes, maxTaskResultBytes };
}

/**
 * RESULT_TOO_LARGE for a task whose reply (the groups one worker read) reached `bytes`, past
 * `maxTaskResultBytes`; `partition` is the key of the last group run.
 */
export function taskResultTooLarge(bytes: number, cap: number, partition: unknown): SerializedError {
  return {
    code: ErrorCode.RESULT_TOO_LARGE,
    message:
      `the groups one worker read for this call returned ${formatBytes(bytes)} of results, more than the engine's whole budget ` +
      `of results in flight, ${formatBytes(cap)}; return less per group, or raise the limit with createEngine({ maxResultBytesInFlight })`,
    partition,
  };
}
