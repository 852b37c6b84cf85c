import {
  deserializeError,
  parseTree,
  ErrorCode,
  InsituError,
  type GroupOutcome,
  type InputType,
  type Task,
  type TaskInput,
  type TaskOutcome,
  type TaskValue,
} from '@insitu/core';
import { tableFromIPC, tableToIPC, type Table } from 'apache-arrow';
import { availableParallelism } from 'node:os';
import type { GroupsWire, WireImage, WireInput, WireValue } from './protocol.js';
import type { Image } from '@insitu/core';

/** A partition's images as the host gets them: numbered from 1 in the order the UDF made them. */
export function imagesOf(images: readonly WireImage[] | undefined): Image[] {
  return (images ?? []).map((im, i) => ({ id: i + 1, title: im.title, png: im.png }));
}

/** Default worker count: one per core, at most 4. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(availableParallelism(), 4));
}

/** Validate a worker count (default: {@link defaultWorkers}). */
export function checkWorkers(workers: number | undefined): number {
  const n = workers ?? defaultWorkers();
  if (!Number.isSafeInteger(n) || n < 1 || n > 64) {
    throw new InsituError(ErrorCode.BAD_INPUT, `workers must be an integer from 1 to 64, got ${String(n)}`);
  }
  return n;
}

/** The wire form of a task's input: Arrow tables as IPC bytes (whose buffers go into `transfer`). */
export function wireInput(input: Task['input'], transfer: ArrayBufferLike[] = []): WireInput {
  switch (input.kind) {
    case 'data': {
      // Forwarded bytes are copied, not moved: a task may be sent again (after a worker crash), and
      // the table decoded from them shares their buffer.
      const ipc = input.ipc !== undefined ? input.ipc.slice() : tableToIPC(input.data, 'stream');
      transfer.push(ipc.buffer);
      return { kind: 'data', ipc, inputType: input.inputType };
    }
    case 'query':
      return {
        kind: 'query',
        sql: input.query.sql,
        params: input.query.params,
        ...(input.query.byColumn === undefined ? {} : { byColumn: input.query.byColumn }),
        inputType: input.inputType,
      };
    case 'groups':
      return { kind: 'groups', sql: input.query.sql, params: input.query.params, by: input.by, ordered: input.ordered, inputType: input.inputType };
    case 'groupData': {
      // Copied, not moved, as data input is (a task may be sent again after a worker crash).
      const ipc = input.ipc !== undefined ? input.ipc.slice() : tableToIPC(input.data, 'stream');
      transfer.push(ipc.buffer);
      return { kind: 'groupData', ipc, by: input.by, inputType: input.inputType };
    }
    default:
      return input;
  }
}

/** Read `signal.aborted` afresh (it changes while a call awaits). */
export function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** A function that decodes `ipc` on its first call and returns the same table afterwards. */
function decodeOnce(ipc: Uint8Array): () => Table {
  let table: Table | undefined;
  return () => (table ??= tableFromIPC(ipc));
}

/**
 * A table result from its Arrow IPC bytes, decoded only when `table` is first read: the sandbox process
 * forwards the bytes and never needs the table.
 */
export function tableValue(ipc: Uint8Array): Extract<TaskValue, { kind: 'table' }> {
  const decode = decodeOnce(ipc);
  return {
    kind: 'table',
    ipc,
    get table(): Table {
      return decode();
    },
  };
}

/** Data input from Arrow IPC bytes, decoded only when `data` is first read (see {@link tableValue}). */
export function dataInput(ipc: Uint8Array, inputType: InputType): Extract<TaskInput, { kind: 'data' }> {
  const decode = decodeOnce(ipc);
  return {
    kind: 'data',
    ipc,
    inputType,
    get data(): Table {
      return decode();
    },
  };
}

/** Group data input from Arrow IPC bytes, decoded only when `data` is first read (see {@link tableValue}). */
export function groupDataInput(ipc: Uint8Array, by: readonly string[], inputType: InputType): Extract<TaskInput, { kind: 'groupData' }> {
  const decode = decodeOnce(ipc);
  return {
    kind: 'groupData',
    ipc,
    by,
    inputType,
    get data(): Table {
      return decode();
    },
  };
}

/** A successful reply's value and output as a TaskOutcome. */
export function wireOutcome(res: { value: WireValue; stdout: string; stderr: string; images?: readonly WireImage[] | undefined }): TaskOutcome {
  let value: TaskValue;
  if (res.value.kind === 'table') value = tableValue(res.value.ipc);
  else if (res.value.kind === 'json') value = { kind: 'json', value: parseTree(res.value.json, res.value.blobs ?? []) };
  else value = { kind: 'bytes', value: res.value.value };
  return { value, stdout: res.stdout, stderr: res.stderr, images: imagesOf(res.images) };
}

/**
 * The groups of a reply as outcomes in key order. Stacked table results become zero-copy slices of
 * their stacked table. Throws the first failing group's error (naming its key), or the read error.
 */
export function groupOutcomes(wire: GroupsWire): GroupOutcome[] {
  const keys = wire.keys;
  const keyAt = (i: number): Record<string, unknown> => {
    const row: Record<string, unknown> = {};
    keys?.names.forEach((name, c) => (row[name] = keys.columns[c]![i] ?? null));
    return row;
  };
  // A failure names the groups that committed their writes before it.
  const committed = Array.from({ length: wire.committed ?? 0 }, (_, i) => keyAt(i));
  const parts = wire.stacked.map((b) => tableFromIPC(b));
  const out: GroupOutcome[] = [];
  for (const [i, g] of wire.groups.entries()) {
    if (!g.ok) throw deserializeError(g.error).withPartition(keyAt(i)).withCommitted(committed);
    const v = g.value;
    const outcome: TaskOutcome =
      v.kind === 'rows'
        ? {
            value: { kind: 'table', table: parts[v.part]!.slice(v.offset, v.offset + v.length), stacked: { table: parts[v.part]!, offset: v.offset } },
            stdout: g.stdout,
            stderr: g.stderr,
            images: imagesOf(g.images),
          }
        : wireOutcome({ value: v, stdout: g.stdout, stderr: g.stderr, images: g.images });
    out.push({ key: keyAt(i), outcome });
  }
  if (wire.error !== undefined) throw deserializeError(wire.error).withCommitted(committed);
  return out;
}
