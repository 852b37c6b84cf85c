import { parentPort, workerData } from 'node:worker_threads';
import { abortError, badInput, encodeResult, toInsituError, ErrorCode, type ApplyCall, type ApplyKind, type Engine, type HeldLeases, type Session } from '@insitu/core';
import { createEngine } from '../create-engine.js';
import { catalogRows, jobStatusRows } from './catalog.js';
import { sqlCallOf } from './sql-call.js';
import { STREAM_WINDOW, type HostEvent, type SqlAnswer, type SqlEnvelope, type SqlHostData, type SqlReply, type SqlRequest } from './sql-protocol.js';

/**
 * The SQL host thread: an engine of its own on the same database file runs the calls SQL functions
 * make, while the thread that runs the SQL statement waits. It has to be another thread: the caller's
 * thread is blocked inside SQLite, so an engine there could never see its workers' answers.
 */

const data = workerData as SqlHostData;
const signal = new Int32Array(data.signal);
const port = data.port;
const events = parentPort!;
const post = (e: HostEvent): void => events.postMessage(e);
// A caller blocked on a request would otherwise wait out its whole timeout for a thread that is gone.
process.on('exit', () => {
  Atomics.store(signal, 1, 1);
  Atomics.notify(signal, 0);
});

let engine: Engine;
try {
  engine = await createEngine({
    ...data.options,
    ...(data.forwardLog ? { onRuntimeLog: (entry: unknown) => post({ type: 'log', entry }) } : {}),
  });
} catch (e) {
  post({ type: 'failed', error: toInsituError(e, ErrorCode.RUNTIME_ERROR, 'SQL host').toJSON() });
  process.exit(0);
}

const sessions = new Map<string, Session>();
const running = new Map<number, AbortController>();
/** Streamed calls: partitions the caller acknowledged, and who waits for the next acknowledgement. */
const streams = new Map<number, { acked: number; wake: (() => void) | null }>();

function sessionOf(user: string): Session {
  let s = sessions.get(user);
  if (s === undefined) sessions.set(user, (s = engine.session({ user })));
  return s;
}

/**
 * Run a call and send each partition as it finishes (in order), at most STREAM_WINDOW ahead of the
 * caller's acknowledgements: the caller's SQLite reads one partition's rows while the workers run the
 * next, and memory holds the partitions in flight, not the whole result.
 */
async function streamed(id: number, kind: ApplyKind, session: Session, call: ApplyCall, abort: AbortSignal): Promise<SqlAnswer> {
  const state = { acked: 0, wake: null as (() => void) | null };
  streams.set(id, state);
  let sent = 0;
  try {
    // Int64 columns stay bigint: SQLite stores them as INTEGER without a conversion per cell.
    await session.run({ ...call, options: { ...call.options, int64: 'bigint' } }, {
      signal: abort,
      onPartition: async (p) => {
        const bytes = encodeResult({ value: p.value, stdout: p.stdout, stderr: p.stderr, images: [], partitions: [p] });
        reply({ id, ok: true, answer: { type: 'part', kind, bytes } }, [bytes.buffer as ArrayBuffer]);
        sent++;
        while (sent - state.acked > STREAM_WINDOW) {
          if (abort.aborted) throw abortError(abort);
          await new Promise<void>((resolve) => {
            const done = (): void => {
              abort.removeEventListener('abort', done);
              state.wake = null;
              resolve();
            };
            state.wake = done;
            abort.addEventListener('abort', done, { once: true });
          });
        }
      },
    });
  } finally {
    streams.delete(id);
  }
  return { type: 'end' };
}

async function answer(id: number, req: SqlRequest, abort: AbortSignal): Promise<{ answer: SqlAnswer; transfer: ArrayBuffer[] }> {
  const session = sessionOf(req.user);
  switch (req.op) {
    case 'admit':
      await session.scripts.list({ type: 'user', name: '' });
      return { answer: { type: 'ok' }, transfer: [] };
    case 'apply': {
      const { call, async } = await sqlCallOf(session, req);
      if (async) {
        const { id: jobId } = await session.jobs.submit(call);
        return { answer: { type: 'job', jobId }, transfer: [] };
      }
      if (req.stream === true) return { answer: await streamed(id, req.kind, session, call, abort), transfer: [] };
      const bytes = encodeResult(await session.run(call, { signal: abort }));
      return { answer: { type: 'result', kind: req.kind, bytes }, transfer: [bytes.buffer as ArrayBuffer] };
    }
    case 'jobResult': {
      if (typeof req.jobId !== 'string') throw badInput('JOB_ID must be the text a call with oml_async_flag answered');
      const status = await session.jobs.status(req.jobId);
      const bytes = encodeResult(await session.jobs.result(req.jobId));
      return { answer: { type: 'result', kind: status.kind, bytes }, transfer: [bytes.buffer as ArrayBuffer] };
    }
    case 'catalog':
      return { answer: { type: 'rows', rows: req.name === 'job_status' ? await jobStatusRows(session, req.args) : await catalogRows(session, req.name, req.args) }, transfer: [] };
  }
}

/**
 * Renew the caller thread's leases now and every third of the shortest lease while its request runs:
 * blocked in SQL, that thread's engines cannot, and every engine on the file (this one too) would end
 * their running jobs as abandoned once the leases expired. (With the write lock held by the caller's
 * connection a renewal waits busyTimeoutMs and fails, as would any engine's attempt to end the jobs.)
 */
function renewWhileWaiting(leases: readonly HeldLeases[]): ReturnType<typeof setInterval> {
  const renew = (): void => {
    for (const l of leases) void engine.storage.renewLeases(l.engine, l.jobs, new Date(Date.now() + l.leaseMs)).catch(() => undefined);
  };
  renew();
  return setInterval(renew, Math.max(100, Math.min(...leases.map((l) => l.leaseMs)) / 3));
}

function reply(r: SqlReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(r, transfer);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

port.on('message', (m: SqlEnvelope) => {
  if ('cancel' in m) {
    running.get(m.id)?.abort();
    return;
  }
  if ('ack' in m) {
    const s = streams.get(m.id);
    if (s !== undefined) {
      s.acked++;
      s.wake?.();
    }
    return;
  }
  if ('forget' in m) {
    // A new session admits the user again: the engine's own directory never saw the drop.
    sessions.delete(m.forget);
    return;
  }
  const controller = new AbortController();
  running.set(m.id, controller);
  const renewing = m.leases === undefined ? null : renewWhileWaiting(m.leases);
  answer(m.id, m.request, controller.signal).then(
    ({ answer: a, transfer }) => reply({ id: m.id, ok: true, answer: a }, transfer),
    (e: unknown) => reply({ id: m.id, ok: false, error: toInsituError(e, ErrorCode.RUNTIME_ERROR, 'SQL function').toJSON() }),
  ).finally(() => {
    running.delete(m.id);
    if (renewing !== null) clearInterval(renewing);
  });
});

events.on('message', (m: { type: string; jobs?: 'interrupt' | 'wait' }) => {
  if (m.type !== 'close') return;
  for (const c of running.values()) c.abort();
  // The engine's close mode applies to the jobs this engine runs (it claims them as any engine on the file).
  void engine.close({ jobs: m.jobs ?? 'interrupt' }).finally(() => {
    post({ type: 'closed' });
    port.close();
    events.close();
  });
});

post({ type: 'ready' });
