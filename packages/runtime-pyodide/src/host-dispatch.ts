import { ErrorCode, InsituError, runAsync, runSync, step, type HostApi, type MaybeSync, type ObjectFormat, type Steps, type StoredObject, type SqlParam, type Synchronous } from '@insitu/core';
import type { MessagePort } from 'node:worker_threads';
import type { HostReply, HostRequest } from './host-channel.js';
import type { ChannelOffer } from './protocol.js';

/** Object facts as they travel with a dsSave / dsLoad request. */
interface WireObjectMeta {
  name: string;
  class: string;
  format: ObjectFormat;
  length: number | null;
  rows: number | null;
  columns: number | null;
  size?: number;
}

function reply(ok: HostReply, port: MessagePort, flag: Int32Array): void {
  try {
    port.postMessage(ok);
  } finally {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  }
}

/** The engine services a UDF may ask for, by name (what the channel and the sandbox pass on). */
export const HOST_OPS: ReadonlySet<string> = new Set(['dsSave', 'dsLoad', 'dsList', 'dsDescribe', 'dsDelete', 'dsVisibleScript', 'sqlQuery', 'sqlExecute', 'sqlEnd']);

/** Why `insitu.connect()` has nothing to talk to: the engine gives its UDFs no SQL session. */
export function noSqlSession(): InsituError {
  return new InsituError(
    ErrorCode.BAD_INPUT,
    'insitu.connect() needs the engine to use a database file or PostgreSQL; this engine runs on :memory:, whose data only the engine itself can see',
  );
}

/** The engine's context-session service, or the error saying why this engine has none. */
function contextOf<F>(fn: F | undefined): F {
  if (fn === undefined) throw noSqlSession();
  return fn;
}

/** Statement parameters as a request carries them (JSON values from Python). */
function sqlParams(v: unknown): SqlParam[] {
  if (!Array.isArray(v)) throw new InsituError(ErrorCode.BAD_INPUT, 'malformed SQL request: the parameters must be a list');
  return v as SqlParam[];
}

/**
 * One request from a UDF against the engine services of its call, as steps (see core's steps.ts): the
 * engine answers it asynchronously, a worker with its own connection synchronously.
 */
function* handle(api: MaybeSync<HostApi>, op: string, args: Record<string, unknown>, blobs: readonly Uint8Array[]): Steps<HostReply> {
  const opts = (args['opts'] ?? {}) as Record<string, unknown>;
  const name = args['name'] as string;
  const clean = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
  switch (op) {
    case 'dsSave': {
      const metas = args['objects'] as WireObjectMeta[];
      if (!Array.isArray(metas) || metas.length !== blobs.length) throw new InsituError(ErrorCode.BAD_INPUT, 'malformed datastore save request');
      const objects: StoredObject[] = metas.map((m, i) => ({ ...m, size: blobs[i]!.byteLength, data: blobs[i]! }));
      yield* step(api.dsSave(name, objects, clean(opts)));
      return { ok: true, json: null, blobs: [] };
    }
    case 'dsLoad': {
      const objects = yield* step(api.dsLoad(name, clean(opts)));
      // Who saved the objects: the loader's Python unpickles another owner's pickles restrictively.
      const owner = typeof opts['owner'] === 'string' ? opts['owner'] : api.user;
      const metas = objects.map(({ data: _data, ...meta }) => ({ ...meta, owner, own: owner === api.user }));
      return { ok: true, json: JSON.stringify(metas), blobs: objects.map((o) => o.data) };
    }
    case 'dsList': {
      const rows = yield* step(api.dsList(clean(opts)));
      const out = rows.map((d) => ({
        name: d.name,
        owner: d.owner,
        object_count: d.objectCount,
        size: d.size,
        created: d.created.toISOString(),
        description: d.description,
        grantable: d.grantable,
        ...(d.grantee === undefined ? {} : { grantee: d.grantee }),
      }));
      return { ok: true, json: JSON.stringify(out), blobs: [] };
    }
    case 'dsDescribe':
      return { ok: true, json: JSON.stringify(yield* step(api.dsDescribe(name, clean(opts)))), blobs: [] };
    case 'dsVisibleScript':
      return { ok: true, json: JSON.stringify(yield* step(api.dsVisibleScript(args['hash'] as string))), blobs: [] };
    case 'dsDelete':
      return { ok: true, json: JSON.stringify(yield* step(api.dsDelete(name, clean(opts)))), blobs: [] };
    case 'sqlQuery': {
      const ipc = yield* step(contextOf(api.sqlQuery)(args['sql'] as string, sqlParams(args['params'])));
      return { ok: true, json: null, blobs: [ipc] };
    }
    case 'sqlExecute':
      return { ok: true, json: JSON.stringify(yield* step(contextOf(api.sqlExecute)(args['sql'] as string, sqlParams(args['params'])))), blobs: [] };
    case 'sqlEnd':
      // Without a session there is no transaction to end.
      if (api.sqlEnd !== undefined) yield* step(api.sqlEnd(args['commit'] === true));
      return { ok: true, json: null, blobs: [] };
    default:
      throw new InsituError(ErrorCode.BAD_INPUT, `unknown engine service ${op}`);
  }
}

/**
 * Answer a UDF's request in the worker itself, on services that answer synchronously (the worker's own
 * connection). Throws what the services throw.
 */
export function answerHostRequest(api: Synchronous<HostApi>, op: string, argsJson: string, blobs: readonly Uint8Array[]): HostReply {
  return runSync(handle(api, op, JSON.parse(argsJson) as Record<string, unknown>, blobs));
}

/** Whether a message a worker posted to the pool is its {@link ChannelOffer}. */
export function isChannelOffer(m: unknown): m is ChannelOffer {
  return typeof m === 'object' && m !== null && 'insituChannel' in m;
}

/**
 * Serve requests from one worker's channel. `lookup` finds the engine services of the call a request
 * belongs to; requests of finished or unknown calls are refused.
 */
export function serveHostChannel(port: MessagePort, lookup: (callId: number) => HostApi | undefined): void {
  port.on('message', (req: HostRequest) => {
    const api = lookup(req.callId);
    const work =
      api === undefined
        ? Promise.reject(new InsituError(ErrorCode.RUNTIME_ERROR, 'engine services were asked for by a call that is not running'))
        : (async () => runAsync(handle(api, req.op, JSON.parse(req.argsJson) as Record<string, unknown>, req.blobs)))();
    work.then(
      (ok) => reply(ok, port, req.flag),
      (e: unknown) => {
        const error =
          e instanceof InsituError ? e.toJSON() : { code: ErrorCode.RUNTIME_ERROR, message: e instanceof Error ? e.message : String(e) };
        reply({ ok: false, error }, port, req.flag);
      },
    );
  });
  port.unref();
}
