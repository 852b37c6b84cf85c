/**
 * The one error type insitu throws, with stable codes.
 *
 * Errors cross thread boundaries as plain {@link SerializedError} objects and are rebuilt here, so the
 * Python type, traceback and partition survive the trip.
 */

/** Stable error codes. New codes may be added; existing ones never change meaning. */
export const ErrorCode = {
  /** Input from the caller is malformed: bad identifier, bad option, bad SQL, bad Python source. */
  BAD_INPUT: 'BAD_INPUT',
  /** A stored script with that name is not visible to the caller. */
  SCRIPT_NOT_FOUND: 'SCRIPT_NOT_FOUND',
  /** A datastore with that name is not visible to the caller. */
  DATASTORE_NOT_FOUND: 'DATASTORE_NOT_FOUND',
  /** A table (or view) with that name does not exist. */
  TABLE_NOT_FOUND: 'TABLE_NOT_FOUND',
  /** The caller lacks the privilege for this operation on an object it can see. */
  PRIVILEGE: 'PRIVILEGE',
  /** An object with that name exists and the call did not ask to overwrite it. */
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  /** The user-defined function raised a Python exception. */
  PYTHON_ERROR: 'PYTHON_ERROR',
  /** The UDF returned something that cannot become a result (ragged columns, unknown objects). */
  BAD_RESULT: 'BAD_RESULT',
  /**
   * A partition's result is larger than `maxResultBytes`, or the call's results would take the engine
   * past its budget of result bytes in flight (`maxResultBytesInFlight`).
   */
  RESULT_TOO_LARGE: 'RESULT_TOO_LARGE',
  /** A Python package the call needs is not installed in the interpreter. */
  PACKAGE_MISSING: 'PACKAGE_MISSING',
  /**
   * A package archive's bytes do not match the SHA-256 its index (lock file) records: it was not
   * installed, and nothing of the call ran.
   */
  PACKAGE_INTEGRITY: 'PACKAGE_INTEGRITY',
  /**
   * A package archive is larger than the engine's `maxArchiveBytes` (its download stopped as soon as
   * it went past it), or a call's own packages together are larger than `packageCacheBytes`.
   */
  PACKAGE_TOO_LARGE: 'PACKAGE_TOO_LARGE',
  /** The engine (or a component of it) was used after close(). */
  CLOSED: 'CLOSED',
  /** The call was aborted through its AbortSignal. */
  CANCELLED: 'CANCELLED',
  /** The call ran longer than its `timeoutMs`. */
  TIMEOUT: 'TIMEOUT',
  /** The storage layer failed (I/O, locking, corruption). */
  STORAGE_ERROR: 'STORAGE_ERROR',
  /** The Python runtime failed outside user code (worker crash, start-up failure). */
  RUNTIME_ERROR: 'RUNTIME_ERROR',
  /** No job with that id is visible to the caller (another user's job answers the same). */
  JOB_NOT_FOUND: 'JOB_NOT_FOUND',
  /** The job has no result yet: it is queued or running. */
  NOT_READY: 'NOT_READY',
  /** The job's run was cut short by its engine closing or dying (and it had no retries left). */
  INTERRUPTED: 'INTERRUPTED',
  /** No schedule with that name is visible to the caller (another user's schedule answers the same). */
  SCHEDULE_NOT_FOUND: 'SCHEDULE_NOT_FOUND',
  /** The user already has as many jobs waiting as the engine allows (`maxQueuedJobsPerUser`). */
  TOO_MANY_JOBS: 'TOO_MANY_JOBS',
  /** The feature does not exist on this engine's storage backend (the message names the backend that has it). */
  NOT_SUPPORTED: 'NOT_SUPPORTED',
} as const;

