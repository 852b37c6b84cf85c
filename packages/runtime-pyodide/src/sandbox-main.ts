/**
 * Entry of the sandbox process: it hosts the worker pool, runs tasks the engine process sends, and
 * forwards the UDFs' engine requests (`insitu.ds`) back to it. Started by SandboxRuntime with the Node
 * permission model, code generation from strings disallowed, and none of the engine process's environment.
 */
import { deserializeError, ErrorCode, InsituError, type HostApi, type PackageSet, type Task, type TaskInput, type TaskOutcome } from '@insitu/core';
import { tableToIPC } from 'apache-arrow';
import { PyodideRuntime } from './pyodide-runtime.js';
import { dataInput, groupDataInput } from './task-wire.js';
import { routeConsole, type RuntimeLogEntry } from './runtime-log.js';
import type { FromSandbox, SandboxConfig, SandboxOutcome, SandboxTask, ToSandbox } from './sandbox-protocol.js';

const send = (m: FromSandbox) => process.send?.(m);
/** Console output of the workers and of this process goes to the engine's log sink (stderr once disconnected). */
const log = (entry: RuntimeLogEntry) => {
  if (process.connected) send({ type: 'log', entry });
  else process.stderr.write(`${entry.message}\n`);
};
routeConsole((level, message) => log({ level, source: 'sandbox', message }));

const config = JSON.parse(process.argv[2] ?? '{}') as SandboxConfig;
const runtime = new PyodideRuntime({
  onLog: log,
  workers: config.workers,
  snapshot: config.snapshot,
  sandboxed: true,
  onStuckWorker: () => send({ type: 'stuck' }),
  ...(config.interruptGraceMs === undefined ? {} : { interruptGraceMs: config.interruptGraceMs }),
  maxMemoryMb: config.maxMemoryMb,
  recycleHeapMb: config.recycleHeapMb,
  ...config.limits,
  files: config.files,
  ...(config.context === undefined ? {} : { context: config.context }),
});
const calls = new Map<number, AbortController>();
/** Package sets the engine sent, by key (see SandboxRuntime: each is sent once, before its first task). */
const envs = new Map<string, PackageSet>();
/**
 * One copy of each archive (by SHA-256) however many sets name it: every set arrives with copies of
 * all its archives, and a user can name new combinations call after call.
 */
const archives = new Map<string, Uint8Array>();
const asked = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
let nextRid = 1;

const errorOf = (e: unknown) =>
  e instanceof InsituError ? e.toJSON() : { code: ErrorCode.RUNTIME_ERROR, message: e instanceof Error ? e.message : String(e) };

function hostFor(id: number, user: string): HostApi {
  const ask =
    (op: string) =>
    (...args: unknown[]): Promise<never> =>
      new Promise((resolve, reject) => {
        const rid = nextRid++;
        asked.set(rid, { resolve: resolve as (v: unknown) => void, reject });
        send({ type: 'host', rid, id, op, args });
      });
  return {
    user,
    dsSave: ask('dsSave'),
    dsLoad: ask('dsLoad'),
    dsList: ask('dsList'),
    dsDescribe: ask('dsDescribe'),
    dsDelete: ask('dsDelete'),
    dsVisibleScript: ask('dsVisibleScript'),
    // `insitu.connect()` on an engine that answers the SQL (PostgreSQL): this process has no network,
    // so the statements go to the engine process like `insitu.ds` requests (see engine-context.ts).
    sqlQuery: ask('sqlQuery'),
    sqlExecute: ask('sqlExecute'),
    sqlEnd: ask('sqlEnd'),
  };
}

