import { deserializeError, ErrorCode, InsituError, type ContextMode, type HostApi, type SqlParam, type Synchronous } from '@insitu/core';
import { tableFromIPC, type Table } from 'apache-arrow';
import type { ContextConnection } from './context-connection.js';
import type { HostChannel, HostReply } from './host-channel.js';

/**
 * `insitu.connect()` for a worker whose engine answers the SQL itself (PostgreSQL: workers, and the
 * sandbox process they run in, have no network). Each statement is a request on the worker's one
 * channel to the engine (`sqlQuery`, `sqlExecute`, `sqlEnd`), answered on the session the engine holds
 * for the running task: the engine checks the statement against the user's privileges, and runs the
 * partition's statements in one transaction that `commit` ends when the partition succeeded and
 * `reset` rolls back otherwise. The worker holds no connection and no credentials.
 */
export class EngineContextConnection implements ContextConnection {
  readonly #channel: HostChannel;
  readonly #callId: () => number;
  /** Whether the engine may hold an open transaction for this partition (a statement was sent since the last end). */
  #open = false;

  /** `callId` names the running call, whose session the engine answers on. */
  constructor(channel: HostChannel, callId: () => number) {
    this.#channel = channel;
    this.#callId = callId;
  }

  #ask(op: string, args: Record<string, unknown>): Extract<HostReply, { ok: true }> {
    const reply = this.#channel.call(this.#callId(), op, JSON.stringify(args), []);
    if (!reply.ok) throw deserializeError(reply.error);
    return reply;
  }

  /** Run one read-only query on the engine; `byColumn` is for partition reads, which workers do not do here. */
  query(sql: string, params: readonly SqlParam[]): Table {
    this.#open = true;
    const reply = this.#ask('sqlQuery', { sql, params });
    const ipc = reply.blobs[0];
    if (ipc === undefined) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'the engine answered a query without its rows');
    return tableFromIPC(ipc);
  }

  /** Streamed partition reads happen in the engine on this storage; a worker is never asked for them. */
  scan(): Iterable<Table> {
    throw new InsituError(ErrorCode.RUNTIME_ERROR, 'this worker reads no partitions itself: the engine reads them');
  }

  /** See {@link scan}. */
  groups(): Iterable<Table> {
    return this.scan();
  }

  /** Run one statement on the engine (the call's context, which the engine knows, decides whether it may write). */
  execute(sql: string, params: readonly SqlParam[], _mode: ContextMode): number {
    this.#open = true;
    const reply = this.#ask('sqlExecute', { sql, params });
    return JSON.parse(reply.json ?? '0') as number;
  }

  /** `insitu.ds` requests go over the channel themselves (see python-host.ts), never through here. */
  datastores(): Synchronous<HostApi> {
    throw new InsituError(ErrorCode.RUNTIME_ERROR, 'insitu.ds is answered by the engine directly');
  }

  /** Note that the engine may hold a transaction for this partition (an `insitu.ds` request went to it). */
  joined(): void {
    this.#open = true;
  }

  /** Commit the partition's transaction on the engine. */
  commit(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#ask('sqlEnd', { commit: true });
  }

  /** Roll back whatever the partition left open on the engine (the engine also does when the task ends). */
  reset(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#ask('sqlEnd', { commit: false });
  }

  /** Nothing to close: the engine holds the connection, and releases it when each task ends. */
  close(): void {}
}