/** One of the stable {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Extra, code-specific facts carried by an {@link InsituError}. */
export interface InsituErrorDetails {
  /** Python exception class name, for PYTHON_ERROR (e.g. `ZeroDivisionError`). */
  pythonType?: string;
  /** Formatted Python traceback, with line numbers of the user's script. */
  traceback?: string;
  /** Line of the user's script where the error was raised or found (1-based). */
  line?: number;
  /** Name of the script or UDF involved. */
  script?: string;
  /** Name of the datastore involved. */
  datastore?: string;
  /** Key of the partition whose call failed (see `PartitionKey`). */
  partition?: unknown;
  /** Output the UDF printed before it failed. */
  stdout?: string;
  /**
   * For a failed or cancelled apply call: the keys of the partitions that finished and committed their
   * writes (through `insitu.connect()` and `insitu.ds`), in partition order, named as the result would
   * name them. The writes of every other partition were rolled back.
   */
  committedPartitions?: unknown[];
  /** Lower-level cause, when one exists. */
  cause?: unknown;
}

/** Plain-object form of an {@link InsituError}, safe for `postMessage` and JSON. */
export interface SerializedError extends Omit<InsituErrorDetails, 'cause'> {
  code: ErrorCode;
  message: string;
}

/** An error raised by insitu. Check `code`, never the message text. */
export class InsituError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Python exception class name, for PYTHON_ERROR. */
  declare readonly pythonType?: string;
  /** Python traceback with the user's script line numbers, for PYTHON_ERROR. */
  declare readonly traceback?: string;
  /** 1-based line in the user's script, when known. */
  declare readonly line?: number;
  /** Script or UDF name, when one is involved. */
  declare readonly script?: string;
  /** Datastore name, when one is involved. */
  declare readonly datastore?: string;
  /** Partition key of the failing call, for apply functions. */
  declare readonly partition?: unknown;
  /** Output printed by the UDF before it failed. */
  declare readonly stdout?: string;
  /** For a failed or cancelled apply call: the partitions whose writes were committed (see {@link InsituErrorDetails}). */
  declare readonly committedPartitions?: unknown[];

  /** Create an error with a stable `code` and a message that says what to fix. */
  constructor(code: ErrorCode, message: string, details: InsituErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'InsituError';
    this.code = code;
    if (details.pythonType !== undefined) this.pythonType = details.pythonType;
    if (details.traceback !== undefined) this.traceback = details.traceback;
    if (details.line !== undefined) this.line = details.line;
    if (details.script !== undefined) this.script = details.script;
    if (details.datastore !== undefined) this.datastore = details.datastore;
    if (details.partition !== undefined) this.partition = details.partition;
    if (details.stdout !== undefined) this.stdout = details.stdout;
    if (details.committedPartitions !== undefined) this.committedPartitions = details.committedPartitions;
  }

  /** A copy of this error that also names the partition it happened in. */
  withPartition(partition: unknown): InsituError {
    return new InsituError(this.code, this.message, { ...this.toJSON(), partition, cause: this.cause });
  }

  /** A copy of this error that lists the partitions whose writes were committed. */
  withCommitted(committedPartitions: unknown[]): InsituError {
    return new InsituError(this.code, this.message, { ...this.toJSON(), committedPartitions, cause: this.cause });
  }

  /** Plain-object form (drops `cause`). */
  toJSON(): SerializedError {
    const out: SerializedError = { code: this.code, message: this.message };
    if (this.pythonType !== undefined) out.pythonType = this.pythonType;
    if (this.traceback !== undefined) out.traceback = this.traceback;
    if (this.line !== undefined) out.line = this.line;
    if (this.script !== undefined) out.script = this.script;
    if (this.datastore !== undefined) out.datastore = this.datastore;
    if (this.partition !== undefined) out.partition = this.partition;
    if (this.stdout !== undefined) out.stdout = this.stdout;
    if (this.committedPartitions !== undefined) out.committedPartitions = this.committedPartitions;
    return out;
  }
}

/** Rebuild an {@link InsituError} from its plain-object form. */
export function deserializeError(e: SerializedError): InsituError {
  const { code, message, ...details } = e;
  return new InsituError(code, message, details);
}

/** Shorthand for a BAD_INPUT error. */
export function badInput(message: string, details?: InsituErrorDetails): InsituError {
  return new InsituError(ErrorCode.BAD_INPUT, message, details);
}

/** Wrap anything thrown by a lower layer as an InsituError, keeping InsituErrors as they are. */
export function toInsituError(e: unknown, code: ErrorCode, context: string): InsituError {
  if (e instanceof InsituError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new InsituError(code, `${context}: ${msg}`, { cause: e });
}
