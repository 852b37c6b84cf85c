import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ErrorCode, InsituError, deserializeError, heldLeases } from '@insitu/core';
import type { RuntimeLogEntry, RuntimeLogSink } from '@insitu/runtime-pyodide';
import type { HostEngineOptions, HostEvent, SqlAnswer, SqlEnvelope, SqlHostData, SqlReply, SqlRequest } from './sql-protocol.js';

/** How long the caller's thread waits past a call's own timeout for the host to answer (it stops the call first). */
const ANSWER_GRACE_MS = 5_000;

/**
 * The caller's side of the SQL host thread: it starts the thread (an engine of its own on the same
 * database file) and makes synchronous requests to it. A request blocks this thread (Atomics.wait on a
 * shared counter) until the host answers or the wait's deadline passes; the deadline cancels the call
 * in the host and fails with TIMEOUT.
 */
export class SqlHost {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #signal: Int32Array;
  /** Replies received for each request in flight, not yet taken. */
  readonly #mail = new Map<number, SqlReply[]>();
  #seq = 0;
  #closed = false;

  private constructor(worker: Worker, port: MessagePort, signal: Int32Array) {
    this.#worker = worker;
    this.#port = port;
    this.#signal = signal;
  }

  /** Start the host thread and resolve once its engine is up. */
  static start(options: HostEngineOptions, onLog: RuntimeLogSink | undefined): Promise<SqlHost> {
    const shared = new SharedArrayBuffer(8);
    const { port1, port2 } = new MessageChannel();
    const data: SqlHostData = { options, signal: shared, port: port2, forwardLog: onLog !== undefined };
    const worker = new Worker(new URL('./sql-host-worker.js', import.meta.url), { workerData: data, transferList: [port2] });
    return new Promise<SqlHost>((resolve, reject) => {
      let ready = false;
      worker.on('message', (e: HostEvent) => {
        if (e.type === 'ready') {
          ready = true;
          resolve(new SqlHost(worker, port1, new Int32Array(shared)));
        } else if (e.type === 'failed') reject(deserializeError(e.error));
        else if (e.type === 'log') {
          try {
            onLog?.(e.entry as RuntimeLogEntry);
          } catch {
            // A listener that throws is ignored, as the engine's own.
          }
        }
      });
      worker.on('error', (e) => {
        if (!ready) reject(new InsituError(ErrorCode.RUNTIME_ERROR, `the SQL host thread failed to start: ${e.message}`, { cause: e }));
      });
      worker.on('exit', () => {
        if (!ready) reject(new InsituError(ErrorCode.RUNTIME_ERROR, 'the SQL host thread exited before it was ready'));
      });
    });
  }

  /** Whether the host thread has ended (its engine cannot answer any more). */
  get stopped(): boolean {
    return Atomics.load(this.#signal, 1) === 1;
  }

  /** Post `request`; its replies go to its mailbox until it is finished or given up. */
  #send(request: SqlRequest): number {
    if (this.#closed) throw new InsituError(ErrorCode.CLOSED, 'the engine is closed');
    if (this.stopped) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'the SQL host thread stopped; register() the SQL functions again to start a new one');
    const id = ++this.#seq;
    // This thread's engines cannot renew their jobs' leases while it waits: the host does it meanwhile.
    const leases = heldLeases();
    this.#mail.set(id, []);
    this.#port.postMessage({ id, request, ...(leases.length === 0 ? {} : { leases }) } satisfies SqlEnvelope);
    return id;
  }

  /** Stop waiting for `id`: the host cancels it and its later replies are dropped. */
  #giveUp(id: number): void {
    if (this.#mail.delete(id) && !this.#closed) this.#port.postMessage({ id, cancel: true } satisfies SqlEnvelope);
  }

