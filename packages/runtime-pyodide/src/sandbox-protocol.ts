import type { ContextMode, PackageSet, SerializedError } from '@insitu/core';
import type { ContextOptions, GroupsWire, WireImage, WireInput } from './protocol.js';
import type { RuntimeFiles } from './runtime-files.js';
import type { PreparedSnapshot } from './snapshot-cache.js';
import type { RuntimeLogEntry } from './runtime-log.js';
import type { WorkerLimits } from './worker-limits.js';

/**
 * Messages between the engine process and the sandbox process that hosts the worker pool (Node IPC
 * with structured-clone serialization). Arrow tables travel as IPC bytes.
 */

/** A task as it crosses into the sandbox. */
export interface SandboxTask {
  readonly source: string;
  readonly name: string;
  readonly func?: string;
  readonly input: WireInput;
  readonly args: Readonly<Record<string, unknown>>;
  /** Positional arguments after the input (absent: none). */
  readonly positional?: readonly unknown[];
  /** Row order within each partition (absent: as read). */
  readonly orderWithin?: readonly { readonly column: string; readonly descending: boolean }[];
  readonly context?: ContextMode;
  /** The user the call runs as. */
  readonly user: string;
  /** Whether the UDF may call the engine back (`insitu.ds`). */
  readonly host: boolean;
  /** The package set the task runs with, sent before in an `env` message (by key here). */
  readonly env?: string;
  /** Save matplotlib figures left open as images. */
  readonly graphics?: boolean;
}

/** A UDF's value as it comes out of the sandbox. */
export type SandboxValue =
  | { readonly kind: 'table'; readonly ipc: Uint8Array }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'bytes'; readonly value: Uint8Array };

/** A task outcome as it comes out of the sandbox. */
export interface SandboxOutcome {
  readonly value: SandboxValue;
  readonly stdout: string;
  readonly stderr: string;
  readonly images: readonly WireImage[];
}

/** Engine process -> sandbox. */
export type ToSandbox =
  /** `abortable`: the engine may send an `abort` for this call (it has a signal or a timeout). */
  | { readonly type: 'run'; readonly id: number; readonly groups: boolean; readonly abortable: boolean; readonly task: SandboxTask }
  | { readonly type: 'inspect'; readonly id: number; readonly source: string; readonly name: string; readonly user: string }
  | { readonly type: 'abort'; readonly id: number; readonly reason: SerializedError }
  /** A package set (verified archives) later tasks name by key; sent once per sandbox process. */
  | { readonly type: 'env'; readonly set: PackageSet }
  /** Forget a package set (the engine keeps at most a few per sandbox process; it sends it again if needed). */
  | { readonly type: 'env-forget'; readonly key: string }
  | { readonly type: 'host-reply'; readonly rid: number; readonly ok: boolean; readonly value?: unknown; readonly error?: SerializedError }
  | { readonly type: 'close' };

/** Sandbox -> engine process. */
export type FromSandbox =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly outcome?: SandboxOutcome; readonly groups?: GroupsWire; readonly inspection?: unknown }
  | { readonly type: 'result'; readonly id: number; readonly ok: false; readonly error: SerializedError }
  | { readonly type: 'host'; readonly rid: number; readonly id: number; readonly op: string; readonly args: readonly unknown[] }
  | { readonly type: 'closed' }
  /** Console output of a worker or of the sandbox process (see runtime-log.ts). */
  | { readonly type: 'log'; readonly entry: RuntimeLogEntry }
  /** A worker did not stop after it was terminated (stuck in native code): the engine retires this process. */
  | { readonly type: 'stuck' };

/** Settings the sandbox process starts its pool with (passed as JSON in argv). */
export interface SandboxConfig {
  readonly workers: number;
  readonly interruptGraceMs?: number;
  readonly maxMemoryMb: number;
  readonly recycleHeapMb: number;
  readonly snapshot: PreparedSnapshot | null;
  readonly limits: WorkerLimits;
  readonly context?: ContextOptions;
  readonly files: RuntimeFiles;
}
