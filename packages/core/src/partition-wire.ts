import { Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { badInput } from './errors.js';
import { decodeScalar, encodeScalar, type JsonScalar } from './json-params.js';
import type { ApplyCall } from './apply-call.js';
import type { PartitionKey } from './partition.js';
import { assemble } from './result-assembly.js';
import { decodeResult, encodeResult } from './result-codec.js';
import { INPUT_TYPES, type InputType, type OrderKey, type TaskInput, type TaskOutcome } from './runtime.js';
import type { QuerySpec } from './storage.js';

/**
 * How one partition of a distributed call travels through the shared task queue: as JSON text (the call
 * value, the partition key, its input without rows) plus, for rows the caller read itself, their Arrow
 * IPC bytes; and how a partition's outcome comes back (the one result codec, one partition).
 */

/** The JSON form of a partition's input: a query, an index, nothing, or rows carried beside it. */
type WireInput =
  | { readonly kind: 'none' }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'query'; readonly sql: string; readonly params: readonly JsonScalar[]; readonly byColumn?: readonly string[]; readonly inputType: InputType }
  | { readonly kind: 'data'; readonly inputType: InputType };

/** What a task row's `spec` holds. */
export interface PartitionSpec {
  /** The call value (validated again by the engine that runs it). */
  readonly call: ApplyCall;
  /** The partition's key, as the result codec writes keys. */
  readonly key: PartitionKey;
  readonly input: TaskInput;
  readonly orderWithin: readonly OrderKey[];
}

/** A partition as task text and, for rows read by the caller, their IPC bytes. */
export function encodePartition(call: ApplyCall, key: PartitionKey, input: TaskInput, orderWithin: readonly OrderKey[]): { spec: string; data?: Uint8Array } {
  let wire: WireInput;
  let data: Uint8Array | undefined;
  if (input.kind === 'none' || input.kind === 'index') wire = input;
  else if (input.kind === 'query') {
    const q = input.query;
    wire = { kind: 'query', sql: q.sql, params: q.params.map(encodeScalar), ...(q.byColumn === undefined ? {} : { byColumn: q.byColumn }), inputType: input.inputType };
  } else if (input.kind === 'data') {
    wire = { kind: 'data', inputType: input.inputType };
    data = input.ipc ?? tableToIPC(input.data, 'stream');
  } else {
    throw badInput('a partition read in groups by the workers cannot be distributed');
  }
  const spec = JSON.stringify({ call, key: encodeKeyJson(key), input: wire, orderWithin });
  return data === undefined ? { spec } : { spec, data };
}

/** Read a task row back (BAD_INPUT for anything malformed: a task row is not trusted). */
export function decodePartition(spec: string, data: Uint8Array | null): PartitionSpec {
  let raw: { call?: unknown; key?: unknown; input?: Record<string, unknown>; orderWithin?: unknown };
  try {
    raw = JSON.parse(spec) as typeof raw;
  } catch {
    throw badInput('a distributed task is not valid JSON');
  }
  const w = raw.input;
  if (w === null || typeof w !== 'object') throw badInput('a distributed task has no input');
  const inputType = (t: unknown): InputType => {
    if (!(INPUT_TYPES as readonly unknown[]).includes(t)) throw badInput('a distributed task names an unknown input type');
    return t as InputType;
  };
  let input: TaskInput;
  if (w.kind === 'none') input = { kind: 'none' };
  else if (w.kind === 'index' && Number.isSafeInteger(w.index)) input = { kind: 'index', index: w.index as number };
  else if (w.kind === 'query' && typeof w.sql === 'string' && Array.isArray(w.params)) {
    const byColumn = Array.isArray(w.byColumn) && w.byColumn.every((s) => typeof s === 'string') ? (w.byColumn as string[]) : undefined;
    const query: QuerySpec = { sql: w.sql, params: w.params.map((p) => decodeScalar(p, 'a task parameter')), ...(byColumn === undefined ? {} : { byColumn }) };
    input = { kind: 'query', query, inputType: inputType(w.inputType) };
  } else if (w.kind === 'data' && data !== null) {
    const table: Table = tableFromIPC(data);
    input = { kind: 'data', data: table, inputType: inputType(w.inputType), ipc: data };
  } else throw badInput('a distributed task has an input of an unknown kind');
  const order = Array.isArray(raw.orderWithin) ? raw.orderWithin : [];
  const orderWithin = order.map((o: unknown) => {
    const k = o as { column?: unknown; descending?: unknown };
    if (typeof k.column !== 'string' || typeof k.descending !== 'boolean') throw badInput('a distributed task has a malformed order');
    return { column: k.column, descending: k.descending };
  });
  return { call: raw.call as ApplyCall, key: decodeKeyJson(raw.key), input, orderWithin };
}

/** A partition key as JSON (group cells tagged as query parameters are). */
function encodeKeyJson(key: PartitionKey): unknown {
  if (key === null || typeof key === 'number') return key;
  if ('chunk' in key && typeof key.chunk === 'number') return key;
  return { group: Object.fromEntries(Object.entries(key).map(([c, v]) => [c, encodeScalar(v as never)])) };
}

function decodeKeyJson(k: unknown): PartitionKey {
  if (k === null || typeof k === 'number') return k;
  if (k !== null && typeof k === 'object') {
    const o = k as Record<string, unknown>;
    if (typeof o.chunk === 'number' && typeof o.start === 'number' && typeof o.rows === 'number') return { chunk: o.chunk, start: o.start, rows: o.rows };
    if (o.group !== null && typeof o.group === 'object') {
      return Object.fromEntries(Object.entries(o.group as Record<string, unknown>).map(([c, v]) => [c, decodeScalar(v, 'a task key')])) as PartitionKey;
    }
  }
  throw badInput('a distributed task has a malformed partition key');
}

/** A partition's outcome as bytes (the result codec's form of a one-partition result). */
export function encodeOutcome(key: PartitionKey, outcome: TaskOutcome): Uint8Array {
  return encodeResult(assemble({ kind: 'many' }, [key], [outcome]));
}

/** The outcome {@link encodeOutcome} wrote, marked with the engine that ran it. */
export function decodeOutcome(bytes: Uint8Array, engine: string): TaskOutcome {
  const p = decodeResult(bytes).partitions[0];
  if (p === undefined) throw badInput('a distributed task result holds no partition');
  const v = p.value;
  const value: TaskOutcome['value'] = v instanceof Table ? { kind: 'table', table: v } : v instanceof Uint8Array ? { kind: 'bytes', value: v } : { kind: 'json', value: v };
  return { value, stdout: p.stdout, stderr: p.stderr, images: p.images, engine };
}