  /**
   * Block until the next reply to `id` (replies to other requests in flight, such as another call of
   * the same statement, go to their mailboxes), at most until `deadline`: then the call is cancelled
   * and this throws TIMEOUT. An error reply throws the InsituError the host raised.
   */
  #next(id: number, deadline: number, waitMs: number): SqlAnswer {
    const box = this.#mail.get(id);
    if (box === undefined) throw new InsituError(ErrorCode.CANCELLED, 'the SQL function was cancelled: its statement stopped reading it');
    for (;;) {
      const seen = Atomics.load(this.#signal, 0);
      for (let m = receiveMessageOnPort(this.#port); m !== undefined; m = receiveMessageOnPort(this.#port)) {
        const reply = m.message as SqlReply;
        // Replies to requests given up on (timed out, cancelled) are dropped.
        this.#mail.get(reply.id)?.push(reply);
      }
      const reply = box.shift();
      if (reply !== undefined) {
        if (reply.ok) return reply.answer;
        this.#mail.delete(id);
        throw deserializeError(reply.error);
      }
      if (this.stopped) {
        this.#mail.delete(id);
        throw new InsituError(ErrorCode.RUNTIME_ERROR, 'the SQL host thread stopped; register() the SQL functions again to start a new one');
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#giveUp(id);
        throw new InsituError(ErrorCode.TIMEOUT, `the SQL function did not answer within ${waitMs + ANSWER_GRACE_MS} ms; it was cancelled`);
      }
      Atomics.wait(this.#signal, 0, seen, Math.min(left, 1_000));
    }
  }

  /**
   * Send `request` and block until its answer, at most `waitMs` (then the call is cancelled in the host
   * and this throws TIMEOUT). Errors come back as the InsituError the host raised.
   */
  request(request: SqlRequest, waitMs: number): SqlAnswer {
    const id = this.#send(request);
    const answer = this.#next(id, Date.now() + waitMs + ANSWER_GRACE_MS, waitMs);
    this.#mail.delete(id);
    return answer;
  }

  /**
   * Send a streamed call (`stream: true`) and give its partitions as they arrive, blocking for each, all
   * within `waitMs`. Taking the next partition acknowledges the one before (the host runs ahead by at
   * most its window). SQLite does not tell a table function that a statement stopped reading it (LIMIT,
   * a failed statement): when this thread gets back to its event loop with the stream unfinished, the
   * call is cancelled, so its workers are freed (a stream resumed after that throws CANCELLED).
   */
  *stream(request: SqlRequest, waitMs: number): Generator<SqlAnswer, void, undefined> {
    const id = this.#send(request);
    const deadline = Date.now() + waitMs + ANSWER_GRACE_MS;
    let taken = 0;
    for (;;) {
      const answer = this.#next(id, deadline, waitMs);
      if (answer.type === 'end') {
        this.#mail.delete(id);
        return;
      }
      const at = ++taken;
      setImmediate(() => {
        if (taken === at) this.#giveUp(id);
      });
      yield answer;
      // Resumed: the partition was read (a later check sees another count).
      taken++;
      if (this.#mail.has(id)) this.#port.postMessage({ id, ack: true } satisfies SqlEnvelope);
    }
  }

  /** Make the host's engine admit `user` again at its next request (the user was dropped). Does not wait. */
  forget(user: string): void {
    if (!this.#closed) this.#port.postMessage({ id: 0, forget: user } satisfies SqlEnvelope);
  }

  /** Close the host's engine (its running jobs interrupted, or waited for with `'wait'`) and end its thread. */
  async close(jobs: 'interrupt' | 'wait' = 'interrupt'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.stopped) {
      this.#port.close();
      return;
    }
    const closed = new Promise<void>((resolve) => {
      this.#worker.on('message', (e: HostEvent) => {
        if (e.type === 'closed') resolve();
      });
      this.#worker.once('exit', () => resolve());
    });
    this.#worker.postMessage({ type: 'close', jobs });
    await closed;
    this.#port.close();
    await this.#worker.terminate();
  }
}
