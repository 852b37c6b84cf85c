import {
  checkArgs,
  checkContext,
  checkInputType,
  checkPositional,
  checkPositiveInt,
  checkTimeout,
  degreeOf,
  ON_ERROR_MODES,
  type OnError,
  type ApplyProgress,
  type FuncRef,
} from './apply-options.js';
import { checkOrderTerm, decodePlan, encodePlan, type DataPlan } from './data-plan.js';
import { badInput } from './errors.js';
import { checkColumnName, checkIdentifier } from './identifiers.js';
import { checkInt64Mode, type Int64Mode } from './int64-values.js';
import { checkInto, type IntoTarget } from './into-target.js';
import type { ContextMode, InputType } from './runtime.js';
import { TableProxy } from './table-proxy.js';
import type { JsonValue } from './values.js';
import type { PartitionSink } from './partition-emitter.js';
import { checkEnvironmentName, checkPackageNames } from './packages.js';

/**
 * An apply call as a value: what the five session methods build, what jobs store, what the scheduler
 * runs and what HTTP carries. Plain JSON: `JSON.parse(JSON.stringify(call))` is the same call.
 */

/** The five apply functions. */
export const APPLY_KINDS = ['doEval', 'tableApply', 'rowApply', 'groupApply', 'indexApply'] as const;

/** One of {@link APPLY_KINDS}. */
export type ApplyKind = (typeof APPLY_KINDS)[number];

/** The options of an apply call that are data (everything but `signal` and `onProgress`). */
export interface CallOptions {
  /** Keyword arguments for the UDF. */
  readonly args?: Readonly<Record<string, JsonValue>>;
  /** Positional arguments for the UDF, after its input and before `args`. */
  readonly positional?: readonly JsonValue[];
  /** Stop the call after this many milliseconds (TIMEOUT). */
  readonly timeoutMs?: number;
  /** What `insitu.connect()` may do: `read` or `write`. */
  readonly context?: ContextMode;
  /** How the UDF receives its data (tableApply, rowApply, groupApply). */
  readonly inputType?: InputType;
  /** Rows per chunk (rowApply). */
  readonly rows?: number;
  /** Spread partitions over workers (rowApply, groupApply, indexApply). */
  readonly parallel?: boolean | number;
  /** Drop input rows with a NULL in any column before the UDF sees them (tableApply, rowApply, groupApply). */
  readonly naOmit?: boolean;
  /** Order of the rows within each chunk or group: column names, `-NAME` descending (rowApply, groupApply). */
  readonly orderBy?: readonly string[];
  /** What a failing partition does to the call: `fail` (default), `skip` or `null` (rowApply, groupApply, indexApply). */
  readonly onError?: OnError;
  /** How Int64 columns of result tables reach JavaScript: `number` (within ±2^53) or `bigint`. Default: the engine's. */
  readonly int64?: Int64Mode;
  /** Write the result table into this table, committed once when the call succeeds. */
  readonly into?: IntoTarget;
  /** Python packages the call loads, besides its environment's (names from the engine's package index). */
  readonly packages?: readonly string[];
  /** The named environment the call runs in (`engine.environments`); absent or `'default'`: the default one. */
  readonly env?: string;
  /** Save every matplotlib figure left open when the UDF returns as an image. */
  readonly graphics?: boolean;
  /**
   * Put the partitions in the database's shared queue, where every engine serving distributed work on
   * the same database (`serve: { distributed: true }`) may run them (rowApply, groupApply, indexApply).
   * On a storage without such a queue the call runs on this engine alone.
   */
  readonly distribute?: boolean;
}

/** The names of {@link CallOptions}, in one place: a new option is added here and in its check. */
export const CALL_OPTION_NAMES = ['args', 'positional', 'timeoutMs', 'context', 'inputType', 'rows', 'parallel', 'naOmit', 'orderBy', 'onError', 'int64', 'into', 'packages', 'env', 'graphics', 'distribute'] as const;

