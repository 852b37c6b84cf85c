import type { ContextMode, InputType, PackageArchive, SerializedError, SqlParam } from '@insitu/core';
import type { MessagePort } from 'node:worker_threads';
import type { SharedSnapshot } from './snapshot-cache.js';
import type { WorkerLimits } from './worker-limits.js';

/**
 * The messages that cross the thread boundary between the pool (main thread) and a worker. Both sides
 * import only this file's types. Byte buffers are moved (transferred), never structured-cloned.
 */

/** The UDF's positional input on the wire: Arrow IPC bytes for data. */
export type WireInput =
  | { readonly kind: 'none' }
  | { readonly kind: 'data'; readonly ipc: Uint8Array; readonly inputType: InputType }
  | { readonly kind: 'index'; readonly index: number }
  /** The worker reads the partition itself on its own connection. */
  | {
      readonly kind: 'query';
      readonly sql: string;
      readonly params: readonly SqlParam[];
      /** The same rows one column per statement (see `QuerySpec.byColumn`). */
      readonly byColumn?: readonly string[];
      readonly inputType: InputType;
    }
  /** The worker reads rows ordered by `by`, cuts them into groups and calls the UDF once per group. */
  | {
      readonly kind: 'groups';
      readonly sql: string;
      readonly params: readonly SqlParam[];
      readonly by: readonly string[];
      /** Rows arrive ordered by `by`; else they are grouped in memory (one numeric key). */
      readonly ordered: boolean;
      readonly inputType: InputType;
    }
  /** Whole groups the engine read (Arrow IPC, ordered by `by`): the worker calls the UDF once per group. */
  | { readonly kind: 'groupData'; readonly ipc: Uint8Array; readonly by: readonly string[]; readonly inputType: InputType };

/** Run a UDF on one partition. */
export interface RunRequest {
  readonly type: 'run';
  readonly source: string;
  readonly name: string;
  readonly func: string | null;
  readonly input: WireInput;
  /** Keyword arguments as JSON text. */
  readonly argsJson: string;
  /** Positional arguments (after the input, before the keyword ones) as JSON text of an array. */
  readonly positionalJson: string;
  /** Row order within the partition (each group) as JSON text of `[[column, descending], ...]`; `[]`: as read. */
  readonly orderJson: string;
  /** Identifies the call in the worker's requests back to the engine. */
  readonly callId: number;
  /** What `insitu.connect()` may do in this call. */
  readonly context: ContextMode;
  /**
   * Shared control words: [0] is Pyodide's interrupt buffer (the pool stores 2 = SIGINT to stop the UDF),
   * [1] is set to 1 by the worker when it starts the task, [2] to 1 by the pool when it stops the call
   * (it stays set, where Pyodide clears [0] once it raised the interrupt): the worker then commits nothing.
   */
  readonly control: Int32Array;
  /** The user the call runs as: a worker serves one user only (see user-affinity.ts). */
  readonly user: string;
  /**
   * The package set the interpreter must have loaded (a worker serves one set only, like one user).
   * `packages` (the verified archives) is sent only to a worker that has not loaded the set yet.
   */
  readonly env?: { readonly key: string; readonly packages?: readonly PackageArchive[] };
  /** Save matplotlib figures left open as images. */
  readonly graphics?: boolean;
}

/** Parse Python source and list its top-level functions. */
export interface InspectRequest {
  readonly type: 'inspect';
  readonly source: string;
  readonly name: string;
  /** The user whose script it is. */
  readonly user: string;
}

/** Anything the pool sends a worker. */
export type WorkerRequest = RunRequest | InspectRequest;

/** A figure on the wire (its PNG signature checked by the worker). */
export interface WireImage {
  readonly title: string | null;
  readonly png: Uint8Array;
}

/** A UDF's return value on the wire. */
export type WireValue =
  | { readonly kind: 'table'; readonly ipc: Uint8Array }
  /** `blobs`: bytes inside the value, each standing in `json` as `{ [BYTES_KEY]: i }`. */
  | { readonly kind: 'json'; readonly json: string; readonly blobs?: readonly Uint8Array[] }
  | { readonly kind: 'bytes'; readonly value: Uint8Array };

/** Which worker thread answered, and whether it has a channel to the engine now. */
export interface ThreadInfo {
  readonly threadId: number;
  /** The interpreter failed fatally; the pool terminates this worker and starts a new one. */
  readonly fatal?: boolean;
  /** The worker refused the task without running it (its interpreter was dead, or serves another user): run it elsewhere. */
  readonly retry?: boolean;
  /** The worker serves another user: the pool replaces it with a clean one. */
  readonly replace?: boolean;
  /** Size of the interpreter's wasm heap after the task, in MiB (it never shrinks). */
  readonly heapMb?: number;
}

