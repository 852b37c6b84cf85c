import { Field, RecordBatch, Schema, Struct, Table, makeData, vectorFromArray, type Vector } from 'apache-arrow';
import type { PartitionKey } from './partition.js';
import type { CellKey } from './partition-key.js';
import type { InsituError } from './errors.js';
import type { Image, TaskOutcome, TaskValue } from './runtime.js';
import type { ResultTree } from './result-tree.js';
import type { IntoSummary } from './into-target.js';
import type { TableProxy } from './table-proxy.js';

/**
 * A value a UDF returned, as the host sees it: an Arrow table, or a plain value — JSON, bytes, or JSON
 * holding bytes (see {@link ResultTree}).
 */
export type ResultValue = Table | ResultTree;

/** The result of one partition's call. */
export interface PartitionResult {
  /** Which partition (see {@link PartitionKey}). */
  readonly key: PartitionKey;
  /** What the UDF returned for it (for groupApply, without the key columns: see `key`). */
  readonly value: ResultValue;
  /** What it printed. */
  readonly stdout: string;
  /** What it wrote to stderr. */
  readonly stderr: string;
  /** Figures it produced. */
  readonly images: readonly Image[];
  /** The engine that ran it (its id), for a distributed call (`distribute: true`); absent otherwise. */
  readonly engine?: string;
}

/** A partition that failed in a call with `onError: 'skip' | 'null'`. */
export interface FailedPartition {
  /** Which partition (see {@link PartitionKey}). */
  readonly key: PartitionKey;
  /** Its error (PYTHON_ERROR with the traceback, BAD_RESULT, ...), naming the partition. */
  readonly error: InsituError;
}

/** A figure in a call's `images`: a partition's image and that partition's key. */
export interface CallImage extends Image {
  readonly partition: PartitionKey;
}

/** The figures of `partitions`, in partition order, each with its partition's key. */
export function callImages(partitions: readonly PartitionResult[]): CallImage[] {
  return partitions.flatMap((p) => p.images.map((im) => ({ ...im, partition: p.key })));
}

/** The result of an apply function. */
export interface ApplyResult {
  /**
   * One Arrow table in partition order when every partition returned a table of the same schema
   * (groupApply puts the group key columns first, unless the UDF returned them); otherwise the single
   * value (doEval, tableApply) or the per-partition values in partition order. With `into`, the proxy
   * of the table written (and each partition's value is `{ rows }`, the rows it wrote).
   */
  readonly value: ResultValue | ResultValue[] | TableProxy;
  /** With `into`: the table written, the mode and the rows written. */
  readonly into?: IntoSummary;
  /**
   * All partitions' stdout, concatenated in partition order (up to 256 Mi characters; past that a marker
   * line stands for the rest, which `partitions` still has).
   */
  readonly stdout: string;
  /** All partitions' stderr, concatenated in partition order (cut like `stdout`). */
  readonly stderr: string;
  /** All figures, in partition order, each with its partition's key. */
  readonly images: readonly CallImage[];
  /** Per-partition results, in partition order. */
  readonly partitions: readonly PartitionResult[];
  /**
   * Only for calls with `onError: 'skip' | 'null'`: the partitions that failed, in partition order
   * (empty when none did). With `skip` they are not in `value` nor `partitions`; with `null` each
   * holds `null` there.
   */
  readonly failed?: readonly FailedPartition[];
}

/** How failed partitions enter a result (calls with `onError: 'skip' | 'null'`). */
export interface FailurePolicy {
  readonly mode: 'skip' | 'null';
  /** The failed partitions, in partition order. */
  readonly failed: readonly FailedPartition[];
}

/** How the partitions were formed, which decides how values combine. */
export type AssemblyShape =
  | { readonly kind: 'single' }
  | { readonly kind: 'many' }
  | { readonly kind: 'groups'; readonly by: readonly string[]; readonly keySchema: Schema };

function plain(v: TaskValue): ResultValue {
  return v.kind === 'table' ? v.table : v.value;
}

function sameSchema(a: Schema, b: Schema): boolean {
  if (a.fields.length !== b.fields.length) return false;
  return a.fields.every((f, i) => f.name === b.fields[i]!.name && String(f.type) === String(b.fields[i]!.type));
}

/** Key columns for groups stacked in order: group i's key repeated for its `rows[i]` rows. */
function keyColumns(shape: Extract<AssemblyShape, { kind: 'groups' }>, keys: readonly PartitionKey[], rows: readonly number[], skip: Schema): Record<string, Vector> {
  const total = rows.reduce((a, b) => a + b, 0);
  const columns: Record<string, Vector> = {};
  for (const c of shape.by) {
    if (skip.fields.some((f) => f.name === c)) continue;
    const values: unknown[] = new Array(total);
    let at = 0;
    rows.forEach((n, i) => {
      values.fill((keys[i] as Record<string, CellKey>)[c], at, at + n);
      at += n;
    });
    columns[c] = vectorFromArray(values, shape.keySchema.fields.find((f) => f.name === c)!.type);
  }
  return columns;
}

/**
 * `table` with `keys` (one vector each, as long as the table) as its first columns. Built batch by
 * batch from aligned slices: Arrow's Table constructor would re-chunk mismatched columns, which is
 * quadratic in the number of batches.
 */
