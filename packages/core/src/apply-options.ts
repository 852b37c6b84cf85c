import { badInput } from './errors.js';
import { INPUT_TYPES, type ContextMode, type InputType } from './runtime.js';
import { findNonJson, type JsonValue } from './values.js';
import type { Int64Mode } from './int64-values.js';
import type { IntoTarget } from './into-target.js';

/**
 * The function an apply call runs: a stored script name, a stored script of another owner
 * (`{ name, owner }`), or inline source (`{ source, name? }`).
 */
export type FuncRef = string | { readonly name: string; readonly owner?: string } | { readonly source: string; readonly name?: string };

/** Options every apply function takes. */
export interface ApplyOptions {
  /** Keyword arguments for the UDF (JSON-able). Default `{}`. */
  readonly args?: Readonly<Record<string, JsonValue>>;
  /**
   * Positional arguments for the UDF (JSON-able), passed after the input (the data, or the index of
   * indexApply) and before `args`: `f(data, *positional, **args)`. Default `[]`.
   */
  readonly positional?: readonly JsonValue[];
  /**
   * Abort the call (CANCELLED): partitions not started never start; a running UDF is interrupted
   * (KeyboardInterrupt) and, if it does not stop within the runtime's grace period, its worker is
   * terminated and replaced.
   */
  readonly signal?: AbortSignal;
  /** Stop the call after this many milliseconds (TIMEOUT), the same way. Default: the engine's `timeoutMs`. */
  readonly timeoutMs?: number;
  /**
   * What the UDF may do through `insitu.connect()`: `read` (default) runs read-only queries; `write`
   * also lets it change user tables. Engine tables are never reachable.
   */
  readonly context?: ContextMode;
  /**
   * Called as partitions finish, at most about every 100 ms and once at the end, with the partitions
   * done, their total when known in advance (doEval, tableApply, rowApply, indexApply), and the input
   * rows of the partitions done (when known). Errors it throws are ignored.
   */
  readonly onProgress?: (progress: ApplyProgress) => void;
  /**
   * How Int64 columns of result tables reach JavaScript: `'number'` gives numbers for columns whose
   * values all lie within ±2^53 (a Float64 column marked as integers), BigInt beyond; `'bigint'` keeps
   * BigInt. Default: the engine's `int64` (itself `'number'` by default).
   */
  readonly int64?: Int64Mode;
  /**
   * Write the result table into a table instead of returning its rows: `{ table, mode }` with mode
   * `'create'` (default; an existing table is ALREADY_EXISTS), `'append'` (a table you may write) or
   * `'replace'` (a table you own, or none). Partitions are written as they finish and committed once at
   * the end: a failed or cancelled call leaves the target as it was. `value` is then the table's proxy
   * and `into` reports the rows written. Every partition must return a table of one schema (BAD_RESULT).
   */
  readonly into?: IntoTarget;
  /**
   * Python packages to load for this call, besides its environment's: names from the engine's package
   * index, with their dependencies. Unknown names are PACKAGE_MISSING before any partition runs.
   */
  readonly packages?: readonly string[];
  /** Run in this named environment (`engine.environments`). Unknown: BAD_INPUT. Default: the default environment. */
  readonly env?: string;
  /**
   * Save every matplotlib figure left open when the UDF returns as a PNG image of the partition (in
   * order, titled by its suptitle), and close it. Needs matplotlib (`packages: ['matplotlib']`).
   * `insitu.image()` works without it.
   */
  readonly graphics?: boolean;
}

/** Figures of a running apply call, as `onProgress` and job status report them. */
export interface ApplyProgress {
  /** Partitions whose UDF call has finished. */
  readonly partitionsDone: number;
  /** Partitions in all, when known before they are all done. */
  readonly partitionsTotal?: number;
  /** Input rows of the partitions done (0 for calls without input rows, or when the rows are not known). */
  readonly rowsDone: number;
}

/** Options of apply functions that hand data to the UDF. */
export interface DataApplyOptions extends ApplyOptions {
  /** How the UDF receives its data. Default `'auto'` (pandas DataFrame when pandas is importable, else `insitu.Frame`). */
  readonly inputType?: InputType;
  /** Drop the input rows with a NULL in any column before the UDF sees them (OML `oml_na_omit`). Default false. */
  readonly naOmit?: boolean;
}

/** What a failing partition does to its call (see {@link PartitionFailureOptions.onError}). */
export type OnError = 'fail' | 'skip' | 'null';

/** Every {@link OnError} mode, for validation. */
export const ON_ERROR_MODES: readonly OnError[] = ['fail', 'skip', 'null'];