function taskOf(id: number, t: SandboxTask): Task {
  const i = t.input;
  let input: TaskInput;
  if (i.kind === 'data') input = dataInput(i.ipc, i.inputType);
  else if (i.kind === 'query') {
    input = { kind: 'query', query: { sql: i.sql, params: i.params, ...(i.byColumn === undefined ? {} : { byColumn: i.byColumn }) }, inputType: i.inputType };
  }
  else if (i.kind === 'groups') input = { kind: 'groups', query: { sql: i.sql, params: i.params }, by: i.by, ordered: i.ordered, inputType: i.inputType };
  else if (i.kind === 'groupData') input = groupDataInput(i.ipc, i.by, i.inputType);
  else input = i;
  const env = t.env === undefined ? undefined : envs.get(t.env);
  if (t.env !== undefined && env === undefined) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'a task named a package set the sandbox was not sent');
  return {
    source: t.source,
    name: t.name,
    ...(t.func === undefined ? {} : { func: t.func }),
    input,
    args: t.args as Task['args'],
    ...(t.positional === undefined ? {} : { positional: t.positional as Task['positional'] & object }),
    ...(t.context === undefined ? {} : { context: t.context }),
    ...(t.orderWithin === undefined ? {} : { orderWithin: t.orderWithin }),
    user: t.user,
    ...(t.host ? { host: hostFor(id, t.user) } : {}),
    ...(env === undefined ? {} : { env }),
    ...(t.graphics === true ? { graphics: true } : {}),
  };
}

function outcomeOf(o: TaskOutcome): SandboxOutcome {
  const v = o.value;
  const value = v.kind === 'table' ? { kind: 'table' as const, ipc: v.ipc ?? tableToIPC(v.table, 'stream') } : v;
  return { value, stdout: o.stdout, stderr: o.stderr, images: o.images.map((im) => ({ title: im.title, png: im.png })) };
}

async function handle(m: ToSandbox): Promise<void> {
  switch (m.type) {
    case 'run': {
      // A call that cannot be aborted runs without a signal: the pool's cheaper path.
      const ac = m.abortable ? new AbortController() : undefined;
      if (ac !== undefined) calls.set(m.id, ac);
      const opts = ac === undefined ? {} : { signal: ac.signal };
      try {
        const task = taskOf(m.id, m.task);
        if (m.groups) {
          // Forwarded as the worker sent it: the engine process decodes the groups.
          send({ type: 'result', id: m.id, ok: true, groups: await runtime.runGroupsWire(task, opts) });
        } else {
          send({ type: 'result', id: m.id, ok: true, outcome: outcomeOf(await runtime.run(task, opts)) });
        }
      } catch (e) {
        send({ type: 'result', id: m.id, ok: false, error: errorOf(e) });
      } finally {
        calls.delete(m.id);
      }
      return;
    }
    case 'inspect':
      try {
        send({ type: 'result', id: m.id, ok: true, inspection: await runtime.inspect(m.source, m.name, m.user) });
      } catch (e) {
        send({ type: 'result', id: m.id, ok: false, error: errorOf(e) });
      }
      return;
    case 'abort':
      calls.get(m.id)?.abort(deserializeError(m.reason));
      return;
    case 'env': {
      const packages = m.set.packages.map((p) => {
        const bytes = archives.get(p.sha256) ?? p.bytes;
        archives.set(p.sha256, bytes);
        return { ...p, bytes };
      });
      envs.set(m.set.key, { key: m.set.key, packages });
      return;
    }
    case 'env-forget': {
      envs.delete(m.key);
      // An archive no package set kept here still names is dropped with the last set that did.
      const named = new Set([...envs.values()].flatMap((e) => e.packages.map((p) => p.sha256)));
      for (const sha of archives.keys()) if (!named.has(sha)) archives.delete(sha);
      return;
    }
    case 'host-reply': {
      const waiter = asked.get(m.rid);
      asked.delete(m.rid);
      if (m.ok) waiter?.resolve(m.value);
      else waiter?.reject(deserializeError(m.error!));
      return;
    }
    case 'close':
      await runtime.close();
      send({ type: 'closed' });
      process.disconnect?.();
      return;
  }
}

process.on('message', (m: ToSandbox) => void handle(m));
process.on('disconnect', () => void runtime.close().then(() => process.exit(0)));
send({ type: 'ready' });
