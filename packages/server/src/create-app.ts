import { badInput, type Engine } from '@insitu/core';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { registerAuthRoutes } from './auth-routes.js';
import { registerJobRoutes } from './job-routes.js';
import { registerPyScriptRoutes } from './py-script-routes.js';
import { errorAnswer, RestCode, RestError } from './rest-errors.js';
import { resolveServerOptions, type ServerOptions } from './server-options.js';
import { signingKey, TokenService } from './token-service.js';

/** Fastify's own request errors as REST errors. */
function requestError(e: FastifyError, bodyLimit: number): RestError | null {
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new RestError(413, RestCode.BODY_TOO_LARGE, `the request body is larger than this server accepts (bodyLimit = ${bodyLimit} bytes)`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new RestError(415, RestCode.UNSUPPORTED_MEDIA_TYPE, 'send the request body as application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new RestError(400, 'BAD_INPUT', `the request body is not valid JSON: ${e.message}`);
    default:
      break;
  }
  if (e.validation !== undefined) return new RestError(400, 'BAD_INPUT', `invalid request: ${e.message}`);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new RestError(e.statusCode, 'BAD_INPUT', e.message);
  return null;
}

/**
 * The REST server's Fastify application over `engine`, not listening: use `app.inject()` to call it
 * in-process, or {@link createServer} for a listening server. The engine must take sessions of
 * registered users only (`createEngine({ users: 'registered' })`): every request runs as the user its
 * token names.
 */
export async function createApp(engine: Engine, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const o = resolveServerOptions(opts);
  if (engine.userMode !== 'registered') {
    throw badInput("the REST server needs an engine that takes registered users only: createEngine({ users: 'registered' })");
  }
  const tokens = new TokenService(engine.storage, await signingKey(engine.storage, o.secret), { ttlS: o.tokenTtlS, refreshMaxS: o.refreshMaxS });
  // Node checks unfinished requests every connectionsCheckingInterval (30 s by default): a quarter
  // of the limit keeps the cut-off within 1.25 times it. Headers get no longer than the whole request.
  const requestTimeoutMs = o.requestTimeoutS * 1000;
  const app = Fastify({
    bodyLimit: o.bodyLimit,
    requestTimeout: requestTimeoutMs,
    // Script and user names are up to 128 characters; a user name's may take 12 bytes each in the path
    // (4 UTF-8 bytes, percent-encoded). Past Fastify's default of 100 such names were unreachable (414).
    routerOptions: { maxParamLength: 2048 },
    http: { headersTimeout: Math.min(60_000, requestTimeoutMs), connectionsCheckingInterval: Math.min(30_000, Math.max(250, requestTimeoutMs / 4)) },
    logger: false,
    // Bodies are checked as sent: no type coercion, no silently dropped fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
    return503OnClosing: true,
  });
  // Node's timeouts start at a request's first byte: a connection that sends nothing, or stops inside
  // its headers, would stay open for ever (and hold server.close()). Until its first request arrives, a
  // connection idle for requestTimeoutS is closed (Node destroys a socket that times out with no request
  // to tell); from then on Node's own timeouts apply, and a call may run as long as its `timeout`.
  app.server.on('connection', (socket: Socket) => socket.setTimeout(requestTimeoutMs));
  app.server.on('request', (req: IncomingMessage) => req.socket.setTimeout(0));
  // A POST without a body is an empty one (do-eval needs no fields).
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined || req.body === null) req.body = {};
  });
  app.setErrorHandler((e: FastifyError, _req, reply) => {
    const mapped = e instanceof RestError ? e : (requestError(e, o.bodyLimit) ?? e);
    const { status, body } = errorAnswer(mapped);
    if (status === 401) reply.header('WWW-Authenticate', 'Bearer');
    return reply.status(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ errorMessage: `no such endpoint: ${req.method} ${req.url.split('?')[0]}`, code: RestCode.NOT_FOUND }),
  );
  registerAuthRoutes(app, engine, tokens);
  const ctx = { engine, tokens, outputLimit: o.outputLimit, syncTimeoutS: o.syncTimeoutS };
  registerPyScriptRoutes(app, '/oml/api', ctx);
  registerPyScriptRoutes(app, '/oml/tenants/:tenant/databases/:db/api', ctx);
  registerJobRoutes(app, '/oml/api', ctx);
  registerJobRoutes(app, '/oml/tenants/:tenant/databases/:db/api', ctx);
  await app.ready();
  return app;
}
