/**
 * piscina worker entry: boots one Pyodide interpreter and exports a promise of the task handler, so
 * the thread counts as ready only when Python works. The logic lives in python-host.ts.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { bootPyodide } from './pyodide-boot.js';
import { hardenInterpreter, shimProcessBinding } from './sandbox-hardening.js';
import { routeConsole, type RuntimeLogMessage } from './runtime-log.js';
import type { ChannelOffer, GroupResult, StackedRows, WireImage, WireValue, WorkerConfig, WorkerRequest, WorkerResponse } from './protocol.js';

function valueBuffers(v: WireValue | StackedRows): ArrayBufferLike[] {
  if (v.kind === 'table') return [v.ipc.buffer];
  if (v.kind === 'bytes') return [v.value.buffer];
  return [];
}

function imageBuffers(images: readonly WireImage[] | undefined): ArrayBufferLike[] {
  return (images ?? []).map((im) => im.png.buffer);
}

function buffersOf(res: WorkerResponse): ArrayBufferLike[] {
  if ('groups' in res) {
    return [
      ...res.stacked.map((b) => b.buffer),
      ...res.groups.flatMap((g: GroupResult) => (g.ok ? [...valueBuffers(g.value), ...imageBuffers(g.images)] : [])),
    ];
  }
  return res.ok && 'value' in res ? [...valueBuffers(res.value), ...imageBuffers(res.images)] : [];
}

export default (async () => {
  const config = workerData as WorkerConfig;
  // Pyodide reports to the console (a fatal error, for one): the pool hands it to the engine's log sink.
  routeConsole((level, message) => {
    const log: RuntimeLogMessage = { insituLog: { level, source: 'worker', threadId, message } };
    parentPort?.postMessage(log);
  });
  if (config.sandboxed === true) shimProcessBinding();
  // The heavier modules (Arrow, the engine core, the database context) load while Pyodide waits on its
  // wasm compile and file reads; PythonHost.create then finds the context module already loaded.
  const [py, { PythonHost, setThreadId }, { moving }] = await Promise.all([
    bootPyodide(config),
    import('./python-host.js'),
    import('./transfer.js'),
    config.context === null ? null : import(config.context.module),
  ]);
  if (config.sandboxed === true) hardenInterpreter(py);
  setThreadId(threadId);
  const host = await PythonHost.create(py, config);
  if (config.sandboxed === true) await (await import('./frozen-realm.js')).freezeRealm();
  // Last before the handler is returned (and piscina counts the thread as ready): see PyodideRuntime#terminate.
  const port = host.channel.open();
  const offer: ChannelOffer = { insituChannel: port, threadId };
  parentPort?.postMessage(offer, [port]);
  const answer = (req: WorkerRequest): WorkerResponse => {
    // After a fatal error the reply says so and the pool terminates this thread (see PyodideRuntime).
    const res = req.type === 'run' ? host.run(req) : host.inspect(req);
    return moving(res, buffersOf(res));
  };
  return (req: WorkerRequest): WorkerResponse | Promise<WorkerResponse> => {
    // A task of a package set this interpreter has not loaded yet: load it first (once per worker).
    if (req.type === 'run' && req.env !== undefined && !host.hasLoaded(req.env.key)) {
      return host.loadPackages(req).then((refused) => refused ?? answer(req));
    }
    return answer(req);
  };
})();