/** Options of apply functions with several partitions that may fail one by one. */
export interface PartitionFailureOptions {
  /**
   * `fail` (default): the first failing partition fails the call. `skip`: the call succeeds; each failed
   * partition is listed in `result.failed` with its key and error and is left out of `value` and
   * `partitions`. `null`: as `skip`, but `value` and `partitions` hold `null` for it. A failed
   * partition writes nothing either way; cancellation and timeouts still fail the call.
   */
  readonly onError?: OnError;
}

/** Options of apply functions that order the rows within each partition. */
export interface OrderWithinOptions {
  /** Rows inside each chunk or group arrive in this order: column names, `'-COL'` descending (NULL first ascending). */
  readonly orderBy?: readonly string[];
}

/** Options of apply functions with several partitions. */
export interface ParallelOptions {
  /**
   * Spread partitions over workers: `true` uses every worker, a number is the preferred degree (capped at
   * the worker count), `false`/`0`/absent runs one partition at a time. Results keep partition order either way.
   */
  readonly parallel?: boolean | number;
  /**
   * Put the partitions in the database's shared queue: every engine on the same database created with
   * `serve: { distributed: true }` runs them with its free workers, and this engine runs them too.
   * Results keep partition order; each partition's `engine` names the engine that ran it. With
   * `distribute`, `parallel` is not used: as many partitions run at once as the engines have free workers.
   */
  readonly distribute?: boolean;
}

/** Options of {@link Session.rowApply}. */
export interface RowApplyOptions extends DataApplyOptions, ParallelOptions, PartitionFailureOptions, OrderWithinOptions {
  /** Rows per chunk; the last chunk may be shorter. Default 1, as in the anchor systems. */
  readonly rows?: number;
}

/** Options of {@link Session.groupApply}. */
export interface GroupApplyOptions extends DataApplyOptions, ParallelOptions, PartitionFailureOptions, OrderWithinOptions {}

/** Options of {@link Session.indexApply}. */
export interface IndexApplyOptions extends ApplyOptions, ParallelOptions, PartitionFailureOptions {}

/** Validate keyword arguments. */
export function checkArgs(args: unknown, field = 'args'): Readonly<Record<string, JsonValue>> {
  if (args === undefined) return {};
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw badInput(`${field} must be an object of keyword arguments`);
  const bad = findNonJson(args, field);
  if (bad !== null) throw badInput(`${bad} is not JSON-able: args may hold only null, booleans, finite numbers, strings, arrays and plain objects`);
  for (const k of Object.keys(args)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw badInput(`${field} key ${JSON.stringify(k)} is not a valid Python keyword argument name`);
  }
  return args as Record<string, JsonValue>;
}

/** Validate positional arguments: an array of JSON-able values. */
export function checkPositional(positional: unknown, field = 'positional'): readonly JsonValue[] {
  if (positional === undefined) return [];
  if (!Array.isArray(positional)) throw badInput(`${field} must be an array of positional arguments`);
  const bad = findNonJson(positional, field);
  if (bad !== null) throw badInput(`${bad} is not JSON-able: positional arguments may hold only null, booleans, finite numbers, strings, arrays and plain objects`);
  return positional as JsonValue[];
}

/** Validate an input type. */
export function checkInputType(t: unknown, field = 'inputType'): InputType {
  if (t === undefined) return 'auto';
  if (typeof t !== 'string' || !INPUT_TYPES.includes(t as InputType)) {
    throw badInput(`${field} must be one of ${INPUT_TYPES.join(', ')}, got ${JSON.stringify(t)}`);
  }
  return t as InputType;
}

/** The degree of parallelism for `parallel` given `workers`. */
export function degreeOf(parallel: unknown, workers: number, field = 'parallel'): number {
  if (parallel === undefined || parallel === false || parallel === 0) return 1;
  if (parallel === true) return workers;
  if (typeof parallel === 'number' && Number.isSafeInteger(parallel) && parallel > 0) return Math.min(parallel, workers);
  throw badInput(`${field} must be a boolean or a positive integer, got ${JSON.stringify(parallel)}`);
}

/** Validate a positive integer option. */
export function checkPositiveInt(value: unknown, what: string, dflt: number): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw badInput(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Validate a context mode. */
export function checkContext(c: unknown, field = 'context'): ContextMode {
  if (c === undefined) return 'read';
  if (c !== 'read' && c !== 'write') throw badInput(`${field} must be 'read' or 'write', got ${JSON.stringify(c)}`);
  return c;
}

/** Validate a timeout (undefined or 0 = none). */
export function checkTimeout(t: unknown, field = 'timeoutMs'): number | undefined {
  if (t === undefined || t === 0) return undefined;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw badInput(`${field} must be a non-negative number of milliseconds, got ${JSON.stringify(t)}`);
  return t;
}
