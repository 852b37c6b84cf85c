import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ErrorCode, type SerializedError } from '@insitu/core';

/** A request from a worker to the engine on the main thread, on behalf of one running call. */
export interface HostRequest {
  readonly callId: number;
  readonly op: string;
  /** Arguments as JSON text. */
  readonly argsJson: string;
  /** Binary payloads (serialised datastore objects). */
  readonly blobs: readonly Uint8Array[];
  /** Set to 1 (and notified) by the main thread once the reply is posted. */
  readonly flag: Int32Array;
}

/** The engine's answer. */
export type HostReply =
  | { readonly ok: true; readonly json: string | null; readonly blobs: readonly Uint8Array[] }
  | { readonly ok: false; readonly error: SerializedError };

/**
 * The worker's end of a synchronous channel to the engine: Python calls block on `Atomics.wait` until
 * the main thread has answered, then read the reply with `receiveMessageOnPort`. The worker makes the
 * channel at start and posts the other end to the pool (a {@link ChannelOffer}).
 */
export class HostChannel {
  #port: MessagePort | null = null;

  /** Make the channel; returns the end to post to the pool. */
  open(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    port2.unref();
    this.#port = port2;
    return port1;
  }

  /** Send a request and wait for the reply. */
  call(callId: number, op: string, argsJson: string, blobs: readonly Uint8Array[]): HostReply {
    const port = this.#port;
    if (port === null) {
      return { ok: false, error: { code: ErrorCode.RUNTIME_ERROR, message: 'this worker has no channel to the engine yet; retry the call' } };
    }
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const request: HostRequest = { callId, op, argsJson, blobs, flag };
    port.postMessage(request);
    Atomics.wait(flag, 0, 0);
    const reply = receiveMessageOnPort(port);
    if (reply === undefined) {
      return { ok: false, error: { code: ErrorCode.RUNTIME_ERROR, message: 'the engine did not answer the worker' } };
    }
    return reply.message as HostReply;
  }
}
