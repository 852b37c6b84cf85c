import { ErrorCode, InsituError, type Task, type TaskInput, type TaskValue, type InputType } from '@insitu/core';
import { tableFromIPC, tableToIPC, type Table } from 'apache-arrow';
import { availableParallelism } from 'node:os';
import type { WireInput } from './protocol.js';

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
    default:
      return input;
  }
}

/** Read `signal.aborted` afresh (it changes while a call awaits). */
export function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/**
 * A table result from its Arrow IPC bytes, decoded only when `table` is first read: the sandbox process
 * forwards the bytes and never needs the table.
 */
export function tableValue(ipc: Uint8Array): Extract<TaskValue, { kind: 'table' }> {
  let table: Table | undefined;
  return {
    kind: 'table',
    ipc,
    get table(): Table {
      return (table ??= tableFromIPC(ipc));
    },
  };
}

/** Data input from Arrow IPC bytes, decoded only when `data` is first read (see {@link tableValue}). */
export function dataInput(ipc: Uint8Array, inputType: InputType): Extract<TaskInput, { kind: 'data' }> {
  let data: Table | undefined;
  return {
    kind: 'data',
    ipc,
    inputType,
    get data(): Table {
      return (data ??= tableFromIPC(ipc));
    },
  };
}