/** Which apply kinds take each option that not every kind takes. */
const OPTION_KINDS: Readonly<Partial<Record<(typeof CALL_OPTION_NAMES)[number], readonly ApplyKind[]>>> = {
  inputType: ['tableApply', 'rowApply', 'groupApply'],
  naOmit: ['tableApply', 'rowApply', 'groupApply'],
  rows: ['rowApply'],
  parallel: ['rowApply', 'groupApply', 'indexApply'],
  orderBy: ['rowApply', 'groupApply'],
  onError: ['rowApply', 'groupApply', 'indexApply'],
  distribute: ['rowApply', 'groupApply', 'indexApply'],
};

/** Options that were added after the first call values were stored: refused by kinds that do not take them. */
const STRICT_KINDS = new Set(['naOmit', 'orderBy', 'onError', 'distribute']);

/**
 * One apply call. `data` is required by tableApply, rowApply and groupApply (and refused by the
 * others), `by` by groupApply, `times` by indexApply.
 */
export interface ApplyCall {
  readonly kind: ApplyKind;
  /** The input rows: a table proxy's plan (`proxy.toPlan()`). */
  readonly data?: DataPlan;
  /** Grouping columns (groupApply). */
  readonly by?: readonly string[];
  /** How many times to call the function (indexApply). */
  readonly times?: number;
  /** The function: a stored script name, `{ name, owner }`, or `{ source, name? }`. */
  readonly func: FuncRef;
  readonly options?: CallOptions;
}

