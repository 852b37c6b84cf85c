import { Table } from 'apache-arrow';
import type { Partition } from './partition.js';
import { keyOf, sameKey, type CellKey } from './partition-key.js';
import type { InputType } from './runtime.js';
import type { QuerySpec, TableScan, TableStorage } from './storage.js';

/** Rows read per batch when a partition is not itself a batch (whole tables, groups). */
export const SCAN_BATCH_ROWS = 65536;

/** Smallest `rows` for which row chunks are read by the workers themselves. */
export const WORKER_READ_MIN_ROWS = 1024;

/** The whole query as one partition (tableApply), read by the worker when it can. */
export async function* wholePartition(
  storage: TableStorage,
  user: string,
  query: QuerySpec,
  inputType: InputType,
  workerReads: boolean,
  signal?: AbortSignal,
): AsyncGenerator<Partition> {
  const schema = await storage.describe(query, user);
  if (workerReads) {
    yield { key: null, input: { kind: 'query', query, inputType } };
    return;
  }
  const batches = [];
  for await (const t of storage.scan(query, withSignal({ batchRows: SCAN_BATCH_ROWS, user }, signal))) batches.push(...t.batches);
  const data = batches.length === 0 ? new Table(schema) : new Table(batches);
  yield { key: null, input: { kind: 'data', data, inputType }, data };
}

/**
 * Successive chunks of at most `rows` rows in query order (rowApply). Streams: one batch at a time.
 * A plain table scan with large chunks is split into chunk queries the workers run themselves, in
 * parallel, on their own connections (`split`); anything else is read here.
 */
export async function* rowChunks(
  storage: TableStorage,
  user: string,
  query: QuerySpec,
  rows: number,
  inputType: InputType,
  split: TableScan | null,
  signal?: AbortSignal,
): AsyncGenerator<Partition> {
  let chunk = 0;
  let start = 0;
  const chunks = split !== null && rows >= WORKER_READ_MIN_ROWS && storage.splitScan !== undefined ? await storage.splitScan(split, rows, user) : null;
  if (chunks !== null) {
    for await (const c of chunks) {
      signal?.throwIfAborted();
      chunk += 1;
      yield { key: { chunk, start, rows: c.rows }, input: { kind: 'query', query: c.query, inputType } };
      start += c.rows;
    }
    return;
  }
  for await (const data of storage.scan(query, withSignal({ batchRows: rows, user }, signal))) {
    chunk += 1;
    yield { key: { chunk, start, rows: data.numRows }, input: { kind: 'data', data, inputType }, data };
    start += data.numRows;
  }
}

/**
 * One partition per distinct combination of `by` values, in ascending key order (groupApply). The query
 * must already be ordered by `by`; batches are cut at key changes and re-joined when a group spans
 * several batches, so only one group is held in memory at a time.
 */
export async function* groupPartitions(
  storage: TableStorage,
  user: string,
  query: QuerySpec,
  by: readonly string[],
  inputType: InputType,
  signal?: AbortSignal,
): AsyncGenerator<Partition> {
  let pending: Table | null = null;
  let pendingKey: Record<string, CellKey> | null = null;
  const emit = (data: Table, key: Record<string, CellKey>): Partition => ({
    key,
    input: { kind: 'data', data, inputType },
    data,
  });
  for await (const batch of storage.scan(query, withSignal({ batchRows: SCAN_BATCH_ROWS, breakOn: by, user }, signal))) {
    const key = keyOf(batch, by);
    if (pending !== null && pendingKey !== null && sameKey(pendingKey, key)) {
      pending = pending.concat(batch);
      continue;
    }
    if (pending !== null && pendingKey !== null) yield emit(pending, pendingKey);
    pending = batch;
    pendingKey = key;
  }
  if (pending !== null && pendingKey !== null) yield emit(pending, pendingKey);
}

/** Indexes 1..times (indexApply). */
export async function* indexPartitions(times: number): AsyncGenerator<Partition> {
  for (let index = 1; index <= times; index++) yield { key: index, input: { kind: 'index', index } };
}

function withSignal<T extends object>(opts: T, signal: AbortSignal | undefined): T & { signal?: AbortSignal } {
  return signal === undefined ? opts : { ...opts, signal };
}
