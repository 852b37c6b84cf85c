import type { Table } from 'apache-arrow';
import type { CellKey } from './partition-key.js';
import type { TaskInput } from './runtime.js';

/** Identifies a row chunk of a rowApply: 1-based chunk number, 0-based first row, row count. */
export interface ChunkKey {
  readonly chunk: number;
  readonly start: number;
  readonly rows: number;
}

/**
 * Identifies a partition in results and errors: null for doEval/tableApply, a {@link ChunkKey} for
 * rowApply, the group's key values by column for groupApply, the 1-based index for indexApply.
 */
export type PartitionKey = null | number | ChunkKey | Readonly<Record<string, CellKey>>;

/** One unit of work: a key and what the UDF is called with. */
export interface Partition {
  readonly key: PartitionKey;
  readonly input: TaskInput;
  /** The rows, for data partitions (kept for result assembly). */
  readonly data?: Table;
}
