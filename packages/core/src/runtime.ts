import type { Table } from 'apache-arrow';
import type { SerializedError } from './errors.js';
import type { DatastoreInfo, DatastoreListType, ObjectInfo, QuerySpec, StoredObject } from './storage.js';
import type { VisibleScriptRef } from './script-visibility.js';
import type { ResultTree } from './result-tree.js';
import type { JsonValue, SqlParam } from './values.js';
import type { PackageSet } from './packages.js';

/**
 * The interface core uses to run Python. `@insitu/runtime-pyodide` implements it with a pool of Pyodide
 * interpreters in worker threads.
 */

/** How a partition is handed to the UDF. */
export type InputType = 'auto' | 'frame' | 'pandas' | 'records' | 'columns';

/** All input types, for validation. */
export const INPUT_TYPES: readonly InputType[] = ['auto', 'frame', 'pandas', 'records', 'columns'];

/** What the UDF is called with, besides its keyword arguments. */
export type TaskInput =
  /** f(**args) */
  | { readonly kind: 'none' }
  /** f(data, **args); `ipc`, when given, is `data` already serialised (forwarded as is). */
  | { readonly kind: 'data'; readonly data: Table; readonly inputType: InputType; readonly ipc?: Uint8Array }
  /** f(index, **args) */
  | { readonly kind: 'index'; readonly index: number }
  /** f(data, **args), where the worker reads `data` itself by running `query` on its own connection. */
  | { readonly kind: 'query'; readonly query: QuerySpec; readonly inputType: InputType }
  /**
   * f(group, **args) for every group in the rows of `query` (ordered by `by`), read by the worker on
   * its own connection; one result per group, in order. See {@link Runtime.runGroups}.
   */
  | {
      readonly kind: 'groups';
      readonly query: QuerySpec;
      readonly by: readonly string[];
      /** Whether the query returns rows ordered by `by` (else the worker groups them in memory). */
      readonly ordered: boolean;
      readonly inputType: InputType;
    }
  /**
   * f(group, **args) for every group in `data`, rows the engine read (ordered by `by`, whole groups
   * only): like `groups` without the read. `ipc`, when given, is `data` already serialised. See
   * {@link Runtime.runGroups}.
   */
  | {
      readonly kind: 'groupData';
      readonly data: Table;
      readonly by: readonly string[];
      readonly inputType: InputType;
      readonly ipc?: Uint8Array;
    };

/** What a UDF may do to the database through `insitu.connect()`. */
export type ContextMode = 'read' | 'write';

/**
 * The engine services a running UDF calls back into (`insitu.ds`), bound to the calling user and
 * checked with that user's privileges. Core builds one per apply call; the runtime forwards the UDF's
 * requests to it.
 */
export interface HostApi {
  /** The user the call runs as. */
  readonly user: string;
  dsSave(name: string, objects: readonly StoredObject[], opts: { description?: string; overwrite?: boolean; append?: boolean; grantable?: boolean }): Promise<void>;
  dsLoad(name: string, opts: { objs?: readonly string[]; owner?: string }): Promise<StoredObject[]>;
  dsList(opts: { name?: string; type?: DatastoreListType }): Promise<DatastoreInfo[]>;
  dsDescribe(name: string, opts: { owner?: string }): Promise<ObjectInfo[]>;
  dsDelete(name: string, opts: { objs?: readonly string[] }): Promise<number>;
  /**
   * The script the user can see (own, global, granted to them or PUBLIC) whose source has this SHA-256
   * (64 lowercase hex digits), or null. Used to decide whether code carried by another user's pickled
   * object may run when the user loads it.
   */
  dsVisibleScript(sourceHash: string): Promise<VisibleScriptRef | null>;
  /**
   * `insitu.connect()` answered by the engine, on the task's {@link ContextSession} (see context-session.ts): one read-only
   * query, its rows as an Arrow IPC stream. Absent when the storage gives UDFs no session (workers then
   * open the database themselves, or have no database).
   */
  sqlQuery?(sql: string, params: readonly SqlParam[]): Promise<Uint8Array>;
  /** One statement on the task's session (a change only with context `write`); rows changed. */
  sqlExecute?(sql: string, params: readonly SqlParam[]): Promise<number>;
  /** End the partition's transaction on the task's session: commit it (`true`, the partition succeeded) or roll it back. */
  sqlEnd?(commit: boolean): Promise<void>;
}