/** What steers a running call but is not part of the call value. */
export interface CallControls {
  /** Abort the call (CANCELLED, or the reason's error when it is an InsituError). */
  readonly signal?: AbortSignal;
  /** Progress figures, at most about every 100 ms and once at the end. */
  readonly onProgress?: (progress: ApplyProgress) => void;
  /**
   * Each partition's result once it and every partition before it finished, in partition order (doEval
   * and tableApply: their one partition; groupApply over key ranges: never). The call waits for a
   * returned promise before it hands over the next partition, and a rejected one fails the call. The
   * call's own result then holds its partitions without their values (they were handed over here).
   */
  readonly onPartition?: PartitionSink;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** How fields are named in messages: bare for a session method's arguments, `call.options.rows` for a value. */
function namer(prefix: string): { field: (name: string) => string; option: (name: string) => string } {
  return prefix === ''
    ? { field: (n) => n, option: (n) => n }
    : { field: (n) => `${prefix}.${n}`, option: (n) => `${prefix}.options.${n}` };
}

/** Validate a function reference (shape only; whether the script exists is decided when it runs). */
export function checkFuncRef(func: unknown, field = 'func'): FuncRef {
  if (typeof func === 'string') return func;
  if (isObject(func)) {
    const keys = Object.keys(func);
    if (typeof func.source === 'string' && keys.every((k) => k === 'source' || k === 'name')) {
      if (func.name !== undefined) checkIdentifier(func.name, `${field}.name function`);
      return func.name === undefined ? { source: func.source } : { source: func.source, name: func.name as string };
    }
    if (typeof func.name === 'string' && keys.every((k) => k === 'name' || k === 'owner')) {
      if (func.owner !== undefined && typeof func.owner !== 'string') throw badInput(`${field}.owner must be a user name string`);
      return func.owner === undefined ? { name: func.name } : { name: func.name, owner: func.owner as string };
    }
  }
  throw badInput(`${field} must be a stored script name, { name, owner }, or { source, name? } with inline Python source`);
}

/** Validate call options: only known names, each of its type. */
function checkOptions(v: unknown, prefix: string, kind: ApplyKind): CallOptions {
  const { field, option } = namer(prefix);
  if (v === undefined) return {};
  if (!isObject(v)) throw badInput(`${field('options')} must be an object`);
  for (const k of Object.keys(v)) {
    if (k === 'signal' || k === 'onProgress') {
      throw badInput(`${option(k)} cannot be part of a call value: pass it with the call's controls (a job is cancelled with jobs.cancel() and reports progress in jobs.status())`);
    }
    if (!(CALL_OPTION_NAMES as readonly string[]).includes(k)) {
      throw badInput(`${option(k)} is not an apply option (options are ${CALL_OPTION_NAMES.join(', ')})`);
    }
    const kinds = OPTION_KINDS[k as (typeof CALL_OPTION_NAMES)[number]];
    if (STRICT_KINDS.has(k) && v[k] !== undefined && kinds !== undefined && !kinds.includes(kind)) {
      throw badInput(`${option(k)} is not taken by ${kind} (only by ${kinds.join(', ')})`);
    }
  }
  const out: Record<string, unknown> = {};
  if (v.args !== undefined) out.args = checkArgs(v.args, option('args'));
  if (v.positional !== undefined) out.positional = checkPositional(v.positional, option('positional'));
  if (v.timeoutMs !== undefined) {
    checkTimeout(v.timeoutMs, option('timeoutMs'));
    out.timeoutMs = v.timeoutMs;
  }
  if (v.context !== undefined) out.context = checkContext(v.context, option('context'));
  if (v.inputType !== undefined) out.inputType = checkInputType(v.inputType, option('inputType'));
  if (v.rows !== undefined) out.rows = checkPositiveInt(v.rows, option('rows'), 1);
  if (v.parallel !== undefined) {
    degreeOf(v.parallel, 1, option('parallel'));
    out.parallel = v.parallel;
  }
  if (v.naOmit !== undefined) {
    if (typeof v.naOmit !== 'boolean') throw badInput(`${option('naOmit')} must be true or false, got ${JSON.stringify(v.naOmit)}`);
    if (v.naOmit) out.naOmit = true;
  }
  if (v.orderBy !== undefined) {
    const terms = typeof v.orderBy === 'string' ? [v.orderBy] : v.orderBy;
    if (!Array.isArray(terms) || terms.length === 0) throw badInput(`${option('orderBy')} must be a non-empty array of column names ('COL' ascending, '-COL' descending)`);
    out.orderBy = terms.map((t) => checkOrderTerm(t, option('orderBy')));
  }
  if (v.onError !== undefined) {
    if (!(ON_ERROR_MODES as readonly unknown[]).includes(v.onError)) {
      throw badInput(`${option('onError')} must be one of ${ON_ERROR_MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(v.onError)}`);
    }
    if (v.onError !== 'fail') out.onError = v.onError;
  }
  if (v.int64 !== undefined) out.int64 = checkInt64Mode(v.int64, option('int64'));
  if (v.into !== undefined) out.into = checkInto(v.into, option('into'));
  if (v.packages !== undefined) out.packages = checkPackageNames(v.packages, option('packages'));
  if (v.env !== undefined) out.env = checkEnvironmentName(v.env, option('env'));
  if (v.graphics !== undefined) {
    if (typeof v.graphics !== 'boolean') throw badInput(`${option('graphics')} must be a boolean`);
    out.graphics = v.graphics;
  }
  if (v.distribute !== undefined) {
    if (typeof v.distribute !== 'boolean') throw badInput(`${option('distribute')} must be true or false, got ${JSON.stringify(v.distribute)}`);
    if (v.distribute) out.distribute = true;
  }
  return out as CallOptions;
}

/**
 * Validate an apply call value and return it normalised (a copy: options without undefined entries, `by`
 * as an array, the data plan re-encoded). Anything malformed is BAD_INPUT naming the field, as
 * `call.options.rows must be a positive integer` (with `prefix` `'call'`, the default).
 */
export function checkApplyCall(value: unknown, prefix = 'call'): ApplyCall {
  const { field } = namer(prefix);
  const whole = prefix === '' ? 'the call' : prefix;
  if (!isObject(value)) throw badInput(`${whole} must be an object { kind, data?, by?, times?, func, options? }`);
  for (const k of Object.keys(value)) {
    if (!['kind', 'data', 'by', 'times', 'func', 'options'].includes(k)) throw badInput(`${field(k)} is not a field of an apply call`);
  }
  const kind = value.kind;
  if (typeof kind !== 'string' || !(APPLY_KINDS as readonly string[]).includes(kind)) {
    throw badInput(`${field('kind')} must be one of ${APPLY_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
  const k = kind as ApplyKind;
  const needsData = k === 'tableApply' || k === 'rowApply' || k === 'groupApply';
  let data: DataPlan | undefined;
  if (needsData) {
    if (value.data === undefined) throw badInput(`${field('data')} is required by ${k}: a table proxy from session.table(), session.query() or session.create()`);
    data = encodePlan(decodePlan(value.data instanceof TableProxy ? value.data.toPlan() : value.data, field('data')));
  } else if (value.data !== undefined) {
    throw badInput(`${field('data')} is not taken by ${k}`);
  }
  let by: string[] | undefined;
  if (k === 'groupApply') {
    const keys = typeof value.by === 'string' ? [value.by] : value.by;
    if (!Array.isArray(keys) || keys.length === 0) throw badInput(`${field('by')}: groupApply needs at least one grouping column`);
    by = keys.map((c) => checkColumnName(c, `${field('by')} grouping column`));
  } else if (value.by !== undefined) {
    throw badInput(`${field('by')} is only taken by groupApply`);
  }
  let times: number | undefined;
  if (k === 'indexApply') {
    if (value.times === undefined) throw badInput(`${field('times')} is required by indexApply`);
    times = checkPositiveInt(value.times, field('times'), 1);
  } else if (value.times !== undefined) {
    throw badInput(`${field('times')} is only taken by indexApply`);
  }
  const func = checkFuncRef(value.func, field('func'));
  const options = checkOptions(value.options, prefix, k);
  return {
    kind: k,
    ...(data === undefined ? {} : { data }),
    ...(by === undefined ? {} : { by }),
    ...(times === undefined ? {} : { times }),
    func,
    ...(Object.keys(options).length === 0 ? {} : { options }),
  };
}

/**
 * Split a session method's options bag into the call's data options (known names with a value; other
 * names are ignored, as the methods always did) and its controls.
 */
export function splitOptions(opts: unknown): { options: Record<string, unknown>; controls: CallControls } {
  if (opts === undefined || opts === null) return { options: {}, controls: {} };
  if (typeof opts !== 'object') throw badInput('options must be an object');
  const o = opts as Record<string, unknown>;
  const options: Record<string, unknown> = {};
  for (const k of CALL_OPTION_NAMES) if (o[k] !== undefined) options[k] = o[k];
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw badInput('signal must be an AbortSignal');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw badInput('onProgress must be a function');
  if (o.onPartition !== undefined && typeof o.onPartition !== 'function') throw badInput('onPartition must be a function');
  const controls: CallControls = {
    ...(o.signal === undefined ? {} : { signal: o.signal as AbortSignal }),
    ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress as CallControls['onProgress'] & object }),
    ...(o.onPartition === undefined ? {} : { onPartition: o.onPartition as PartitionSink }),
  };
  return { options, controls };
}

/**
 * The call a session method makes: its arguments as a validated {@link ApplyCall} (messages name the
 * arguments as the method does: `rows must be a positive integer`) and its controls.
 */
export function callOf(
  kind: ApplyKind,
  parts: { readonly data?: unknown; readonly by?: unknown; readonly times?: unknown; readonly func: unknown },
  opts: unknown,
): { call: ApplyCall; controls: CallControls } {
  if (parts.data !== undefined && !(parts.data instanceof TableProxy)) {
    throw badInput('data must be a table proxy from session.table(), session.query() or session.create()');
  }
  const { options, controls } = splitOptions(opts);
  const call = checkApplyCall(
    {
      kind,
      ...(parts.data === undefined ? {} : { data: (parts.data as TableProxy).toPlan() }),
      ...(kind === 'groupApply' ? { by: parts.by } : {}),
      ...(kind === 'indexApply' ? { times: parts.times } : {}),
      func: parts.func,
      options,
    },
    '',
  );
  return { call, controls };
}
