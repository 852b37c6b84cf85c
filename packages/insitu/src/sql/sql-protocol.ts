import type { ApplyKind, HeldLeases, SerializedError } from '@insitu/core';
import type { MessagePort } from 'node:worker_threads';
import type { EngineOptions } from '../create-engine.js';

/**
 * Messages between the thread that runs SQL (it blocks while a function runs) and the SQL host thread,
 * whose engine runs the calls. Requests and replies travel on their own MessagePort; the host bumps a
 * shared counter after each reply so the blocked caller wakes (Atomics.wait) and takes it with
 * receiveMessageOnPort.
 */

/** An apply function called from SQL, its arguments as SQL gave them. */
export interface SqlApplyRequest {
  readonly op: 'apply';
  readonly user: string;
  readonly kind: ApplyKind;
  readonly input?: unknown;
  readonly parList: unknown;
  readonly rows?: unknown;
  readonly groupCols?: unknown;
  readonly orderCols?: unknown;
  readonly times?: unknown;
  readonly script: unknown;
  readonly owner?: unknown;
  /** Milliseconds the call may run unless PAR_LST's `timeout` says otherwise. */
  readonly timeoutMs: number;
  /**
   * Answer each partition as it finishes ('part' answers, in partition order, then 'end'), at most
   * {@link STREAM_WINDOW} ahead of the partitions the caller acknowledged; else one 'result'.
   */
  readonly stream?: boolean;
}

/** Partitions the host sends ahead of the caller's acknowledgements (the rest of the call waits). */
export const STREAM_WINDOW = 2;

/** The catalog functions. */
export type CatalogName = 'scripts' | 'datastores' | 'datastore_contents' | 'grants' | 'jobs' | 'schedule_runs' | 'job_status';

/** A request to the SQL host. */
export type SqlRequest =
  | SqlApplyRequest
  | { readonly op: 'catalog'; readonly user: string; readonly name: CatalogName; readonly args: readonly unknown[] }
  | { readonly op: 'jobResult'; readonly user: string; readonly jobId: unknown }
  | { readonly op: 'admit'; readonly user: string };

/** What a request answers. */
export type SqlAnswer =
  | { readonly type: 'result'; readonly kind: ApplyKind; readonly bytes: Uint8Array }
  /** One partition of a streamed call, as a result of that partition alone; 'end' follows the last. */
  | { readonly type: 'part'; readonly kind: ApplyKind; readonly bytes: Uint8Array }
  | { readonly type: 'end' }
  | { readonly type: 'job'; readonly jobId: string }
  | { readonly type: 'rows'; readonly rows: ReadonlyArray<Record<string, number | string | null>> }
  | { readonly type: 'ok' };

/** A request on the wire, with its id. */
export type SqlEnvelope =
  /** `leases`: the caller thread's engines' running jobs, which the host renews while the caller waits. */
  | { readonly id: number; readonly request: SqlRequest; readonly leases?: readonly HeldLeases[] }
  | { readonly id: number; readonly cancel: true }
  /** `ack`: the caller took one more partition of a streamed call. */
  | { readonly id: number; readonly ack: true }
  /** `forget`: a dropped user, whose session the host makes (and admits) anew at its next request. */
  | { readonly id: number; readonly forget: string };

/** A reply on the wire. */
export type SqlReply = { readonly id: number; readonly ok: true; readonly answer: SqlAnswer } | { readonly id: number; readonly ok: false; readonly error: SerializedError };

/** Engine options the host thread can receive (functions stay in the caller's thread). */
export type HostEngineOptions = Omit<EngineOptions, 'onRuntimeLog' | 'schedulerClock'>;

/** What the host thread starts with. */
export interface SqlHostData {
  readonly options: HostEngineOptions;
  /** Two Int32s: a counter the host bumps (and notifies) after each reply, and 1 once the host thread ends. */
  readonly signal: SharedArrayBuffer;
  readonly port: MessagePort;
  /** Whether runtime log entries are sent to the caller's thread (its `onRuntimeLog`). */
  readonly forwardLog: boolean;
}

/** Messages on the host thread's own channel (not the sync port). */
export type HostEvent = { readonly type: 'ready' } | { readonly type: 'failed'; readonly error: SerializedError } | { readonly type: 'log'; readonly entry: unknown } | { readonly type: 'closed' };