/** One call of a UDF on one partition. */
export interface Task {
  /** Python source holding the function. */
  readonly source: string;
  /** Name used for the script in tracebacks (`<script NAME>`) and to pick the function. */
  readonly name: string;
  /**
   * The function to call: this name when the source defines it at top level, otherwise the one
   * top-level function of the source.
   */
  readonly func?: string;
  /** Positional input. */
  readonly input: TaskInput;
  /** Keyword arguments (JSON-able). */
  readonly args: Readonly<Record<string, JsonValue>>;
  /** Positional arguments (JSON-able), passed after the input (if any) and before the keyword ones. */
  readonly positional?: readonly JsonValue[];
  /**
   * The user the call runs as. An interpreter serves one user's calls only: before it serves another
   * user it is replaced by a clean one, so nothing a UDF leaves behind reaches another user.
   */
  readonly user: string;
  /** Engine services for `insitu.ds`, bound to the calling user. */
  readonly host?: HostApi;
  /** What `insitu.connect()` may do. Default `read`. */
  readonly context?: ContextMode;
  /**
   * Third-party packages the interpreter must have loaded (and nothing else of that kind): an
   * interpreter that loaded a set serves only tasks of the same set's key. Absent: a clean interpreter.
   */
  readonly env?: PackageSet;
  /** Save every matplotlib figure left open when the UDF returns as an image (when matplotlib is loaded). */
  readonly graphics?: boolean;
  /**
   * Data input only: the order of the rows the UDF receives, applied to each partition (each group of a
   * `groups` input) by the runtime after it is read, stable, NULL first ascending as in SQLite.
   */
  readonly orderWithin?: readonly OrderKey[];
}

/** One sort key of {@link Task.orderWithin}. */
export interface OrderKey {
  readonly column: string;
  readonly descending: boolean;
}

/** A figure a UDF produced (`insitu.image()`, or a matplotlib figure saved with `graphics: true`). */
export interface Image {
  /** Its number within its partition, from 1, in the order the UDF produced them. */
  readonly id: number;
  /** Its title (`insitu.image(png, title=...)`, or a matplotlib figure's suptitle), or null. */
  readonly title: string | null;
  /** PNG bytes (their signature was checked before they left the worker). */
  readonly png: Uint8Array;
}

/** What a UDF returned, converted for the host. */
export type TaskValue =
  /**
   * `ipc`: the table's Arrow IPC bytes as the runtime received them, when it has them (for forwarding).
   * `stacked`: `table` is the rows from `offset` of a larger table holding several partitions' results
   * one after the other (so they can be combined without a batch per partition).
   */
  | {
      readonly kind: 'table';
      readonly table: Table;
      readonly ipc?: Uint8Array;
      readonly stacked?: { readonly table: Table; readonly offset: number };
    }
  /** A plain value: JSON, possibly holding bytes (see {@link ResultTree}). */
  | { readonly kind: 'json'; readonly value: ResultTree }
  | { readonly kind: 'bytes'; readonly value: Uint8Array };

/** Result of a successful task. */
export interface TaskOutcome {
  readonly value: TaskValue;
  /** Everything the UDF wrote to stdout. */
  readonly stdout: string;
  /** Everything the UDF wrote to stderr. */
  readonly stderr: string;
  /** Figures, in the order the UDF produced them. */
  readonly images: readonly Image[];
  /** The engine that ran the partition, for a distributed call (`distribute: true`); absent otherwise. */
  readonly engine?: string;
}

/** One group's result from {@link Runtime.runGroups}: its key (as an Arrow row) and its outcome. */
export interface GroupOutcome {
  /** The group's key values, read from its first row. */
  readonly key: Readonly<Record<string, unknown>>;
  readonly outcome: TaskOutcome;
}

/** Result of checking Python source without running it. */
export type ScriptInspection =
  | { readonly ok: true; readonly functions: readonly string[] }
  | { readonly ok: false; readonly error: SerializedError };

/** Per-call runtime options. */
export interface RunOptions {
  /** Abort the task; a running task's worker is replaced. */
  readonly signal?: AbortSignal;
}

/** A Python runtime: runs tasks, in parallel up to `concurrency`. */
export interface Runtime {
  /** How many tasks can run at the same time (the worker count). */
  readonly concurrency: number;
  /**
   * Whether workers can read partitions themselves (`{ kind: 'query' }` inputs) on their own
   * connections to the database — true when the database is a file the workers can open.
   */
  readonly readsQueries: boolean;
  /** Run one task. Python errors reject with an InsituError (PYTHON_ERROR, BAD_RESULT, ...). */
  run(task: Task, opts?: RunOptions): Promise<TaskOutcome>;
  /**
   * Run a task whose input is `{ kind: 'groups' }` (the worker reads and splits the groups itself) or
   * `{ kind: 'groupData' }` (the worker splits the rows it was sent), calling the UDF once per group. Resolves to the groups' outcomes in key order; the first failing
   * group rejects with its error (naming the group as the partition).
   */
  runGroups(task: Task, opts?: RunOptions): Promise<GroupOutcome[]>;
  /**
   * Parse Python source and list its top-level functions, or report the syntax error and line. It runs
   * in an interpreter of `user` (whose script it is), like that user's calls.
   */
  inspect(source: string, name: string, user: string): Promise<ScriptInspection>;
  /** Stop all workers. Idempotent. */
  close(): Promise<void>;
}