function withKeyColumns(table: Table, keys: Record<string, Vector>): Table {
  const names = Object.keys(keys);
  if (names.length === 0) return table;
  const schema = new Schema([...names.map((n) => new Field(n, keys[n]!.type, true)), ...table.schema.fields]);
  let at = 0;
  const batches = table.batches.map((b) => {
    const children = [...names.map((n) => keys[n]!.slice(at, at + b.numRows).data[0]!), ...b.data.children];
    at += b.numRows;
    return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: b.numRows, nullCount: 0, children }));
  });
  return new Table(schema, batches);
}

/**
 * When the partitions' tables are, in order, consecutive row ranges that together cover whole stacked
 * tables (see `TaskValue.stacked`), those tables' batches: one batch per stack instead of one per
 * partition. Null otherwise.
 */
function stackedBatches(outcomes: readonly TaskOutcome[]): RecordBatch[] | null {
  const batches: RecordBatch[] = [];
  let current: Table | null = null;
  let next = 0;
  for (const o of outcomes) {
    const s = o.value.kind === 'table' ? o.value.stacked : undefined;
    if (s === undefined) return null;
    if (s.table !== current) {
      if (current !== null && next !== current.numRows) return null;
      current = s.table;
      next = 0;
      batches.push(...current.batches);
    }
    if (s.offset !== next) return null;
    next += (o.value as { table: Table }).table.numRows;
  }
  if (current !== null && next !== current.numRows) return null;
  return batches;
}

/** The most characters of output the call-level `stdout` / `stderr` join (JavaScript strings stop near 512 Mi). */
export const MAX_JOINED_OUTPUT = 2 ** 28;

/**
 * The partitions' texts one after the other, up to {@link MAX_JOINED_OUTPUT} characters; past it a
 * marker line says how many partitions' texts were left out (each partition still has its own).
 */
function joinOutput(texts: readonly string[], stream: string): string {
  let total = 0;
  for (let i = 0; i < texts.length; i++) {
    if (total + texts[i]!.length > MAX_JOINED_OUTPUT) {
      return `${texts.slice(0, i).join('')}\n[insitu: ${stream} of ${texts.length - i} more partitions left out here; see result.partitions]\n`;
    }
    total += texts[i]!.length;
  }
  return texts.join('');
}

/** Combine per-partition outcomes into an {@link ApplyResult}. */
export function assemble(
  shape: AssemblyShape,
  allKeys: readonly PartitionKey[],
  allOutcomes: readonly (TaskOutcome | null)[],
  failures?: FailurePolicy,
): ApplyResult {
  if (failures !== undefined) return withFailures(shape, allKeys, allOutcomes, failures);
  const outcomes = allOutcomes as readonly TaskOutcome[];
  const keys = allKeys;
  const partitions: PartitionResult[] = outcomes.map((o, i) => ({
    key: keys[i] ?? null,
    value: plain(o.value),
    stdout: o.stdout,
    stderr: o.stderr,
    images: o.images,
    ...(o.engine === undefined ? {} : { engine: o.engine }),
  }));
  const stdout = joinOutput(partitions.map((p) => p.stdout), 'stdout');
  const stderr = joinOutput(partitions.map((p) => p.stderr), 'stderr');
  const images = callImages(partitions);
  let value: ResultValue | ResultValue[];
  const tables = partitions.map((p) => p.value).filter((v): v is Table => v instanceof Table);
  if (shape.kind === 'single') {
    value = partitions[0]?.value ?? null;
  } else if (tables.length > 0 && tables.length === partitions.length && tables.every((t) => sameSchema(t.schema, tables[0]!.schema))) {
    const batches = stackedBatches(outcomes) ?? tables.flatMap((t) => t.batches);
    const combined = batches.length === 0 ? tables[0]! : new Table(batches);
    if (shape.kind === 'groups') {
      value = withKeyColumns(combined, keyColumns(shape, keys, tables.map((t) => t.numRows), combined.schema));
    } else {
      value = combined;
    }
  } else {
    value = partitions.map((p) => p.value);
  }
  return { value, stdout, stderr, images, partitions };
}

/**
 * A result with failed partitions (null outcomes): `skip` assembles the others as if the failed ones
 * were not there; `null` puts a partition whose value is null in the place of each, so `value` is the
 * per-partition list (a table cannot hold a missing partition).
 */
function withFailures(shape: AssemblyShape, keys: readonly PartitionKey[], outcomes: readonly (TaskOutcome | null)[], failures: FailurePolicy): ApplyResult {
  const ok = outcomes.map((o, i) => ({ o, key: keys[i] ?? null })).filter((x): x is { o: TaskOutcome; key: PartitionKey } => x.o !== null);
  const base = assemble(shape, ok.map((x) => x.key), ok.map((x) => x.o));
  if (failures.mode === 'skip' || failures.failed.length === 0) {
    return { ...base, value: shape.kind === 'single' || ok.length > 0 ? base.value : [], failed: failures.failed };
  }
  const byKey = new Map(failures.failed.map((f) => [f.key, f.error] as const));
  const partitions: PartitionResult[] = outcomes.map((o, i) => {
    const key = keys[i] ?? null;
    if (o !== null) return { key, value: plain(o.value), stdout: o.stdout, stderr: o.stderr, images: o.images, ...(o.engine === undefined ? {} : { engine: o.engine }) };
    return { key, value: null, stdout: byKey.get(key)?.stdout ?? '', stderr: '', images: [] };
  });
  return {
    value: partitions.map((p) => p.value),
    stdout: joinOutput(partitions.map((p) => p.stdout), 'stdout'),
    stderr: joinOutput(partitions.map((p) => p.stderr), 'stderr'),
    images: callImages(partitions),
    partitions,
    failed: failures.failed,
  };
}
