import type { Engine } from '@insitu/core';
import type { FastifyInstance } from 'fastify';
import { createApp } from './create-app.js';
import { resolveServerOptions, type ServerOptions } from './server-options.js';

/** A listening REST server. */
export interface RestServer {
  /** Where it listens, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** The Fastify application (for `inject()` and hooks). */
  readonly app: FastifyInstance;
  /** Stop listening and wait for requests in progress. The engine stays open (it is the caller's). Idempotent. */
  close(): Promise<void>;
}

/**
 * Serve OML4Py's REST API for embedded Python (py-scripts/v1, with OAuth2-style bearer tokens) over
 * `engine`, which must take registered users only. Listens on `host:port` (default 127.0.0.1 and a free
 * port).
 *
 * ```ts
 * const engine = await createEngine({ database: 'app.db', users: 'registered' });
 * await engine.users.create('alice', { password: 'correct horse battery' });
 * const server = await createServer(engine, { port: 8080 });
 * ```
 */
export async function createServer(engine: Engine, opts: ServerOptions = {}): Promise<RestServer> {
  const o = resolveServerOptions(opts);
  const app = await createApp(engine, opts);
  await app.listen({ port: o.port, host: o.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    app,
    close: () => (closing ??= app.close()),
  };
}
