import { Table, vectorFromArray, type Schema, type Vector } from 'apache-arrow';
import type { PartitionKey } from './partition.js';
import type { CellKey } from './partition-key.js';
import type { Image, TaskOutcome, TaskValue } from './runtime.js';
import type { JsonValue } from './values.js';

/** A value a UDF returned, as the host sees it: an Arrow table, a JSON value, or bytes. */
export type ResultValue = Table | JsonValue | Uint8Array;

/** The result of one partition's call. */
export interface PartitionResult {
  /** Which partition (see {@link PartitionKey}). */
  readonly key: PartitionKey;
  /** What the UDF returned for it. */
  readonly value: ResultValue;
  /** What it printed. */
  readonly stdout: string;
  /** What it wrote to stderr. */
  readonly stderr: string;
  /** Figures it produced. */
  readonly images: readonly Image[];
}

/** The result of an apply function. */
export interface ApplyResult {
  /**
   * One Arrow table in partition order when every partition returned a table of the same schema
   * (groupApply adds the group columns); otherwise the single value (doEval, tableApply) or the
   * per-partition values in partition order.
   */
  readonly value: ResultValue | ResultValue[];
  /** All partitions' stdout, concatenated in partition order. */
  readonly stdout: string;
  /** All partitions' stderr, concatenated in partition order. */
  readonly stderr: string;
  /** All figures, in partition order. */
  readonly images: readonly Image[];
  /** Per-partition results, in partition order. */
  readonly partitions: readonly PartitionResult[];
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

/** Prepend the group's key columns (unless the UDF already returned them). */
function withGroupColumns(table: Table, key: Readonly<Record<string, CellKey>>, by: readonly string[], keySchema: Schema): Table {
  const missing = by.filter((c) => table.schema.fields.every((f) => f.name !== c));
  if (missing.length === 0) return table;
  const columns: Record<string, Vector> = {};
  for (const c of missing) {
    const field = keySchema.fields.find((f) => f.name === c)!;
    columns[c] = vectorFromArray(new Array(table.numRows).fill(key[c]), field.type);
  }
  for (const f of table.schema.fields) columns[f.name] = table.getChild(f.name)!;
  return new Table(columns);
}

/** Combine per-partition outcomes into an {@link ApplyResult}. */
export function assemble(
  shape: AssemblyShape,
  keys: readonly PartitionKey[],
  outcomes: readonly TaskOutcome[],
): ApplyResult {
  const partitions: PartitionResult[] = outcomes.map((o, i) => {
    let value = plain(o.value);
    if (shape.kind === 'groups' && value instanceof Table) {
      value = withGroupColumns(value, keys[i] as Record<string, CellKey>, shape.by, shape.keySchema);
    }
    return { key: keys[i] ?? null, value, stdout: o.stdout, stderr: o.stderr, images: o.images };
  });
  const stdout = partitions.map((p) => p.stdout).join('');
  const stderr = partitions.map((p) => p.stderr).join('');
  const images = partitions.flatMap((p) => p.images);
  let value: ResultValue | ResultValue[];
  const tables = partitions.map((p) => p.value).filter((v): v is Table => v instanceof Table);
  if (shape.kind === 'single') {
    value = partitions[0]?.value ?? null;
  } else if (tables.length > 0 && tables.length === partitions.length && tables.every((t) => sameSchema(t.schema, tables[0]!.schema))) {
    const batches = tables.flatMap((t) => t.batches);
    value = batches.length === 0 ? tables[0]! : new Table(batches);
  } else {
    value = partitions.map((p) => p.value);
  }
  return { value, stdout, stderr, images, partitions };
}
