import { ErrorCode, InsituError, type HostApi, type ObjectFormat, type StoredObject } from '@insitu/core';
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

/** Run one request from a UDF against the engine services of its call. */
async function handle(api: HostApi, op: string, args: Record<string, unknown>, blobs: readonly Uint8Array[]): Promise<HostReply> {
  const opts = (args['opts'] ?? {}) as Record<string, unknown>;
  const name = args['name'] as string;
  const clean = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
  switch (op) {
    case 'dsSave': {
      const metas = args['objects'] as WireObjectMeta[];
      if (!Array.isArray(metas) || metas.length !== blobs.length) throw new InsituError(ErrorCode.BAD_INPUT, 'malformed datastore save request');
      const objects: StoredObject[] = metas.map((m, i) => ({ ...m, size: blobs[i]!.byteLength, data: blobs[i]! }));
      await api.dsSave(name, objects, clean(opts));
      return { ok: true, json: null, blobs: [] };
    }
    case 'dsLoad': {
      const objects = await api.dsLoad(name, clean(opts));
      // Who saved the objects: the loader's Python unpickles another owner's pickles restrictively.
      const owner = typeof opts['owner'] === 'string' ? opts['owner'] : api.user;
      const metas = objects.map(({ data: _data, ...meta }) => ({ ...meta, owner, own: owner === api.user }));
      return { ok: true, json: JSON.stringify(metas), blobs: objects.map((o) => o.data) };
    }
    case 'dsList': {
      const rows = await api.dsList(clean(opts));
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
      return { ok: true, json: JSON.stringify(await api.dsDescribe(name, clean(opts))), blobs: [] };
    case 'dsVisibleScript':
      return { ok: true, json: JSON.stringify(await api.dsVisibleScript(args['hash'] as string)), blobs: [] };
    case 'dsDelete':
      return { ok: true, json: JSON.stringify(await api.dsDelete(name, clean(opts))), blobs: [] };
    default:
      throw new InsituError(ErrorCode.BAD_INPUT, `unknown engine service ${op}`);
  }
}

/**
 * Serve requests from one worker's channel. `lookup` finds the engine services of the call a request
 * belongs to; requests of finished or unknown calls are refused.
 */
/** Whether a message a worker posted to the pool is its {@link ChannelOffer}. */
export function isChannelOffer(m: unknown): m is ChannelOffer {
  return typeof m === 'object' && m !== null && 'insituChannel' in m;
}

export function serveHostChannel(port: MessagePort, lookup: (callId: number) => HostApi | undefined): void {
  port.on('message', (req: HostRequest) => {
    const api = lookup(req.callId);
    const work =
      api === undefined
        ? Promise.reject(new InsituError(ErrorCode.RUNTIME_ERROR, 'engine services were asked for by a call that is not running'))
        : (async () => handle(api, req.op, JSON.parse(req.argsJson) as Record<string, unknown>, req.blobs))();
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