/** Reply to a RunRequest. */
export type RunResponse = ThreadInfo &
  (
    | { readonly ok: true; readonly value: WireValue; readonly stdout: string; readonly stderr: string; readonly images?: readonly WireImage[] }
    | { readonly ok: false; readonly error: SerializedError }
  );

/** A group's table result as rows `offset .. offset + length` of table `part` of `GroupsResponse.stacked`. */
export interface StackedRows {
  readonly kind: 'rows';
  readonly part: number;
  readonly offset: number;
  readonly length: number;
}

/** One group's result inside a {@link GroupsResponse}. */
export type GroupResult =
  | { readonly ok: true; readonly value: WireValue | StackedRows; readonly stdout: string; readonly stderr: string; readonly images?: readonly WireImage[] }
  | { readonly ok: false; readonly error: SerializedError };

/** The groups' keys: per key column, one value per group (as `Vector.get` returns it). */
export interface GroupKeyColumns {
  readonly names: readonly string[];
  readonly columns: readonly (readonly unknown[])[];
}

/** The parts of a {@link GroupsResponse} that describe the groups (what the sandbox forwards as is). */
export interface GroupsWire {
  /** The groups' keys, a value per group in `groups`. */
  readonly keys: GroupKeyColumns | null;
  /** One result per group run, in key order; it stops at the first failing group. */
  readonly groups: readonly GroupResult[];
  /** Arrow IPC tables holding the table results of many groups each, one after the other. */
  readonly stacked: readonly Uint8Array[];
  /** Set when reading the rows failed. */
  readonly error?: SerializedError;
  /**
   * How many groups, from the first, committed their writes (see python-host.ts: a batch of groups run
   * in one Python call commits together). Absent: none.
   */
  readonly committed?: number;
}

/** Reply to a RunRequest with `groups` input. */
export type GroupsResponse = ThreadInfo & GroupsWire & { readonly ok: boolean };

/** Reply to an InspectRequest. */
export type InspectResponse = ThreadInfo &
  ({ readonly ok: true; readonly functions: string[] } | { readonly ok: false; readonly error: SerializedError });

/** Where workers find the database context for `insitu.connect()`. */
export interface ContextOptions {
  /** Module (file URL or specifier) exporting `openContextConnection(path, { busyTimeoutMs, user, ...options })`. */
  readonly module: string;
  /** The database file each worker opens its own connection to. */
  readonly database: string;
  /** Milliseconds a worker's connection waits for a lock. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** The storage adapter's own settings (strings), passed to `openContextConnection` as they are. */
  readonly options?: Readonly<Record<string, string>>;
}

/** Static configuration every worker gets at start (piscina `workerData`). */
export interface WorkerConfig {
  /** The database context for `insitu.connect()`, or null when the database is not a file. */
  readonly context: {
    /** Module (file URL or specifier) exporting `openContextConnection(path, { busyTimeoutMs, user, ...options })`. */
    readonly module: string;
    readonly database: string;
    readonly busyTimeoutMs: number;
    /** Settings of the storage adapter, passed through to `openContextConnection` as they are. */
    readonly options?: Readonly<Record<string, string>>;
  } | null;
  /**
   * The engine's start-up memory snapshot: its SHA-256, and its bytes as the pool reads them into memory
   * shared by every worker (null when the file could not be opened); null to always boot Pyodide plainly.
   */
  readonly snapshot: { readonly sha256: string; readonly shared: SharedSnapshot | null } | null;
  /** The interpreter's wasm heap cannot grow past this many MiB: allocations beyond it raise MemoryError. */
  readonly maxMemoryMb: number;
  /** Caps on the output and results a UDF sends back. */
  readonly limits: WorkerLimits;
  /** The channel the pool hands out its compiled Pyodide binary on (see shared-wasm.ts), or null. */
  readonly wasmChannel: string | null;
  /** Directory holding the Python package `insitu` (see RuntimeFiles). */
  readonly pythonDir: string;
  /** Running in the sandbox process: shim what the permission model blocks and harden the interpreter. */
  readonly sandboxed?: boolean;
}

/**
 * What a worker posts to the pool once, at start: its end of a synchronous channel to the engine (for
 * `insitu.ds` requests from its UDFs), which the pool serves for the thread's lifetime.
 */
export interface ChannelOffer {
  readonly insituChannel: MessagePort;
  /** The offering worker's thread id: it has booted (its interpreter works). */
  readonly threadId: number;
}

/** Anything a worker replies. */
export type WorkerResponse = RunResponse | GroupsResponse | InspectResponse;
