import { ErrorCode, InsituError } from '@insitu/core';

/**
 * Errors as the REST API answers them: an HTTP status and a JSON body `{ errorMessage, code }`
 * (OML4Py's clients look for `errorMessage`), plus the Python details of a failed script.
 */

/** Codes the server adds to insitu's own {@link ErrorCode}s. */
export const RestCode = {
  /** Missing, malformed, expired, tampered or revoked token, or wrong username/password. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** No such route (unknown scripts and owners answer SCRIPT_NOT_FOUND). */
  NOT_FOUND: 'NOT_FOUND',
  /** The request body is larger than the server's `bodyLimit`. */
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  /** The request body is not JSON. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** The result cannot be sent in the format the `Accept` header asks for. */
  NOT_ACCEPTABLE: 'NOT_ACCEPTABLE',
  /** The result has more rows or items than the server's `outputLimit`. */
  OUTPUT_LIMIT: 'OUTPUT_LIMIT',
  /** A request field is out of what this server allows (e.g. a sync `timeout` over `syncTimeoutS`). */
  BAD_INPUT: 'BAD_INPUT',
  /** A feature of the API this server does not offer yet. */
  NOT_IMPLEMENTED: 'NOT_IMPLEMENTED',
} as const;

/** One of {@link RestCode}. */
export type RestCode = (typeof RestCode)[keyof typeof RestCode];

/** The JSON body of every error answer. */
export interface RestErrorBody {
  /** What went wrong and what to do about it (with the Python traceback for script errors). */
  readonly errorMessage: string;
  /** A stable code: one of insitu's error codes or {@link RestCode}. */
  readonly code: string;
  /** Python exception class, for PYTHON_ERROR. */
  readonly pythonType?: string;
  /** Python traceback, for PYTHON_ERROR. */
  readonly traceback?: string;
  /** The partition whose call failed. */
  readonly partition?: unknown;
  /** What the UDF printed before it failed. */
  readonly stdout?: string;
}

/** An error answer: status and body. */
export class RestError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Stable code. */
  readonly code: string;

  /** An answer of `status` with `code` and `message`. */
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'RestError';
    this.status = status;
    this.code = code;
  }
}

/** 401 for a request that is not signed in; every reason answers with this same body shape. */
export function unauthorized(message: string): RestError {
  return new RestError(401, RestCode.UNAUTHORIZED, message);
}

const STATUS: Record<ErrorCode, number> = {
  BAD_INPUT: 400,
  PYTHON_ERROR: 400,
  BAD_RESULT: 400,
  RESULT_TOO_LARGE: 400,
  PACKAGE_MISSING: 400,
  PACKAGE_INTEGRITY: 500,
  PACKAGE_TOO_LARGE: 400,
  TABLE_NOT_FOUND: 400,
  DATASTORE_NOT_FOUND: 400,
  ALREADY_EXISTS: 400,
  SCRIPT_NOT_FOUND: 404,
  PRIVILEGE: 403,
  TIMEOUT: 504,
  CANCELLED: 499,
  CLOSED: 503,
  STORAGE_ERROR: 500,
  RUNTIME_ERROR: 500,
  // Job codes (merged from the jobs branch); the job endpoints may refine these.
  JOB_NOT_FOUND: 404,
  NOT_READY: 409,
  INTERRUPTED: 500,
  SCHEDULE_NOT_FOUND: 404,
  TOO_MANY_JOBS: 429,
  NOT_SUPPORTED: 501,
};

/** Status and body for anything a handler threw. Unknown errors are 500 without internals. */
export function errorAnswer(e: unknown): { status: number; body: RestErrorBody } {
  if (e instanceof RestError) return { status: e.status, body: { errorMessage: e.message, code: e.code } };
  if (e instanceof InsituError) {
    const body: { -readonly [K in keyof RestErrorBody]: RestErrorBody[K] } = { errorMessage: e.message, code: e.code };
    if (e.traceback !== undefined) {
      body.errorMessage = `${e.message}\n${e.traceback}`;
      body.traceback = e.traceback;
    }
    if (e.pythonType !== undefined) body.pythonType = e.pythonType;
    if (e.partition !== undefined) body.partition = e.partition;
    if (e.stdout !== undefined && e.stdout !== '') body.stdout = e.stdout;
    return { status: STATUS[e.code] ?? 500, body };
  }
  return { status: 500, body: { errorMessage: 'internal server error', code: ErrorCode.RUNTIME_ERROR } };
}
