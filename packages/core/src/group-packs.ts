import { Table } from 'apache-arrow';
import type { Partition } from './partition.js';
import { tableBytes } from './result-size.js';

/**
 * Rows of groups packed into one task; a pack ends at the group that reaches it. The same bound as the
 * worker's batches of groups per Python call, so a pack is one Python call (and commits as one).
 */
export const GROUP_PACK_ROWS = 65536;

/** Bytes of group rows packed into one task (a pack ends at the group that reaches it). */
export const GROUP_PACK_BYTES = 16 * 2 ** 20;

/** Consecutive whole groups the engine read, sent to one worker as one task. */
export interface GroupPack {
  /** The groups' rows one after the other (each group one or more record batches). */
  readonly data: Table;
  /** How many groups it holds. */
  readonly groups: number;
}

/**
 * Pack consecutive groups (engine-read partitions of a groupApply, in key order) into tasks of up to
 * {@link GROUP_PACK_ROWS} rows or {@link GROUP_PACK_BYTES} bytes, so that thousands of small groups do
 * not each pay a task's round trip to a worker. A group is never split; a pack holds groups of one
 * schema only (a scan may type a column differently from one batch to the next).
 */
export async function* groupPacks(groups: AsyncIterable<Partition>): AsyncGenerator<GroupPack> {
  let tables: Table[] = [];
  let rows = 0;
  let bytes = 0;
  let schema = '';
  const pack = (): GroupPack => {
    const out = { data: new Table(tables.flatMap((t) => t.batches)), groups: tables.length };
    tables = [];
    rows = 0;
    bytes = 0;
    return out;
  };
  for await (const g of groups) {
    const data = g.data;
    // Group partitions always carry their rows; an empty group never comes from a scan.
    if (data === undefined || data.numRows === 0) continue;
    const s = schemaText(data);
    if (tables.length > 0 && s !== schema) yield pack();
    schema = s;
    tables.push(data);
    rows += data.numRows;
    bytes += tableBytes(data);
    if (rows >= GROUP_PACK_ROWS || bytes >= GROUP_PACK_BYTES) yield pack();
  }
  if (tables.length > 0) yield pack();
}

/** A table's column names and types, to tell whether two tables can share a pack. */
function schemaText(t: Table): string {
  return t.schema.fields.map((f) => `${f.name}:${String(f.type)}`).join(',');
}
