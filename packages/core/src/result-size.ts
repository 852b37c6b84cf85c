import type { Data, Table } from 'apache-arrow';
import type { GroupOutcome, TaskOutcome, TaskValue } from './runtime.js';

/**
 * How many bytes a result holds in the engine, for the budget of results in flight: its value (Arrow
 * IPC bytes or buffers, bytes, an estimate for JSON values) plus its stdout and stderr.
 */

/** Bytes of the buffers of one Arrow column (and its children). */
function dataBytes(root: Data): number {
  let n = 0;
  const todo: Data[] = [root];
  for (let d = todo.pop(); d !== undefined; d = todo.pop()) {
    n += (d.values?.byteLength ?? 0) + (d.valueOffsets?.byteLength ?? 0) + (d.nullBitmap?.byteLength ?? 0) + (d.typeIds?.byteLength ?? 0);
    todo.push(...d.children);
    if (d.dictionary !== undefined) todo.push(...d.dictionary.data);
  }
  return n;
}

/** Bytes of a table's buffers (a slice counts the buffers it shares in full). */
export function tableBytes(table: Table): number {
  let n = 0;
  for (const batch of table.batches) n += dataBytes(batch.data);
  return n;
}

/**
 * Roughly the bytes a JSON value takes (its JSON text length, about): strings by length, numbers 8,
 * other scalars 4, plus a little per entry. Walks the value without recursion.
 */
export function jsonBytes(value: unknown): number {
  let n = 0;
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    if (typeof v === 'string') n += v.length + 2;
    else if (v instanceof Uint8Array) n += v.byteLength;
    else if (typeof v === 'number') n += 8;
    else if (Array.isArray(v)) {
      n += 2 + v.length;
      for (const x of v) todo.push(x);
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v);
      n += 2 + entries.length;
      for (const [k, x] of entries) {
        n += k.length + 3;
        todo.push(x);
      }
    } else n += 4;
  }
  return n;
}

function valueBytes(v: TaskValue): number {
  if (v.kind === 'bytes') return v.value.byteLength;
  if (v.kind === 'json') return jsonBytes(v.value);
  // Bytes as received, when the runtime kept them: reading `table` could decode them for nothing.
  if (v.ipc !== undefined) return v.ipc.byteLength;
  return tableBytes(v.table);
}

function outputBytes(o: TaskOutcome): number {
  return o.stdout.length + o.stderr.length + o.images.reduce((n, i) => n + i.png.byteLength + (i.title?.length ?? 0), 0);
}

/** Bytes one partition's outcome holds. */
export function outcomeBytes(o: TaskOutcome): number {
  return valueBytes(o.value) + outputBytes(o);
}

/** Bytes a list of group outcomes holds: groups stacked in one table count that table once. */
export function groupOutcomesBytes(groups: readonly GroupOutcome[]): number {
  const stacks = new Set<Table>();
  let n = 0;
  for (const { outcome } of groups) {
    const v = outcome.value;
    const stack = v.kind === 'table' && v.ipc === undefined ? v.stacked?.table : undefined;
    if (stack === undefined) n += valueBytes(v);
    else stacks.add(stack);
    n += outputBytes(outcome);
  }
  for (const t of stacks) n += tableBytes(t);
  return n;
}
