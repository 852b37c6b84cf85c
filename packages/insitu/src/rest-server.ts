/**
 * The REST server, loaded on first use: Fastify and its schema compiler take ~0.3 s to import, which
 * an engine that serves no HTTP should not pay.
 */
import type { Engine } from '@insitu/core';
import type { RestServer, ServerOptions } from '@insitu/server';

type ServerModule = typeof import('@insitu/server');

/**
 * Serve OML4Py's REST API (py-scripts/v1, with bearer tokens) over `engine`, which must take
 * registered users only. See `@insitu/server`'s `createServer`.
 */
export async function createServer(engine: Engine, opts?: ServerOptions): Promise<RestServer> {
  const server: ServerModule = await import('@insitu/server');
  return server.createServer(engine, opts);
}

/** The REST server's Fastify application, not listening (for `app.inject()`). See `@insitu/server`'s `createApp`. */
export async function createApp(engine: Engine, opts?: ServerOptions): Promise<Awaited<ReturnType<ServerModule['createApp']>>> {
  const server: ServerModule = await import('@insitu/server');
  return server.createApp(engine, opts);
}
