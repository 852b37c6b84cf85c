import type { InputType, SerializedError } from '@insitu/core';

/**
 * The messages that cross the thread boundary between the pool (main thread) and a worker. Both sides
 * import only this file's types. Byte buffers are moved (transferred), never structured-cloned.
 */

/** The UDF's positional input on the wire: Arrow IPC bytes for data. */
export type WireInput =
  | { readonly kind: 'none' }
  | { readonly kind: 'data'; readonly ipc: Uint8Array; readonly inputType: InputType }
  | { readonly kind: 'index'; readonly index: number };

/** Run a UDF on one partition. */
export interface RunRequest {
  readonly type: 'run';
  readonly source: string;
  readonly name: string;
  readonly func: string | null;
  readonly input: WireInput;
  /** Keyword arguments as JSON text. */
  readonly argsJson: string;
}

/** Parse Python source and list its top-level functions. */
export interface InspectRequest {
  readonly type: 'inspect';
  readonly source: string;
  readonly name: string;
}

/** Anything the pool sends a worker. */
export type WorkerRequest = RunRequest | InspectRequest;

/** A UDF's return value on the wire. */
export type WireValue =
  | { readonly kind: 'table'; readonly ipc: Uint8Array }
  | { readonly kind: 'json'; readonly json: string }
  | { readonly kind: 'bytes'; readonly value: Uint8Array };

/** Reply to a RunRequest. */
export type RunResponse =
  | { readonly ok: true; readonly value: WireValue; readonly stdout: string; readonly stderr: string }
  | { readonly ok: false; readonly error: SerializedError };

/** Reply to an InspectRequest. */
export type InspectResponse =
  | { readonly ok: true; readonly functions: string[] }
  | { readonly ok: false; readonly error: SerializedError };

/** Anything a worker replies. */
export type WorkerResponse = RunResponse | InspectResponse;
